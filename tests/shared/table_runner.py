"""Runs the shared/ test tables. Pure stdlib, so Pyodide can run the very same file.

A table is a JSON file: ``{"function": "shared.tags.parse_tags", "cases": [case, ...]}``, where a
case has ``args`` (a list), optional ``kwargs``, and either ``expect`` (the return value, JSON) or
``raises`` (the exception class name, with the error's ``code`` when the case gives one).
``outcome`` turns one call into a comparable JSON value. Functions whose inputs or outputs are not
JSON (bytes, dataclasses) are called through the adapters below; such a table names the shared
module it covers in ``"covers"``.
"""

import importlib
import json
from pathlib import Path
from typing import Any

CASE_DIR = Path(__file__).with_name("cases")


def canonical_text(value: Any) -> str:
    """``shared.fingerprint.canonical_bytes`` as text, so a JSON table can hold its output."""
    from shared.fingerprint import canonical_bytes

    return canonical_bytes(value).decode("utf-8")


def request_headers(headers: dict[str, str]) -> dict[str, Any]:
    """``shared.request.parse_request_headers`` over a case-insensitive view of ``headers``."""
    from shared.request import parse_request_headers

    class CaseInsensitive(dict[str, str]):
        def get(self, name: str, default: Any = None) -> Any:
            return super().get(name.lower(), default)

    return parse_request_headers(CaseInsensitive({k.lower(): v for k, v in headers.items()})).as_dict()


def cache_directive(cache_control: str | None, ttl: str | None, default_ttl: int) -> dict[str, Any]:
    from shared import headers as h
    from shared.request import parse_request_headers

    given = {h.CACHE_CONTROL: cache_control, h.CACHE_TTL: ttl}
    parsed = parse_request_headers({name: value for name, value in given.items() if value is not None})
    if parsed.error is not None:
        raise parsed.error
    directive = parsed.cache.directive(default_ttl)
    return {"read": directive.read, "write": directive.write, "ttl_seconds": directive.ttl_seconds}


def json_body(text: str) -> Any:
    from shared.body import parse_json_body

    return parse_json_body(text.encode("utf-8", "surrogatepass"))


def usage_row(wire: str) -> dict[str, Any]:
    """A wire row read and written back: what the origin stores of what the edge sent."""
    from shared.usage import UsageRow

    result: dict[str, Any] = json.loads(UsageRow.from_wire(wire).to_wire())
    return result


def key_grant(text: str) -> dict[str, Any]:
    from shared.edgekv import KeyGrant

    result: dict[str, Any] = json.loads(KeyGrant.from_json(text).to_json())
    return result


def cache_entry(text: str) -> dict[str, Any]:
    from shared.edgekv import EdgeCacheEntry

    result: dict[str, Any] = json.loads(EdgeCacheEntry.from_json(text).to_json())
    return result


def dead_letter(body: str, timestamp: int, secret: str, opened_with: str) -> str:
    """Sealed with ``secret``, opened with ``opened_with``: the envelope text, or the error."""
    from shared.edgekv import open_dead_letter, seal_dead_letter

    return open_dead_letter(seal_dead_letter(body.encode(), timestamp, secret), opened_with).decode()


def replay_sse(completion: dict[str, Any], include_usage: bool) -> str:
    from shared.replay import replay_sse as replay

    return replay(completion, include_usage=include_usage).decode("utf-8")


def told_costs(cost_cents: float, saved_cents: float) -> dict[str, Any]:
    """Every way ``shared.costs.Costs`` tells a client what a request cost."""
    from shared.costs import Costs

    costs = Costs(cost_cents, saved_cents)
    return {"headers": costs.headers(), "extension": costs.extension(), "comment": costs.comment().decode()}


def key_refusal_of(active: bool, expires_at: float | None, now: float) -> dict[str, str] | None:
    """``shared.keys.key_refusal`` as the code and message both tiers answer with."""
    from shared.keys import key_refusal

    refusal = key_refusal(active, expires_at, now)
    return None if refusal is None else {"code": refusal.code, "message": refusal.message}


def replay_sse_with_costs(completion: dict[str, Any], cost_cents: float, saved_cents: float) -> str:
    from shared.costs import Costs
    from shared.replay import replay_sse as replay

    return replay(completion, include_usage=True, costs=Costs(cost_cents, saved_cents)).decode("utf-8")


def signature(body: str, timestamp: int, secret: str) -> str:
    from shared.signing import sign

    return sign(body.encode("utf-8"), timestamp, secret)


def signature_valid(body: str, timestamp: str | None, signature: str | None, secret: str, now: float) -> bool:
    from shared.signing import verify

    return verify(body.encode("utf-8"), timestamp, signature, secret, now=now)


def resolve(dotted: str) -> Any:
    """A module attribute, also through classes (``shared.usage.UsageRow.from_wire``)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ImportError(dotted)


def covered_module(table: dict[str, Any]) -> str:
    """The shared module a table tests."""
    covers: str = table.get("covers") or table["function"].rpartition(".")[0]
    return covers


def outcome(function: Any, case: dict[str, Any]) -> dict[str, Any]:
    try:
        value = function(*case["args"], **case.get("kwargs", {}))
    except Exception as error:
        raised: dict[str, Any] = {"raises": type(error).__name__}
        if "code" in case:
            raised["code"] = getattr(error, "code", None)
        return raised
    return {"expect": json.loads(json.dumps(value))}


def expected(case: dict[str, Any]) -> dict[str, Any]:
    if "raises" in case:
        return {"raises": case["raises"], **({"code": case["code"]} if "code" in case else {})}
    return {"expect": case.get("expect")}


def load_tables(directory: Path = CASE_DIR) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def run_all(directory: Path = CASE_DIR) -> dict[str, list[dict[str, Any]]]:
    """Every table's outcomes, in case order: what CPython and Pyodide must agree on."""
    results: dict[str, list[dict[str, Any]]] = {}
    for name, table in load_tables(directory).items():
        function = resolve(table["function"])
        results[name] = [outcome(function, case) for case in table["cases"]]
    return results


if __name__ == "__main__":
    print(json.dumps(run_all(), sort_keys=True))
