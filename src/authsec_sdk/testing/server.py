"""Run an ASGI app on a real uvicorn server on 127.0.0.1, in a background thread.

Tests and the demo use it so that every request crosses a real socket, exactly as in
production, while the caller stays free to be sync or async.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn's server, stopping promptly: the main loop wakes as soon as `wake` is called
    instead of at its next 0.1 s tick, and shutdown waits for open connections and tasks by
    polling often rather than with uvicorn's fixed 0.1 s sleeps."""

    _loop: asyncio.AbstractEventLoop | None = None
    _woken: asyncio.Event | None = None

    def wake(self) -> None:
        """Make the main loop look at ``should_exit`` now (callable from any thread)."""
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(woken.set)

    async def main_loop(self) -> None:
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        state = self.server_state
        # uvicorn offers no event for "the last connection closed": poll, briefly.
        while loop.time() < deadline and not self.force_exit:
            if not (state.connections or state.tasks):
                break
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            with suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), max(deadline - loop.time(), 0.1))
        if not self.force_exit:
            await self.lifespan.shutdown()


class ServerThread:
    """One uvicorn server on an ephemeral loopback port; ``url`` is its base URL."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 15.0) -> None:
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP, and
        # with Nagle on, a keep-alive response sent in two writes stalls 40 ms on delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="auto", timeout_graceful_shutdown=2)
        self._server = _Server(config)
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
        self._server.wake()
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
