"""Revocations told to the whole fleet: a token the issuer called inactive leaves every
worker's local caches at once, so none keeps serving it from memory.

Only the token's digest travels. A message that is not a digest is ignored: anyone who can
publish on the store could send it, and the worst a forged digest can do is make each worker
check one token again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .store import SharedStore

_HEX_DIGEST = re.compile(rb"[0-9a-f]{64}")

Listener = Callable[[bytes], None]


def digest_of_message(data: bytes) -> bytes | None:
    """The SHA-256 digest a revocation message names, or None when it names none."""
    return bytes.fromhex(data.decode()) if _HEX_DIGEST.fullmatch(data) else None


class Revocations:
    """Announces revocations and tells the local listeners of each one announced anywhere."""

    def __init__(self, store: SharedStore) -> None:
        self._store = store
        self._listeners: list[Listener] = []
        store.subscribe(store.keys.revoked_channel, self._received)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with the digest of every token announced revoked (this worker's too)."""
        self._listeners.append(listener)

    async def announce(self, digest: bytes) -> None:
        """Tell every worker (best effort: with the store unavailable, each learns on its own)."""
        channel = self._store.keys.revoked_channel
        await self._store.attempt(lambda redis: redis.publish(channel, digest.hex()))

    def _received(self, data: bytes) -> None:
        digest = digest_of_message(data)
        if digest is not None:
            for listener in self._listeners:
                listener(digest)
