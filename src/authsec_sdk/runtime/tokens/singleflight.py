"""One check per token at a time: concurrent requests carrying the same new token share it.

Without this, a client that opens twenty requests with a token we have not seen yet costs
twenty introspection calls (or twenty signature checks waiting on one key fetch).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

V = TypeVar("V")


class _Call(Generic[V]):
    """One run of the work: its outcome once it ends, or neither when it was abandoned."""

    def __init__(self) -> None:
        #: Made by the first caller that waits: most runs have no waiter, and an event costs.
        self.done: anyio.Event | None = None
        self.result: tuple[V] | None = None
        self.error: Exception | None = None


class SingleFlight(Generic[V]):
    """Runs ``work`` once per key at a time; callers arriving meanwhile share its outcome.

    Waiters get the same value, or the same exception. A run whose caller is cancelled is
    abandoned, and one of its waiters runs the work anew: one request going away never
    fails or strands another.
    """

    def __init__(self) -> None:
        self._calls: dict[bytes, _Call[V]] = {}

    async def run(self, key: bytes, work: Callable[[], Awaitable[V]]) -> V:
        while (call := self._calls.get(key)) is not None:
            if call.done is None:
                call.done = anyio.Event()
            await call.done.wait()
            if call.error is not None:
                raise call.error
            if call.result is not None:
                return call.result[0]
        call = self._calls[key] = _Call()
        try:
            value = await work()
            call.result = (value,)
            return value
        except Exception as exc:
            call.error = exc
            raise
        finally:
            del self._calls[key]
            if call.done is not None:
                call.done.set()
