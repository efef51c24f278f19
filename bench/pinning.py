"""Issue 11's pinning: the system under test alone on core 0, the load generator and the fake on core 1.

Only where it can be done: two cores or more, both allowed to this process, and ``taskset`` installed;
elsewhere every command runs as given.
"""

import os
import shutil
from typing import Final

SERVER_CORE: Final = 0
LOAD_CORE: Final = 1


def available() -> bool:
    return {SERVER_CORE, LOAD_CORE} <= os.sched_getaffinity(0) and shutil.which("taskset") is not None


def pinned(command: list[str], core: int) -> list[str]:
    """``command`` run on ``core`` only (``taskset`` execs it, so the pid stays the command's)."""
    if not available():
        return command
    return ["taskset", "-c", str(core), *command]


def describe() -> str:
    if not available():
        return "not pinned (needs 2 cores and taskset)"
    return f"pinned: the server under test on core {SERVER_CORE}, the generator and the fake on {LOAD_CORE}"
