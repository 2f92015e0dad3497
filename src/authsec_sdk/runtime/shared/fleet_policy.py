"""The remote policy document, fetched from the backend once per TTL for the whole fleet.

The document is kept in the store with the time it was fetched. A worker whose policy is due
uses the stored one while it is younger than ``scope_matrix_ttl``; otherwise one worker at a
time (a short claim) fetches it from the backend and stores it, and the others wait for it
within the backend call's timeout. A stored document that differs from the one before is
announced on the policy channel, so every worker takes it at once: a new ``generation``, or an
incomplete policy's deny-all, reaches the whole fleet together.

With the store unavailable, each worker fetches for itself, as without one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..clock import SYSTEM_CLOCK, Clock
from .answers import POLL_SECONDS
from .store import SharedStore, StoreUnavailable, stored_object

#: A policy document's JSON as the backend sent it, with the epoch time it was fetched.
Fetched = tuple[Any, float]


def encode_policy(data: Any, fetched_at: float) -> bytes:
    return json.dumps({"document": data, "fetched_at": fetched_at}, separators=(",", ":")).encode()


def decode_policy(raw: object) -> Fetched | None:
    """The stored document and when it was fetched, or None when there is none or it is not
    what we store. The document itself is read (and may be refused) by the policy's reader."""
    data = stored_object(raw)
    at = data.get("fetched_at") if data is not None else None
    if data is None or isinstance(at, bool) or not isinstance(at, (int, float)):
        return None
    return data.get("document"), float(at)


class FleetPolicy:
    """The fleet's copy of the policy document, and the channel announcing a new one."""

    def __init__(self, store: SharedStore, *, ttl: float, wait: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self._store = store
        self._ttl = ttl
        self._wait = wait
        self._clock = clock

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever any worker stores a new document."""
        self._store.subscribe(self._store.keys.policy_channel, lambda data: listener())

    async def fetch(self, from_backend: Callable[[], Awaitable[Any]]) -> Fetched:
        """The document (as the backend sent it) and when it was fetched: the fleet's while it
        is fresh, else ``from_backend()``'s, asked by one worker of the fleet at a time.
        Errors from ``from_backend`` propagate."""
        keys = self._store.keys
        try:
            stored = await self._stored()
            if stored is not None and self._clock.time() < stored[1] + self._ttl:
                return stored
            proof = await self._store.claim(keys.policy_lock, seconds=self._wait)
        except StoreUnavailable:
            return await from_backend(), self._clock.time()
        if proof is None:
            fetched = await self._newer_than(stored)
            if fetched is not None:
                return fetched
            return await from_backend(), self._clock.time()
        try:
            data = await from_backend()
            fetched = (data, self._clock.time())
            await self._store.attempt(lambda redis: redis.set(keys.policy, encode_policy(*fetched)))
            if stored is None or stored[0] != data:
                await self._store.attempt(lambda redis: redis.publish(keys.policy_channel, b"changed"))
            return fetched
        finally:
            with anyio.CancelScope(shield=True):
                await self._store.release(keys.policy_lock, proof)

    async def _stored(self) -> Fetched | None:
        key = self._store.keys.policy
        return decode_policy(await self._store.call(lambda redis: redis.get(key)))

    async def _newer_than(self, stored: Fetched | None) -> Fetched | None:
        """Wait, within the backend call's timeout, for the worker fetching to store its answer."""
        with anyio.move_on_after(self._wait):
            while True:
                try:
                    fetched = await self._stored()
                except StoreUnavailable:
                    return None
                if fetched is not None and (stored is None or fetched[1] > stored[1]):
                    return fetched
                await anyio.sleep(POLL_SECONDS)
        return None
