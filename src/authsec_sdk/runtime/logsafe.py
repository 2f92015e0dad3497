"""Logging what a peer or an attacker controls, safely.

Such values (claims, key ids, an issuer's metadata) are written only through `shown`:
truncated so that a huge value cannot bloat the logs, and quoted with `repr` so that a
CR/LF or a quote inside cannot forge a log line. Lines that requests can trigger at will
go through a `RateLimitedLog`, so that a flood of them cannot fill the disk.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

#: Longest string, and most list items, `shown` writes.
MAX_CHARS = 100
MAX_ITEMS = 5


def shown(value: object) -> str:
    """``value`` for a log line: strings truncated and quoted, short lists of them, numbers
    of sane size, and for anything else only its type."""
    if isinstance(value, str):
        return repr(value[:MAX_CHARS]) + ("..." if len(value) > MAX_CHARS else "")
    if value is None or (isinstance(value, (int, float)) and abs(value) < 10**15):
        return repr(value)  # not a huge int: writing one out is slow, even refused
    if isinstance(value, list):
        items = [shown(item) for item in value[:MAX_ITEMS]]
        return "[" + ", ".join(items) + (", ..." if len(value) > MAX_ITEMS else "") + "]"
    return f"<{type(value).__name__}>"


class RateLimitedLog:
    """At most ``limit`` lines per ``window`` seconds to ``logger``; the lines past that are
    counted, and the count is written as one line when the next window opens.

    Cheap when the level is off (one `isEnabledFor`). Meant for one event loop; it takes no
    lock, so concurrent threads could only miscount, never fail.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        limit: int = 10,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._limit = limit
        self._window = window
        self._clock = clock
        self._opened = -math.inf
        self._written = 0
        self._suppressed = 0

    def log(self, level: int, message: str, *args: object) -> None:
        """`logging.Logger.log`, unless this window's ``limit`` is spent."""
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock()
        if now - self._opened >= self._window:
            if self._suppressed:
                self._logger.log(
                    level, "%d more such lines suppressed in %gs", self._suppressed, self._window
                )
            self._opened, self._written, self._suppressed = now, 0, 0
        if self._written < self._limit:
            self._written += 1
            self._logger.log(level, message, *args)
        else:
            self._suppressed += 1
