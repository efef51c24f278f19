"""Extract the chat-completions schemas from OpenAI's OpenAPI spec into ``openai_chat.schema.json``.

Run by hand, never in CI, against a clone of https://github.com/openai/openai-openapi:

    python -m tests.contract.extract /path/to/openai-openapi [--ref main] [--file openapi.json]

The output holds the four root schemas and everything they ``$ref``, transitively, as JSON Schema
2020-12 ``$defs``: OpenAPI's ``nullable: true`` becomes an explicit ``null`` alternative, and the
annotations a validator ignores (descriptions, examples, ``x-*`` extensions) are dropped.
"""

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any, Final

ROOTS: Final = (
    "CreateChatCompletionRequest",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "ErrorResponse",
)
SOURCE_REPOSITORY: Final = "openai/openai-openapi"
OPENAPI_PREFIX: Final = "#/components/schemas/"
DEFS_PREFIX: Final = "#/$defs/"
OUTPUT: Final = Path(__file__).with_name("openai_chat.schema.json")

ANNOTATIONS: Final = frozenset(
    {"description", "title", "example", "examples", "default", "deprecated", "discriminator", "$comment"}
)
SCHEMA_MAPS: Final = ("properties", "patternProperties", "$defs", "dependentSchemas")
SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_VALUES: Final = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
)


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True, text=True).stdout


def convert(schema: Any) -> Any:
    """One OpenAPI schema object as plain JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema  # ``true`` / ``false`` schemas
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-") or key == "nullable":
            continue
        if key == "$ref":
            converted[key] = value.replace(OPENAPI_PREFIX, DEFS_PREFIX)
        elif key in SCHEMA_MAPS:
            converted[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS:
            converted[key] = [convert(sub) for sub in value]
        elif key in SCHEMA_VALUES:
            converted[key] = convert(value)
        else:
            converted[key] = value
    return _nullable(converted) if schema.get("nullable") is True else converted


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and set(schema) <= {"type", "enum"} | _TYPE_KEYWORDS:
        widened = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            widened["enum"] = [*schema["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


# Keywords that only constrain values of the declared type, so ``null`` passes them untouched.
_TYPE_KEYWORDS: Final = frozenset(
    {
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "prefixItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
    }
)


def references(schema: Any) -> set[str]:
    """The component names ``schema`` refers to directly."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(OPENAPI_PREFIX):
                found.add(ref.removeprefix(OPENAPI_PREFIX))
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def closure(components: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """``roots`` and every component they reach through ``$ref``, sorted by name."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(references(components[name]) - seen)
    return sorted(seen)


def extract(spec: dict[str, Any], source: dict[str, str]) -> dict[str, Any]:
    components = spec["components"]["schemas"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-source": {**source, "openapi": spec["openapi"], "api_version": spec["info"]["version"]},
        "$defs": {name: convert(components[name]) for name in closure(components, ROOTS)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("clone", type=Path, help="a git clone (or bare mirror) of openai/openai-openapi")
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--file", default="openapi.json", help="the spec file in that commit")
    arguments = parser.parse_args()
    commit = _git(arguments.clone, "rev-parse", f"{arguments.ref}^{{commit}}").strip()
    spec = json.loads(_git(arguments.clone, "show", f"{commit}:{arguments.file}"))
    source = {"repository": SOURCE_REPOSITORY, "file": arguments.file, "commit": commit}
    OUTPUT.write_text(json.dumps(extract(spec, source), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT} from {SOURCE_REPOSITORY}@{commit[:12]}:{arguments.file}")


if __name__ == "__main__":
    main()
