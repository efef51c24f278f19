"""A throwaway Postgres cluster that tests may stop and start again (same port, same data)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

_PG_ROOT = Path("/usr/lib/postgresql")
_OS_USER = "postgres"


def postgres_bin_dir() -> Path:
    """The ``bin`` directory of the newest Postgres installed the Debian way."""
    found = [path.parent for path in _PG_ROOT.glob("*/bin/initdb")]
    if not found:
        raise RuntimeError(f"no Postgres server binaries under {_PG_ROOT}")
    return max(found, key=lambda bin_dir: tuple(int(part) for part in bin_dir.parent.name.split(".")))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TempPostgres:
    """``initdb`` on first ``start()``; ``stop()`` is a fast shutdown; ``close()`` removes it all."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="prism-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.running = False
        self._bin = postgres_bin_dir()
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.root, _OS_USER, _OS_USER)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not self.data_dir.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off -c max_connections=40"
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data_dir))
        self.running = False

    def server_pids(self) -> list[int]:
        """The postmaster (first) and every backend and helper process it has started."""
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended while we looked
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the whole server: alive and accepting TCP connections, answering nothing."""
        for pid in self.server_pids():  # the postmaster first, so that it starts no new backend
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.server_pids()):
            os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        try:
            if self.running:
                with contextlib.suppress(OSError):  # a frozen server cannot act on the stop signal
                    self.thaw()
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _OS_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if result.returncode != 0:
            server_log = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr}\n{server_log}")
