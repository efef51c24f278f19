"""How every server is measured at one connection count: one warm-up run, thrown away, then ``repeats``
measured runs back to back, with the CPU the server used during them.

The same for the fake alone, Prism, the passthrough and the peers, so their medians compare.
"""

from dataclasses import dataclass

from bench import cpu
from bench.load import Load, Request
from bench.result import LoadResult, Runs
from bench.stack import Stack


@dataclass(frozen=True, slots=True)
class Plan:
    warmup: float
    duration: float
    repeats: int = 1


@dataclass(frozen=True, slots=True)
class Measured:
    connections: int
    runs: Runs
    warmup: LoadResult | None
    server_cpu_seconds: float
    # Cores used meanwhile by processes outside the bench.
    others_cores: float

    @property
    def answered(self) -> int:
        """Every answer the generator read, the warm-up's included: the server did that work too."""
        return self.runs.requests + (self.warmup.requests if self.warmup else 0)

    @property
    def unanswered_at_most(self) -> int:
        """Requests the server may have handled without the generator counting an answer: one per
        connection cut off when a run ended, and those lost to socket errors."""
        every = [*self.runs.results, *([self.warmup] if self.warmup else [])]
        return sum(self.connections + run.socket_errors for run in every)


def measure(
    load: Load, stack: Stack, request: Request, connections: int, plan: Plan, server_pid: int
) -> Measured:
    with stack.fake_kept_small():
        warmup = None
        if plan.warmup > 0:
            warmup = load.run(request, connections=connections, seconds=plan.warmup)
        pids = {server_pid, stack.prism_pid, stack.fake_pid}
        before, server_before = cpu.Snapshot.take(pids), cpu.process_seconds(server_pid)
        results = tuple(
            load.run(request, connections=connections, seconds=plan.duration) for _ in range(plan.repeats)
        )
        server_cpu = cpu.process_seconds(server_pid) - server_before
        others = cpu.others_cores(before, cpu.Snapshot.take(pids))
    return Measured(connections, Runs(results), warmup, server_cpu, others)
