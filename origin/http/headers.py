"""A request's headers as the pipelines read them: by any case, each name found in one lookup.

Starlette's ``Headers`` scans the raw list on every lookup; a chat request looks up a dozen names,
most of them absent.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload

from starlette.requests import Request

T = TypeVar("T")


class RequestHeaders(Mapping[str, str]):
    """Read-only and case-insensitive; a repeated header reads as its first value, as with Starlette's
    ``Headers.get``."""

    __slots__ = ("_values",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        values: dict[str, str] = {}
        for name, value in raw:
            values.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._values = values

    @classmethod
    def of(cls, request: Request) -> "RequestHeaders":
        return cls(request.scope["headers"])

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str | T) -> str | T: ...

    def get(self, name: str, default: str | T | None = None) -> str | T | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
