"""Where the token and policy caches read the time.

Their TTLs, cooldowns and expiry checks go through a `Clock`, so a test can move time forward
instead of sleeping, and every shell reads the same two sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic as system_monotonic
from time import time as system_time


@dataclass(frozen=True, slots=True)
class Clock:
    #: Epoch seconds: what token claims (``exp``, ``nbf``, ``iat``) are compared with.
    time: Callable[[], float] = system_time
    #: Seconds that never go backwards: what TTLs, cooldowns and staleness are measured in.
    monotonic: Callable[[], float] = system_monotonic


SYSTEM_CLOCK = Clock()
