"""HAProxy from Debian in front of several origins on loopback, for the tests and ``make run-cluster``.

The configuration is ``deploy/haproxy.cfg``'s, with the loopback ports filled in: health checks on
``/healthz`` every second (an origin is out after two failures), round robin, and a request retried
on another origin only when it could not be sent at all (a sent POST may have reached a provider).
``python -m tests.balancer PORT BACKEND...`` runs it in the foreground.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.pgcluster import free_port
from tests.started import Started

DEPLOY_CONFIG: Final = Path(__file__).resolve().parents[1] / "deploy" / "haproxy.cfg"
_START_SECONDS: Final = 10.0


def loopback_config(port: int, backends: Sequence[str]) -> str:
    """``deploy/haproxy.cfg`` on loopback: its ``global`` section (syslog, user, chroot, the stats
    socket: the host's) replaced by a bare one, listening on ``port``, its servers ``backends``."""
    lines = ["global", "    maxconn 4096", "    log stdout format raw local0"]
    section, servers = "", [f"    server origin{n} {address} check" for n, address in enumerate(backends, 1)]
    for line in DEPLOY_CONFIG.read_text().splitlines():
        if line and not line[0].isspace():
            section = line.split()[0]
        stripped = line.strip()
        if section == "global":
            continue
        if stripped.startswith("server "):
            lines += servers  # where the deploy file lists its own, after default-server
            servers = []
            continue
        lines.append(f"    bind 127.0.0.1:{port}" if stripped.startswith("bind ") else line)
    return "\n".join(lines) + "\n"


def haproxy_binary() -> str | None:
    """Debian's haproxy, in /usr/sbin, which a non-root PATH may lack."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    return found


def haproxy_missing() -> str | None:
    return None if haproxy_binary() else "haproxy is not installed (make setup installs it)"


class TempHaproxy(Started):
    def __init__(self, backends: Sequence[str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="prism-haproxy-"))
        self.port = free_port()
        self.config = self.root / "haproxy.cfg"
        self.config.write_text(loopback_config(self.port, backends))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.root / "haproxy.log").open("wb")
        command = [haproxy_binary() or "haproxy", "-db", "-f", str(self.config)]
        self._process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {(self.root / 'haproxy.log').read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not listen on {self.port} within {_START_SECONDS} s")

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m tests.balancer PORT HOST:PORT...", file=sys.stderr)
        return 2
    config = Path(tempfile.mkdtemp(prefix="prism-haproxy-")) / "haproxy.cfg"
    config.write_text(loopback_config(int(argv[0]), argv[1:]))
    binary = haproxy_binary() or "haproxy"
    os.execv(binary, [binary, "-db", "-f", str(config)])  # so that stopping this process stops haproxy


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
