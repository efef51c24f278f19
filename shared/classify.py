"""A small rule-based task classifier: recorded on every usage row and usable by routing rules."""

import re
from collections.abc import Sequence
from typing import Any, Final

TASK_TYPES: Final = ("code", "summarize", "extract", "translate", "chat")

_CODE: Final = re.compile(
    r"```|\b(def|class|function|import|return|SELECT|regex|stack ?trace|traceback|compile|debug|refactor|"
    r"python|javascript|typescript|rust|golang|sql|bash|code)\b",
    re.IGNORECASE,
)
_SUMMARIZE: Final = re.compile(r"\b(summari[sz]e|summary|tl;?dr|condense|key points)\b", re.IGNORECASE)
_EXTRACT: Final = re.compile(r"\b(extract|parse|pull out|as json|into json|fields?)\b", re.IGNORECASE)
_TRANSLATE: Final = re.compile(r"\btranslat(e|ion)\b", re.IGNORECASE)


def message_text(message: Any) -> str:
    """The text of a message whose content is a string or a list of parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def classify(messages: Sequence[Any], *, response_format: Any = None) -> str:
    """Classify by the last user message; JSON response formats count as extraction."""
    last_user = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
        None,
    )
    text = message_text(last_user)[:4000]
    if _CODE.search(text):
        return "code"
    if _SUMMARIZE.search(text):
        return "summarize"
    if _TRANSLATE.search(text):
        return "translate"
    if _EXTRACT.search(text) or (isinstance(response_format, dict) and response_format.get("type") != "text"):
        return "extract"
    return "chat"
