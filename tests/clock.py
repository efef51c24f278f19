"""A hand-driven clock, for the code that takes ``clock: Callable[[], float]``."""


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
