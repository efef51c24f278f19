"""Origins as real ``prism serve`` processes, each with its own port and spool, that a test may kill."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from origin.settings import Settings
from tests.harness import free_port

_READY_SECONDS: Final = 60.0


def origin_env(settings: Settings, spool_dir: Path, provider_keys: Mapping[str, str]) -> dict[str, str]:
    """The environment of a ``prism serve`` with ``settings``' stores, secrets and config (no Workers KV)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRISM_")}
    env.update(
        {
            "PRISM_DATABASE_URL": settings.database_url,
            "PRISM_REDIS_URL": settings.redis_url,
            "PRISM_KEY_PEPPER": settings.key_pepper,
            "PRISM_INGEST_SECRET": settings.ingest_secret,
            "PRISM_DASHBOARD_SECRET": settings.dashboard_secret,
            "PRISM_CONFIG_PATH": str(settings.config_path),
            "PRISM_SPOOL_DIR": str(spool_dir),
            "PRISM_LOG_LEVEL": "WARNING",
        }
    )
    env.update({f"PRISM_PROVIDER_{name.upper()}_API_KEY": key for name, key in provider_keys.items()})
    return env


class OriginProcess:
    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env = dict(env)
        self.port = free_port()
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "origin.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"origin on {self.port} exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"origin on {self.port} not ready within {_READY_SECONDS} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what it held in memory is gone."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
