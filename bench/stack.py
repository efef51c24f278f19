"""The system under test: the fake provider and one origin worker on 127.0.0.1, stopped on every exit.

``running_stack`` yields the two URLs a scenario is measured on, both serving ``/v1/chat/completions``:
the fake called directly (the baseline) and Prism in front of it.
"""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.pinning import LOAD_CORE, SERVER_CORE, pinned

HOST = "127.0.0.1"
PROVIDER = "bench-fake"
MODEL = "bench-model"
CHAT_PATH = "/v1/chat/completions"
PROJECT = "bench"
ORG = "bench"
# Explicit, so an edge started next to an origin can be given the same values.
KEY_PEPPER = "bench-key-pepper-0123456789"
INGEST_SECRET = "bench-ingest-secret-0123456789"
_START_SECONDS = 30.0
_STOP_SECONDS = 5.0
_RESET_SECONDS = 0.2

_CONFIG = """\
# Written by bench/stack.py: one OpenAI-kind provider, the fake on {host}:{port}.
[providers.{provider}]
kind = "openai"
base_url = "http://{host}:{port}/v1"

[models."{model}"]
provider = "{provider}"
price = {{ input = 0.15, output = 0.60 }}
"""


class StackError(Exception):
    """Something did not start; the message says what, with the tail of its log."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    authorization: str

    @property
    def base(self) -> str:
        """The server's root URL (the endpoint's path removed)."""
        return self.url.removesuffix(CHAT_PATH)


@dataclass(frozen=True, slots=True)
class Stack:
    direct: Endpoint
    prism: Endpoint
    fake_base: str
    prism_pid: int
    fake_pid: int
    # The origin's environment, for another origin in front of the same fake.
    env: Mapping[str, str]

    def reset_fake(self) -> None:
        """Empty the fake's request log (a test feature, not a provider's cost)."""
        request = urllib.request.Request(f"{self.fake_base}/_fake/reset", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    @contextmanager
    def fake_kept_small(self) -> Iterator[None]:
        """Reset the fake every ``_RESET_SECONDS`` during a run.

        Its request log grows by every request; at 10k req/s the garbage collector's full passes over
        it add tens of ms to the baseline's p99, which would flatter Prism's added latency.
        """
        self.reset_fake()
        stop = threading.Event()

        def keep_resetting() -> None:
            while not stop.wait(_RESET_SECONDS):
                with contextlib.suppress(OSError):
                    self.reset_fake()

        thread = threading.Thread(target=keep_resetting, name="fake-reset", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Service:
    """A child process whose output goes to a log file; ``stop`` is SIGTERM, then SIGKILL.

    It runs in its own session, so a Ctrl-C reaches only the runner, which then stops it in order.
    """

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode}:\n{log_tail(self.log)}")
            try:
                probe = urllib.request.Request(url, headers=dict(headers or {}))
                with urllib.request.urlopen(probe, timeout=1) as response:
                    if 200 <= response.status < 300:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise StackError(
            f"{self.name} did not answer {url} within {_START_SECONDS:.0f}s:\n{log_tail(self.log)}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def prism_command() -> list[str]:
    script = Path(sys.executable).with_name("prism")
    return [str(script)] if script.exists() else [sys.executable, "-m", "origin.cli"]


def create_key(env: Mapping[str, str], project: str = PROJECT, org: str = ORG) -> str:
    command = [*prism_command(), "keys", "create", "--project", project, "--org", org]
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise StackError("prism keys create did not finish within 60 s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise StackError(f"prism keys create exited {done.returncode}: {done.stderr.strip()}")
    return lines[-1].strip()


def prism_env(workdir: Path, fake_port: int) -> dict[str, str]:
    config = workdir / "prism.toml"
    config.write_text(_CONFIG.format(host=HOST, port=fake_port, provider=PROVIDER, model=MODEL))
    # No Workers KV publishing from the bench's origin, whatever the shell says: only the edge section's
    # own origin publishes, to its fake Cloudflare API on 127.0.0.1.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRISM_CF_")}
    env.update(
        {
            "PRISM_CONFIG_PATH": str(config),
            f"PRISM_PROVIDER_{PROVIDER.upper().replace('-', '_')}_API_KEY": "bench",
            "PRISM_SPOOL_DIR": str(workdir / "spool"),
            "PRISM_ENV": "development",  # the secrets below are in this file, hence published
            "PRISM_KEY_PEPPER": KEY_PEPPER,
            "PRISM_INGEST_SECRET": INGEST_SECRET,
            # At INFO every request writes an access-log line: a cost the bench should not include.
            "PRISM_LOG_LEVEL": "WARNING",
        }
    )
    return env


def origin_service(
    name: str, env: Mapping[str, str], port: int, log: Path, *, core: int | None = None
) -> Service:
    """``prism serve`` on ``port``, on ``core`` alone if given; the caller stops it and waits for it."""
    command = [*prism_command(), "serve", "--host", HOST, "--port", str(port)]
    return Service(name, command if core is None else pinned(command, core), env, log)


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    fake_port, prism_port = free_port(), free_port()
    env = prism_env(workdir, fake_port)
    key = create_key(env)
    with ExitStack() as services:
        fake = Service(
            "fake provider",
            pinned(
                [sys.executable, "-m", "tests.fakes.provider", "--host", HOST, "--port", str(fake_port)],
                LOAD_CORE,
            ),
            env,
            workdir / "fake.log",
        )
        services.callback(fake.stop)
        prism = origin_service("prism serve", env, prism_port, workdir / "prism.log", core=SERVER_CORE)
        services.callback(prism.stop)
        fake_base = f"http://{HOST}:{fake_port}"
        fake.wait_ready(f"{fake_base}/_fake/requests")
        prism.wait_ready(f"http://{HOST}:{prism_port}/healthz")
        yield Stack(
            direct=Endpoint(f"{fake_base}{CHAT_PATH}", "Bearer bench"),
            prism=Endpoint(f"http://{HOST}:{prism_port}{CHAT_PATH}", f"Bearer {key}"),
            fake_base=fake_base,
            prism_pid=prism.pid,
            fake_pid=fake.pid,
            env=env,
        )
