"""The shape of a server a test starts with ``with`` and stops when the block ends."""

from types import TracebackType
from typing import Self


class Started:
    """A server started by ``with`` and closed when the block ends."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
