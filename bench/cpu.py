"""CPU accounting from Linux ``/proc``: the origin's own CPU time, and how busy others kept the machine.

On a shared 2-core machine a neighbour's test run halves Prism's throughput; the report shows that
load next to the numbers instead of leaving the reader to guess.
"""

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The stores Prism talks to: their CPU is part of the system under test, not somebody else's load.
SERVICE_NAMES: Final = frozenset({"redis-server", "postgres"})
_TICK: Final = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """User + system CPU time of a running process, 0.0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ", utime and stime are fields 11 and 12 (0-based), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_seconds() -> float:
    """CPU time of Postgres's running processes (its backends and helpers) so far."""
    return sum(process_seconds(pid) for pid in service_pids(frozenset({"postgres"})))


def child_running(parent: int, marker: str) -> int | None:
    """The pid of a child of ``parent`` whose command line contains ``marker``, if there is one."""
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        try:
            pids = children.read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
            except OSError:
                continue
    return None


def service_pids(names: frozenset[str] = SERVICE_NAMES) -> list[int]:
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine_seconds() -> tuple[float, float]:
    """(process, total) CPU seconds of all cores since boot, from the first line of ``/proc/stat``.

    Process time is user + nice + system; interrupts (mostly our own loopback traffic) and steal are not.
    """
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values[0:3]) / _TICK, sum(values) / _TICK


@dataclass(frozen=True, slots=True)
class Snapshot:
    busy: float
    total: float
    ours: float

    @classmethod
    def take(cls, pids: Iterable[int]) -> "Snapshot":
        """``pids``: the bench's long-running processes; this one and its reaped children count too."""
        own = os.times()
        ours = own.user + own.system + own.children_user + own.children_system
        ours += sum(process_seconds(pid) for pid in {*pids, *service_pids()})
        busy, total = _machine_seconds()
        return cls(busy, total, ours)


def others_cores(before: Snapshot, after: Snapshot) -> float:
    """Cores' worth of CPU used by processes outside the bench (0.5 = half a core) between two snapshots."""
    cores = os.cpu_count() or 1
    wall = (after.total - before.total) / cores
    if wall <= 0:
        return 0.0
    return max(0.0, (after.busy - before.busy) - (after.ours - before.ours)) / wall
