"""A fleet on one machine, for tests and benchmarks of the shared store: a throwaway
``redis-server`` and an app served by several uvicorn processes, each started and stopped by
its PID.

Import it as ``authsec_sdk.testing.fleet``: `RedisServer` needs the ``redis-server`` program
and the ``redis`` extra, `workers` the ``testing`` extra (uvicorn).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import redis


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence. `stop` then `start` keeps
    the port, so clients configured with `url` reconnect as after a real restart."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server is not installed")
        self._binary = found
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="authsec-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        from redis import ConnectionError as RedisConnectionError

        command = [self._binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", self._dir, "--loglevel", "warning"]
        process = self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 (no shell)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return self
            except RedisConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
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

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def flush(self) -> None:
        """Forget every key, so the next test starts from an empty store."""
        self.client().flushdb()


@dataclass
class Worker:
    """One uvicorn process serving the app at ``base``."""

    process: subprocess.Popen[bytes]
    base: str

    def get_json(self, path: str) -> Any:
        return httpx.get(f"{self.base}{path}").json()


@contextmanager
def workers(factory: str, envs: Sequence[Mapping[str, str]], *, app_dir: str) -> Iterator[list[Worker]]:
    """One uvicorn process per ``envs`` entry (added to our environment), serving the app that
    ``factory`` (``module:function``, found in ``app_dir``) builds: started side by side, as
    ``--workers N`` starts them, and yielded once all answer HTTP (uvicorn answers only once
    the app's startup is done)."""
    started: list[Worker] = []
    try:
        for env in envs:
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", app_dir]
            command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
            process = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603 (no shell)
            started.append(Worker(process, f"http://127.0.0.1:{port}"))
        for worker in started:
            _wait_until_serving(worker)
        yield started
    finally:
        for worker in started:
            worker.process.terminate()
        for worker in started:
            worker.process.wait(timeout=10)


def _wait_until_serving(worker: Worker) -> None:
    deadline = time.monotonic() + 30
    while True:
        if worker.process.poll() is not None:
            raise RuntimeError("a worker exited at startup (its log says why)")
        try:
            httpx.get(worker.base)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError("a worker did not start in time") from None
            time.sleep(0.05)
