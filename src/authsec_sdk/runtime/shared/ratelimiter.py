"""Per-caller rate limits, the I/O part: counters in the shared store, or in this process.

With a shared store every worker and replica counts in the same counters: one script run, one
round trip, reads the request's counters and spends from them only if every one has room,
atomically. Without one, each process counts for itself (N workers allow N times the rate).
When the store is unavailable, ``rate_limit_on_store_error`` decides: ``deny`` (the default)
refuses limited calls with 503, ``allow`` lets them through uncounted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config
from ..errors import RateLimitedError, RateLimitUnavailableError
from ..principal import Principal
from .limits import Charge, Verdict, charges, judge, owner_digest, parse_rate_limits, window_of
from .store import SharedStore, StoreUnavailable, milliseconds

#: Counters one process keeps without a shared store; the oldest are forgotten past it.
MAX_LOCAL_COUNTERS = 100_000

#: KEYS: the counters. ARGV: each counter's quota, then its cost, then its expiry in ms.
#: Returns the counts found; spends only when every counter has room for its cost.
_SPEND = """
local n = #KEYS
local counts = {}
for i = 1, n do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  if counts[i] + tonumber(ARGV[n + i]) > tonumber(ARGV[i]) then return counts end
end
for i = 1, n do
  if redis.call('INCRBY', KEYS[i], ARGV[n + i]) == tonumber(ARGV[n + i]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * n + i])
  end
end
return counts
"""


class RateLimiter:
    """Checks each request's ``tools/call``s against ``Config.rate_limits``."""

    def __init__(self, cfg: Config, store: SharedStore | None, clock: Clock = SYSTEM_CLOCK) -> None:
        self._rules = parse_rate_limits(cfg.rate_limits or {})
        self._store = store
        self._deny_on_store_error = cfg.rate_limit_on_store_error == "deny"
        self._clock = clock
        self._local: OrderedDict[tuple[str, str, int], int] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self._rules)

    def status(self) -> dict[str, Any]:
        """For health checks: where the counters are and what a store failure does."""
        return {
            "counted_in": "shared" if self._store is not None else "process",
            "on_store_error": "deny" if self._deny_on_store_error else "allow",
        }

    async def check(self, principal: Principal, tool_calls: Sequence[str]) -> None:
        """Spend the calls from the principal's counters, or raise `RateLimitedError` (429) or,
        with the store unavailable and ``deny``, `RateLimitUnavailableError` (503)."""
        spending = charges(self._rules, tool_calls)
        if not spending:
            return
        owner, now = owner_digest(principal), self._clock.time()
        if self._store is None:
            verdict = self._spend_locally(owner, spending, now)
        else:
            try:
                verdict = await self._spend_shared(self._store, owner, spending, now)
            except StoreUnavailable:
                if self._deny_on_store_error:
                    raise RateLimitUnavailableError("rate limit store unavailable") from None
                return
        if not verdict.allowed:
            rule = verdict.charge.rule
            raise RateLimitedError(
                f"rate limit {rule!r} exceeded", headers=verdict.headers(), retry_after=verdict.retry_after
            )

    def _spend_locally(self, owner: str, spending: Sequence[Charge], now: float) -> Verdict:
        keys = [(owner, c.rule, window_of(now, c.limit)[0]) for c in spending]
        verdict = judge(spending, [self._local.get(key, 0) for key in keys], now)
        if verdict.allowed:
            for key, charge in zip(keys, spending, strict=True):
                self._local[key] = self._local.get(key, 0) + charge.cost
                self._local.move_to_end(key)
            while len(self._local) > MAX_LOCAL_COUNTERS:
                self._local.popitem(last=False)
        return verdict

    async def _spend_shared(
        self, store: SharedStore, owner: str, spending: Sequence[Charge], now: float
    ) -> Verdict:
        keys, expiries = [], []
        for charge in spending:
            index, reset = window_of(now, charge.limit)
            keys.append(store.keys.rate(owner, charge.rule, index))
            expiries.append(milliseconds(reset + 1))  # a second past its end: clocks differ a little
        args = [c.limit.quota for c in spending] + [c.cost for c in spending] + expiries
        counts = await store.call(lambda redis: redis.eval(_SPEND, len(keys), *keys, *args))
        return judge(spending, [int(count) for count in counts], now)
