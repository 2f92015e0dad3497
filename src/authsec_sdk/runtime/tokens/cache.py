"""A small bounded cache of validation results, keyed by token digest.

Shared by the JWT verifier and the introspector. Keys are SHA-256 digests so the cache
neither holds bearer tokens in memory nor grows with their size (16 KiB each at most).
Every entry carries a deadline, set by the caller to no later than the token's ``exp``,
after which it is never returned.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class TokenCache(Generic[V]):
    """Least-recently-used mapping token digest -> value, at most ``max_entries`` long.

    Callers compute `token_digest` once per token and pass it to every cache they consult.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()

    def get(self, digest: bytes, now: float) -> V | None:
        """The value stored for the token with ``digest`` if its deadline is still ahead of ``now``."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        deadline, value = entry
        if deadline <= now:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return value

    def forget(self, digest: bytes) -> None:
        """Forget the entry of the token with ``digest``, if any (its value is no longer true)."""
        self._entries.pop(digest, None)

    def put(self, digest: bytes, value: V, *, until: float) -> None:
        """Remember ``value`` for the token with ``digest`` until the epoch time ``until``."""
        if self._max_entries <= 0:
            return
        self._entries[digest] = (until, value)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def token_digest(token: str) -> bytes:
    """The key a token is known by in memory: never the token itself, and of fixed size."""
    return hashlib.sha256(token.encode()).digest()
