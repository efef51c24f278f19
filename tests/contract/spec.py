"""OpenAI's chat-completions schemas (extracted by ``extract.py``) and what the tests derive from them."""

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

SCHEMA_FILE: Final = Path(__file__).with_name("openai_chat.schema.json")

REQUEST: Final = "CreateChatCompletionRequest"
RESPONSE: Final = "CreateChatCompletionResponse"
CHUNK: Final = "CreateChatCompletionStreamResponse"
ERROR: Final = "ErrorResponse"


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": document()["$defs"]})


def violations(name: str, instance: Any) -> list[str]:
    """Where ``instance`` breaks the schema ``name``, one line per error (none when it conforms)."""
    errors = validator(name).iter_errors(instance)
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors
    )


def assert_conforms(name: str, instance: Any) -> None:
    found = violations(name, instance)
    assert not found, f"{name} violated:\n  " + "\n  ".join(found) + f"\nin {json.dumps(instance)[:2000]}"


_STEP: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the field at ``path`` (as ``error.param`` names it) set to ``value``."""
    steps = _steps(path)
    changed = copy.deepcopy(body)
    parent: Any = changed
    for step in steps[:-1]:
        parent = parent[step]
    parent[steps[-1]] = value
    return changed


# One value of each JSON type, and the edge values of each (empty, negative, fractional, nested).
CANDIDATE_VALUES: Final[tuple[Any, ...]] = (
    None,
    True,
    0,
    -1,
    7,
    1.5,
    "",
    "7",
    [],
    [7],
    ["x"],
    [{}],
    {},
    {"x": 7},
)


def without(body: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``body`` without the field at ``path``."""
    changed = with_value(body, path, None)
    parent: Any = changed
    steps = _steps(path)
    for step in steps[:-1]:
        parent = parent[step]
    del parent[steps[-1]]
    return changed


def rejected_values(valid: dict[str, Any], path: str) -> Iterator[Any]:
    """The candidate values the request schema refuses at ``path`` of the conforming request ``valid``.

    Prism reads ``null`` as "not given", as OpenAI's SDKs mean it: a ``null`` counts as refused only
    where leaving the field out is refused too."""
    for value in CANDIDATE_VALUES:
        if violations(REQUEST, with_value(valid, path, value)) and (
            value is not None or violations(REQUEST, without(valid, path))
        ):
            yield value
