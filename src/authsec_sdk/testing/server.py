"""Run an ASGI app on a real uvicorn server on 127.0.0.1, in a background thread.

Tests and the demo use it so that every request crosses a real socket, exactly as in
production, while the caller stays free to be sync or async.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class ServerThread:
    """One uvicorn server on an ephemeral loopback port; ``url`` is its base URL."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 15.0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="auto", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)
        self._startup_timeout = startup_timeout

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise RuntimeError("the application failed to start (see the log for the reason)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the application did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` for the duration of the block and yield its base URL."""
    with ServerThread(app) as server:
        yield server.url
