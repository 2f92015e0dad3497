"""The connection to the shared store (Redis or Valkey), and what happens when it is in trouble.

Everything shared is an optimisation or a fleet-wide view of what each process could work out
alone, so trouble with the store must never refuse a request nor let one through: every use
goes through `SharedStore.call`, which raises `StoreUnavailable` instead, and the caller
falls back to its process's own caches. After a failure the store is left alone for
`RETRY_SECONDS` (so an outage costs no time per request); the outage is logged when it starts
and when it ends, never once per request.

``redis`` is an optional extra: it is imported only here, and only when a store is opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config
from .keys import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("authsec.shared")

T = TypeVar("T")

#: Seconds the store is left alone after a failure before it is tried again.
RETRY_SECONDS = 1.0
#: Longest wait on one store operation; the store is next to us, or in trouble.
STORE_TIMEOUT = 1.0
#: How `SharedStore.status` names the two states.
OK, FAILING = "ok", "failing"

Handler = Callable[[bytes], None]

#: Delete a claimed key only while it holds our proof: one atomic step.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StoreUnavailable(Exception):
    """The store cannot be used just now: fall back to the process's own state."""


class SharedStore:
    """One connection pool to the store, shared by everything one `Runtime` shares."""

    def __init__(self, cfg: Config, clock: Clock = SYSTEM_CLOCK) -> None:
        self.keys = Keys.for_resource(cfg.resource_uri)
        self._url = cfg.shared_cache_url
        self._timeout = min(cfg.http_timeout, STORE_TIMEOUT)
        self._clock = clock
        self._client: Redis | None = None
        self._handlers: dict[str, Handler] = {}
        self._state = OK
        self._last_error: str | None = None
        self._retry_at = 0.0

    def status(self) -> dict[str, Any]:
        """For health checks: ``state`` (ok, failing) and the last failure's reason."""
        return {"state": self._state, "last_error": self._last_error}

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call ``handler`` with each message on ``channel`` (register before `connected`)."""
        self._handlers[channel] = handler

    @asynccontextmanager
    async def connected(self, task_group: TaskGroup) -> AsyncIterator[SharedStore]:
        """Open the pool and listen to the subscribed channels until the block ends.

        An unreachable store does not refuse startup: it is logged, and tried again later. The
        client needs asyncio: on another event loop startup is refused, naming why.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("shared_cache_url needs an asyncio event loop (the Redis client)") from None
        from redis.asyncio import from_url
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client: Redis = from_url(
            self._url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            # One retry at once: it replaces a pooled connection the store closed (after its
            # restart, say); beyond that, `call` decides when to try again.
            retry=Retry(NoBackoff(), 1),
        )
        self._client = client
        listening = anyio.CancelScope()
        try:
            await self.attempt(lambda redis: redis.ping())  # failing: logged, and tried again later
            if self._handlers:
                await task_group.start(self._listen, client, listening)
            yield self
        finally:
            listening.cancel()
            self._client = None
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def call(self, operation: Callable[[Redis], Awaitable[T]]) -> T:
        """``operation``'s result, or `StoreUnavailable` when the store is failing or fails now."""
        from redis.exceptions import RedisError

        client = self._client
        if client is None or self._clock.monotonic() < self._retry_at:
            raise StoreUnavailable(self._last_error or "not connected")
        try:
            with anyio.fail_after(self._timeout):
                result = await operation(client)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            raise StoreUnavailable(str(exc)) from exc
        self._answering()
        return result

    async def attempt(self, operation: Callable[[Redis], Awaitable[T]]) -> T | None:
        """`call` for best-effort writes: None instead of `StoreUnavailable`."""
        try:
            return await self.call(operation)
        except StoreUnavailable:
            return None

    async def claim(self, key: str, *, seconds: float) -> str | None:
        """Take ``key`` for ``seconds`` unless another holds it: the proof of holding it, or None."""
        proof = secrets.token_hex(16)
        taken = await self.call(lambda redis: redis.set(key, proof, nx=True, px=milliseconds(seconds)))
        return proof if taken else None

    async def release(self, key: str, proof: str) -> None:
        """Give ``key`` back if it is still ours (it may have expired and been taken since)."""
        await self.attempt(lambda redis: redis.eval(_RELEASE, 1, key, proof))  # else it expires by itself

    async def _listen(
        self,
        client: Redis,
        scope: anyio.CancelScope,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver subscribed messages until ``scope`` is cancelled, subscribing again after trouble.

        Reports itself started once the first subscription is made or has failed, so no news
        sent after startup is missed, and an unreachable store does not hold startup up.
        """
        from redis.exceptions import RedisError

        with scope:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        try:
                            await pubsub.subscribe(*self._handlers)
                        finally:
                            task_status.started()
                            task_status = anyio.TASK_STATUS_IGNORED  # once: later rounds resubscribe
                        self._answering()
                        while True:
                            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                            if message is not None:
                                self._deliver(message)
                except (RedisError, OSError) as exc:
                    self._failed(exc)
                await anyio.sleep(RETRY_SECONDS)

    def _deliver(self, message: dict[str, Any]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        handler = self._handlers.get(channel.decode("utf-8", "replace"))
        if handler is not None:
            handler(data)

    def _failed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:300]
        self._retry_at = self._clock.monotonic() + RETRY_SECONDS
        self._last_error = reason
        if self._state != FAILING:
            self._state = FAILING
            logger.warning(
                "shared store unavailable (%s): each process uses its own caches until it recovers", reason
            )

    def _answering(self) -> None:
        if self._state != OK:
            self._state, self._last_error = OK, None
            logger.info("shared store recovered")


def milliseconds(seconds: float) -> int:
    """A Redis expiry in whole milliseconds, at least 1 (0 would be refused)."""
    return max(1, math.ceil(seconds * 1000))


def stored_object(raw: object) -> dict[str, Any] | None:
    """A JSON object read back from the store, or None for anything else: the store is shared,
    so what comes back is read as untrusted."""
    if not isinstance(raw, bytes):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
