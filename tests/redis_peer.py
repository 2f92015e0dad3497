"""A real ``redis-server`` on 127.0.0.1 for the shared-store tests, started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

#: Set (as `.ci/run` does) to make a missing ``redis-server`` a failure instead of a skip.
REQUIRE_ENV = "AUTHSEC_REQUIRE_REDIS"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` without persistence on a free loopback port; `stop` and `start`
    again keep the port, so clients configured with `url` can reconnect."""

    def __init__(self, binary: str) -> None:
        self._binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="authsec-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = [self._binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", self._dir, "--loglevel", "warning"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.01)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def flush(self) -> None:
        """Forget everything: each test starts from an empty store."""
        self.client().flushdb()


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def redis_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"
