"""Load generators behind one call: ``wrk`` when installed (C, cheap on 2 cores), else ``bench.client``.

Each run is one bounded closed-loop run against one URL on 127.0.0.1; the caller warms up with a
run it throws away.
"""

import copy
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.client import CACHE_HEADER, SEQUENCE_MARK
from bench.pinning import LOAD_CORE, pinned
from bench.result import LoadResult

_WRK_MARK = "BENCH_RESULT "

# request() makes each body unique when the template holds the mark; response() counts cache hits when
# asked (it costs wrk time, so only then); done() runs once, after the run, in the main Lua state.
# wrk's latencies are in microseconds; its status errors count answers with a code above 399.
_WRK_HOOKS = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) cache_hits = 0 end

local sequence = 0
if BODY_TAIL ~= nil then
  request = function()
    sequence = sequence + 1
    return wrk.format(nil, nil, nil, BODY_HEAD .. sequence .. BODY_TAIL)
  end
end

if CACHE_HEADER ~= nil then
  response = function(status, headers, body)
    for name, value in pairs(headers) do
      if string.lower(name) == CACHE_HEADER and string.sub(value, 1, 3) == "hit" then
        cache_hits = cache_hits + 1
      end
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local hits = 0
  for _, thread in ipairs(threads) do hits = hits + thread:get("cache_hits") end
  io.write(RESULT_MARK, string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, '
      .. '"non_2xx": %d, "socket_errors": %d, "cache_hits": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.status, e.connect + e.read + e.write + e.timeout, hits))
end
"""


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    unique: bool = True
    count_cache_hits: bool = False
    # The response header whose value starting with "hit" counts an answer as a cache hit.
    cache_header: str = CACHE_HEADER

    def body_template(self) -> str:
        """The JSON body; when ``unique``, the last message ends in a run nonce and ``SEQUENCE_MARK``."""
        body = copy.deepcopy(dict(self.body))
        if self.unique:
            last = body["messages"][-1]
            last["content"] = f"{last['content']} {secrets.token_hex(4)}-{SEQUENCE_MARK}"
        return json.dumps(body)


class LoadError(Exception):
    """The generator itself failed (not the server under test)."""


class Load(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, request: Request, *, connections: int, seconds: float) -> LoadResult: ...


def _run(command: list[str], seconds: float) -> "subprocess.CompletedProcess[str]":
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired:
        raise LoadError(f"{command[0]} ran 30 s past its {seconds:g} s and was stopped") from None


def lua_string(text: str) -> str:
    """A Lua long-bracket literal: no escaping, whatever quotes the JSON holds."""
    level = ""
    while f"]{level}]" in text + "]":
        level += "="
    return f"[{level}[{text}]{level}]"


class Wrk:
    name = "wrk (1 thread)"

    def __init__(self, executable: str, workdir: Path) -> None:
        self._executable = executable
        self._workdir = workdir

    def script(self, request: Request) -> Path:
        body = request.body_template()
        head, marked, tail = body.partition(SEQUENCE_MARK)
        lines = [
            'wrk.method = "POST"',
            f"wrk.body = {lua_string(body)}",
            'wrk.headers["Content-Type"] = "application/json"',
            f'RESULT_MARK = "{_WRK_MARK}"',
        ]
        lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in request.headers.items()]
        if marked:
            lines += [f"BODY_HEAD = {lua_string(head)}", f"BODY_TAIL = {lua_string(tail)}"]
        if request.count_cache_hits:
            lines.append(f"CACHE_HEADER = {lua_string(request.cache_header.lower())}")
        path = self._workdir / "request.lua"
        path.write_text("\n".join(lines) + "\n" + _WRK_HOOKS)
        return path

    def run(self, request: Request, *, connections: int, seconds: float) -> LoadResult:
        command = [
            self._executable,
            "--threads=1",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=5s",
            f"--script={self.script(request)}",
            request.url,
        ]
        done = _run(pinned(command, LOAD_CORE), seconds)
        for line in done.stdout.splitlines():
            if line.startswith(_WRK_MARK):
                return LoadResult.from_json(line[len(_WRK_MARK) :])
        raise LoadError(f"wrk exited {done.returncode} without a result: {done.stderr.strip()[-500:]}")


class PythonClient:
    name = "python (aiohttp, 1 process)"

    def run(self, request: Request, *, connections: int, seconds: float) -> LoadResult:
        command = [
            sys.executable,
            "-m",
            "bench.client",
            request.url,
            f"--body={request.body_template()}",
            *(f"--header={name}: {value}" for name, value in request.headers.items()),
            f"--cache-header={request.cache_header}",
            f"--connections={connections}",
            f"--duration={seconds}",
        ]
        done = _run(pinned(command, LOAD_CORE), seconds)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise LoadError(f"bench.client exited {done.returncode}: {done.stderr.strip()[-500:]}")
        return LoadResult.from_json(lines[-1])


def choose(preference: str, workdir: Path) -> Load:
    """``wrk`` unless asked for ``python`` or wrk is not installed (then say so on stderr)."""
    if preference == "python":
        return PythonClient()
    executable = shutil.which("wrk")
    if executable is None:
        if preference == "wrk":
            raise LoadError("wrk is not installed (apt-get install wrk)")
        print("bench: wrk not found; falling back to the Python load generator", file=sys.stderr)
        return PythonClient()
    return Wrk(executable, workdir)
