"""A private ``redis-server`` on a free loopback port: one per test run, so runs never share keys."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.pgcluster import free_port
from tests.started import Started

# PRISM_TEST_REDIS=cluster: the run's Redis is a three-master Redis Cluster (`make test` runs the
# Redis-facing tests once more that way).
ON_CLUSTER = os.environ.get("PRISM_TEST_REDIS") == "cluster"
# What only a single node has: one connection pool, one TCP stream to stand between (multiplexer, proxies).
SINGLE_NODE_ONLY = "a single node's own machinery"
single_node_only = pytest.mark.skipif(ON_CLUSTER, reason=SINGLE_NODE_ONLY)


def skip_on_cluster() -> None:
    """For fixtures, which marks cannot reach."""
    if ON_CLUSTER:
        pytest.skip(SINGLE_NODE_ONLY)


class TempRedis(Started):
    """Started on construction's ``start()``; nothing on disk survives ``close()``."""

    def __init__(self, *extra_args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make services installs it)")
        self._binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="prism-redis-"))
        self.port = free_port()
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        args = [
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
            "--maxclients",
            "4096",
            *self._extra_args,
        ]
        log = (self.root / "server.log").open("ab")
        self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            if self._answers():
                return
            time.sleep(0.02)
        raise TimeoutError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def freeze(self) -> None:
        """SIGSTOP the server: connections are still accepted by the kernel, nothing is answered."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop the server and start it again on its port: empty, as nothing is persisted."""
        assert self._process is not None
        self.thaw()
        self._process.terminate()
        self._process.wait(timeout=10)
        self.start()

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.thaw()  # a stopped process cannot act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class TempRedisCluster(Started):
    """Three masters on free loopback ports, their slots assigned by ``redis-cli --cluster create``."""

    def __init__(self, size: int = 3) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (make services installs it)")
        self._cli = cli
        # nodes.conf lives in each node's own directory, so a restarted node rejoins with its slots.
        # Its own free port for the cluster bus: port + 10000 may be taken or past 65535.
        self.nodes = [
            TempRedis(
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", "2000", "--cluster-port", str(free_port())),
            )
            for _ in range(size)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self._cli, "--cluster", "create", *addresses, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        self.wait_until_ok(timeout)

    def wait_until_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._state_ok(node) for node in self.nodes):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the Redis cluster on {self.url} was not ok within {timeout}s")

    def _state_ok(self, node: TempRedis) -> bool:
        info = subprocess.run(
            [self._cli, "-p", str(node.port), "cluster", "info"], capture_output=True, text=True, timeout=5
        )
        return "cluster_state:ok" in info.stdout

    def restart(self, index: int) -> None:
        """Restart one master empty (nothing is persisted); it rejoins with the same slots."""
        self.nodes[index].restart()
        self.wait_until_ok()

    def close(self) -> None:
        for node in self.nodes:
            node.close()
