"""The servers issue 11 sets next to Prism, each in front of the same fake provider.

``passthrough`` (always there), the Portkey gateway (the npm devDependency, under Node) and LiteLLM's
proxy (only when ``make bench-peers`` installed it into ``.venv-peers``; never a dependency of
Prism). Each starts on a free port on 127.0.0.1, pinned to the server core, and stops when its block
ends; ``*_missing`` says why one cannot run here.
"""

import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.pinning import SERVER_CORE, pinned
from bench.stack import CHAT_PATH, HOST, MODEL, Service, free_port

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
PORTKEY_SERVER: Final = REPO_ROOT / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
PORTKEY_PRELOAD: Final = Path(__file__).with_name("portkey_preload.mjs")
LITELLM: Final = REPO_ROOT / ".venv-peers" / "bin" / "litellm"
# The fake wants an API key; every server here passes this one on.
UPSTREAM_KEY: Final = "Bearer bench"
_KEPT_ENV: Final = frozenset({"PATH", "HOME", "LANG", "TMPDIR"})
# LiteLLM's proxy refuses to start without a master key; requests through it carry this one.
LITELLM_KEY: Final = "sk-prism-bench"

_LITELLM_CONFIG = """\
# Written by bench/peers.py: one OpenAI-compatible model, the fake provider.
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {upstream}/v1
      api_key: bench
"""


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where the load generator sends a chat completion to reach the fake through one server."""

    name: str
    url: str
    pid: int
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Launch:
    name: str
    command: list[str]
    port: int
    ready_path: str
    env: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)


def portkey_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not PORTKEY_SERVER.is_file():
        return "@portkey-ai/gateway is not in node_modules (`make setup` runs `npm ci`)"
    return None


def litellm_missing() -> str | None:
    return None if LITELLM.is_file() else "not installed (make bench-peers)"


@contextmanager
def started(launch: Launch, workdir: Path) -> Iterator[Gateway]:
    service = Service(
        launch.name, pinned(launch.command, SERVER_CORE), launch.env, workdir / f"{launch.name}.log"
    )
    try:
        base = f"http://{HOST}:{launch.port}"
        service.wait_ready(f"{base}{launch.ready_path}")
        headers = {"Authorization": UPSTREAM_KEY, **launch.headers}
        yield Gateway(launch.name, f"{base}{CHAT_PATH}", service.pid, headers)
    finally:
        service.stop()


def _own_env(env: Mapping[str, str]) -> dict[str, str]:
    """A peer sees none of Prism's settings, nor whatever else of the shell's it might read."""
    return {name: value for name, value in env.items() if name in _KEPT_ENV}


def passthrough(upstream: str, env: Mapping[str, str]) -> Launch:
    """``bench.passthrough`` in front of ``upstream`` (the fake's root URL)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.passthrough", "--host", HOST, "--port", str(port)]
    return Launch("passthrough", [*command, "--upstream", upstream], port, "/healthz", _own_env(env))


def portkey(upstream: str, env: Mapping[str, str]) -> Launch:
    """Portkey's Node server, told per request to call ``upstream`` as an OpenAI-compatible host."""
    port = free_port()
    command = ["node", "--import", str(PORTKEY_PRELOAD), str(PORTKEY_SERVER), f"--port={port}", "--headless"]
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{upstream}/v1"}
    return Launch("portkey", command, port, "/", _own_env(env), headers)


def litellm(upstream: str, env: Mapping[str, str], workdir: Path) -> Launch:
    """LiteLLM's proxy with one worker and one model, the fake's, from a config written to ``workdir``."""
    config = workdir / "litellm.yaml"
    config.write_text(_LITELLM_CONFIG.format(model=MODEL, upstream=upstream))
    port = free_port()
    command = [
        str(LITELLM),
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    own = {**_own_env(env), "LITELLM_MASTER_KEY": LITELLM_KEY}
    headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
    return Launch("litellm", command, port, "/health/liveliness", own, headers)


def launches(upstream: str, env: Mapping[str, str], workdir: Path) -> dict[str, Launch | str]:
    """Each peer's launch, or why it cannot run here, in the report's order."""
    portkey_reason, litellm_reason = portkey_missing(), litellm_missing()
    return {
        "portkey": portkey(upstream, env) if portkey_reason is None else portkey_reason,
        "litellm": litellm(upstream, env, workdir) if litellm_reason is None else litellm_reason,
    }
