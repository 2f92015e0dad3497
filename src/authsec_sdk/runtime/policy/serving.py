"""`Serving`: what a policy source is judging requests with right now, as health reports it."""

from __future__ import annotations

from enum import StrEnum


class Serving(StrEnum):
    """A string enum, so ``status()`` stays JSON-serialisable with these exact values."""

    READY = "ready"
    STALE = "stale"
    INCOMPLETE = "incomplete"
    UNAVAILABLE = "unavailable"
    LOCAL_FALLBACK = "local_fallback"
