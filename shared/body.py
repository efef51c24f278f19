"""The one reader of a JSON request body: content type, syntax, and the values no tier can carry.

Python's ``json`` accepts what later breaks a request: ``NaN``/``Infinity``, numbers that overflow to
infinity (``1e999``), unpaired UTF-16 surrogates (``"\\ud800"``, which cannot be encoded to UTF-8),
and nesting deep enough to exhaust recursion in whoever walks the value next — in Pyodide, ``json``
itself overflows the WebAssembly stack and kills the Worker, so depth is measured on the raw bytes
before parsing. Each is a 400 here, at whichever tier reads the body first.
"""

import json
import math
import re
from typing import Any, Final, NoReturn

from shared.errors import InvalidBody

MAX_DEPTH: Final = 64
CODE: Final = "invalid_json"
UNPARSABLE: Final = (
    "We could not parse the JSON body of your request. See https://platform.openai.com/docs/api-reference"
)


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json``, any ``+json`` type, or none at all (as OpenAI accepts)."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# A JSON string (escapes included) or one bracket: brackets inside strings do not nest anything.
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENERS: Final = frozenset(b"[{")


def nesting_depth(raw: bytes) -> int:
    """How deep the brackets of ``raw`` nest, without parsing it."""
    depth = deepest = 0
    for match in _TOKEN.finditer(raw):
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif first != 0x22:  # a closing bracket, not a string
            depth -= 1
    return deepest


def _reject_constant(name: str) -> NoReturn:
    raise InvalidBody(f"The JSON body holds {name}, which is not valid JSON.", CODE)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidBody(f"The JSON body holds the number {text[:32]}, which is out of range.", CODE)
    return value


# Where a lone surrogate can come from: an escape of one, or UTF-8 bytes of one (lead byte 0xED)
# read with ``surrogatepass``. A body with neither cannot hold one, and its strings go unwalked.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_hold_surrogates(raw: bytes, encoding: str) -> bool:
    return encoding != "utf-8" or b"\xed" in raw or _SURROGATE_ESCAPE.search(raw) is not None


def _check_strings(value: Any) -> None:
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                _check_text(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBody(
            "The JSON body holds an unpaired UTF-16 surrogate escape (such as \\ud800) in a string.", CODE
        ) from None


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite)


def parse_json_body(raw: bytes) -> Any:
    """The parsed body, or ``InvalidBody`` (code ``invalid_json``) saying what is wrong with it."""
    if not raw.strip():
        raise InvalidBody("The request body is empty: send a JSON object.", CODE)
    # Fewer brackets than the limit cannot nest past it, and counting them costs a tenth of the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        raise InvalidBody(f"The JSON body is nested more than {MAX_DEPTH} levels deep.", CODE)
    try:
        # What ``json.loads`` does with bytes, minus building a decoder for every body.
        encoding = json.detect_encoding(raw)
        value = _DECODER.decode(raw.decode(encoding, "surrogatepass"))
    except InvalidBody:
        raise
    except (ValueError, RecursionError):
        raise InvalidBody(UNPARSABLE, CODE) from None
    if _may_hold_surrogates(raw, encoding):
        _check_strings(value)
    return value
