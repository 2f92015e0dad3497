"""Introspection answers shared by every worker, and one asker per new token across the fleet.

An answer is stored under the token's digest with the deadline the asking worker gave it
(the same TTL rules as the local cache: never past ``exp``), so every worker forgets it at
the same moment. A worker meeting a token nobody has asked about claims it for a short while
(`claim_seconds`, the issuer call's own timeout); the others wait for its answer, bounded by
that same timeout, and ask themselves only if none comes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ..clock import SYSTEM_CLOCK, Clock
from .store import SharedStore, StoreUnavailable, milliseconds, stored_object

#: Seconds between looks at the store while another worker asks the issuer.
POLL_SECONDS = 0.02

#: An answer with the epoch time until which it may be used.
Stored = tuple[Mapping[str, Any], float]


def encode_answer(answer: Mapping[str, Any], until: float) -> bytes:
    return json.dumps({"answer": answer, "until": until}, separators=(",", ":")).encode()


def decode_answer(raw: object, now: float) -> Stored | None:
    """The stored answer, or None when there is none, it is past its deadline or it is not
    what we store (the store is shared: read it as untrusted)."""
    data = stored_object(raw)
    if data is None:
        return None
    answer, until = data.get("answer"), data.get("until")
    if not isinstance(answer, dict) or isinstance(until, bool) or not isinstance(until, (int, float)):
        return None
    return (answer, float(until)) if until > now else None


class SharedAnswers:
    """The fleet's introspection answers, keyed by token digest."""

    def __init__(self, store: SharedStore, *, claim_seconds: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self._store = store
        self._claim_seconds = claim_seconds
        self._clock = clock

    async def get(self, digest: bytes) -> Stored | None:
        """The stored answer for ``digest``; None when there is none or the store is unavailable."""
        key = self._store.keys.answer(digest)
        try:
            raw = await self._store.call(lambda redis: redis.get(key))
        except StoreUnavailable:
            return None
        return decode_answer(raw, self._clock.time())

    async def put(self, digest: bytes, answer: Mapping[str, Any], until: float) -> None:
        """Share ``answer`` until the epoch time ``until`` (best effort)."""
        seconds = until - self._clock.time()
        if seconds <= 0:
            return
        key, value = self._store.keys.answer(digest), encode_answer(answer, until)
        await self._store.attempt(lambda redis: redis.set(key, value, px=milliseconds(seconds)))

    @asynccontextmanager
    async def asking(self, digest: bytes) -> AsyncIterator[Stored | None]:
        """Before asking the issuer: another worker's fresh answer if one comes, else None (ask).

        Holds the claim on ``digest`` for the block when it was free; otherwise waits, within
        `claim_seconds`, for the holder's answer or for the claim to go. With the store
        unavailable, yields None at once.
        """
        lock = self._store.keys.answer_lock(digest)
        try:
            proof = await self._store.claim(lock, seconds=self._claim_seconds)
        except StoreUnavailable:
            yield None
            return
        if proof is None:
            yield await self._wait(digest, lock)
            return
        try:
            yield None
        finally:
            with anyio.CancelScope(shield=True):
                await self._store.release(lock, proof)

    async def _wait(self, digest: bytes, lock: str) -> Stored | None:
        key = self._store.keys.answer(digest)
        with anyio.move_on_after(self._claim_seconds):
            while True:
                try:
                    raw, held = await self._store.call(lambda redis: redis.mget(key, lock))
                except StoreUnavailable:
                    return None
                stored = decode_answer(raw, self._clock.time())
                if stored is not None or held is None:
                    return stored
                await anyio.sleep(POLL_SECONDS)
        return None
