"""Commands run pinned only where two cores and taskset are there."""

import pytest

from bench import pinning


def test_pinned_prefixes_taskset_on_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert pinning.pinned(["wrk", "url"], pinning.LOAD_CORE) == ["taskset", "-c", "1", "wrk", "url"]


@pytest.mark.parametrize(("cores", "taskset"), [({0}, "/usr/bin/taskset"), ({0, 1}, None)])
def test_pinned_leaves_the_command_alone_otherwise(
    monkeypatch: pytest.MonkeyPatch, cores: set[int], taskset: str | None
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: cores)
    monkeypatch.setattr("shutil.which", lambda name: taskset)
    assert pinning.pinned(["wrk", "url"], pinning.SERVER_CORE) == ["wrk", "url"]
    assert pinning.describe().startswith("not pinned")
