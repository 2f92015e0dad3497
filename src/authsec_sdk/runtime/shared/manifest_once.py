"""The tool manifest published once per change of inventory, not once per worker.

Every worker reads its inventory at startup, but only the first to claim that inventory's
digest PUTs it; the claim lasts `REMEMBER_SECONDS`, after which a restart publishes it again.
A failed PUT gives the claim back, so the next worker to start can try. With the store
unavailable every worker publishes, as without one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .store import SharedStore, StoreUnavailable

#: Seconds an inventory, once published, is not published again by the fleet.
REMEMBER_SECONDS = 24 * 3600


def manifest_digest(body: Mapping[str, Any]) -> str:
    """The same for the same inventory, whatever order its keys were written in."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ManifestOnce:
    def __init__(self, store: SharedStore) -> None:
        self._store = store

    async def claim(self, body: Mapping[str, Any]) -> bool:
        """True when this worker should publish ``body``: nobody has, or the store cannot say."""
        key = self._store.keys.manifest(manifest_digest(body))
        try:
            return await self._store.claim(key, seconds=REMEMBER_SECONDS) is not None
        except StoreUnavailable:
            return True

    async def give_back(self, body: Mapping[str, Any]) -> None:
        """The PUT failed: let another worker (or the next start) publish ``body``."""
        key = self._store.keys.manifest(manifest_digest(body))
        await self._store.attempt(lambda redis: redis.delete(key))
