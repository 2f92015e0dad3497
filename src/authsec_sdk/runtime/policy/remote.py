"""The remote scope matrix: the AuthSec backend's ``sdk-policy`` document, fetched and cached.

Two layers. The pure one decides, from a `CacheState` and the time, what a request is
judged with (`judge`) and whether a refresh is due (`CacheState.refresh_due`); reading the
document itself is `document.read_policy_document`. The thin async shell, `RemotePolicy`,
fetches at startup and lazily in the background.

Cache behaviour (both remote modes):

* A fetched document is fresh for ``scope_matrix_ttl``. The first `RemotePolicy.current`
  after that schedules one background refresh (never two at once) and keeps answering from
  the cached document meanwhile, so no request ever waits on the backend.
* A failed refresh keeps the last good document in service for ``policy_max_staleness``
  more seconds (counted from the end of its TTL); after that every call is refused with
  `PolicyUnavailableError` (503 ``policy_unavailable``). Failed fetches are retried with
  capped exponential backoff, not on every request.
* A document with ``policy_complete: false`` denies every call with `PolicyIncompleteError`
  as soon as it is fetched; it replaces the previous document, so an older, complete map is
  never used in its place.

Modes:

* ``REMOTE_REQUIRED``: a failed first fetch refuses startup ("REMOTE_REQUIRED initial scope
  matrix fetch failed: <why>").
* ``REMOTE_WITH_LOCAL_FALLBACK``: whenever no usable remote document exists (the first fetch
  failed, or the last good one outlived its staleness) the local ``Config.tool_scopes`` map
  is served instead, and refreshes keep being retried with backoff. As soon as the backend
  answers again its document takes over. An answer of ``policy_complete: false`` is an answer,
  not an outage: it denies every call rather than falling back to the local map.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import httpx
from anyio.abc import TaskGroup

from ..backend import BackendError, get_policy
from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config
from ..errors import PolicyIncompleteError, PolicyUnavailableError
from ..shared.fleet_policy import FleetPolicy
from .document import PolicyDocument, read_policy_document
from .rules import ToolPolicy
from .serving import Serving

logger = logging.getLogger("authsec.policy")

#: First retry delay after a failed fetch (never more than the TTL); doubles per failure.
BACKOFF_BASE = 1.0
#: Longest retry delay after failed fetches (never more than the TTL).
BACKOFF_CAP = 60.0


def backoff_delay(failures: int, ttl: float) -> float:
    """Seconds to wait before retrying after ``failures`` consecutive failed fetches.

    Doubles from ``BACKOFF_BASE`` up to ``BACKOFF_CAP``; neither ever exceeds the TTL, so an
    outage is never noticed later than a healthy refresh would have been.
    """
    base, cap = min(BACKOFF_BASE, ttl), min(BACKOFF_CAP, ttl)
    return float(min(cap, base * 2 ** min(failures - 1, 32)))


@dataclass(frozen=True)
class CacheState:
    """Everything `RemotePolicy` knows; replaced whole on each fetch outcome. Times are monotonic."""

    document: PolicyDocument | None = None
    fetched_at: float | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None

    def succeeded(self, document: PolicyDocument, now: float) -> CacheState:
        return CacheState(document=document, fetched_at=now)

    def failed(self, error: str, now: float, ttl: float) -> CacheState:
        failures = self.failures + 1
        return replace(self, failures=failures, retry_at=now + backoff_delay(failures, ttl), last_error=error)

    def refresh_due(self, now: float, ttl: float) -> bool:
        if self.failures:
            return now >= self.retry_at
        return self.fetched_at is None or now >= self.fetched_at + ttl


def judge(
    cache: CacheState, now: float, *, ttl: float, max_staleness: float, fallback: ToolPolicy | None
) -> tuple[Serving, ToolPolicy | PolicyUnavailableError]:
    """What a request is judged with now, and the serving state's name (for logs and health).

    The cached document serves until ``ttl + max_staleness`` after it was fetched; past that,
    or before any fetch succeeded, the fallback map (if any) serves, else nothing does.
    """
    doc = cache.document
    if doc is not None and cache.fetched_at is not None and now < cache.fetched_at + ttl + max_staleness:
        if not doc.complete:
            return Serving.INCOMPLETE, PolicyIncompleteError(doc.state, doc.reason)
        return (Serving.STALE if cache.failures else Serving.READY), doc.policy
    if fallback is not None:
        return Serving.LOCAL_FALLBACK, fallback
    return Serving.UNAVAILABLE, PolicyUnavailableError("policy_unavailable")


class RemotePolicy:
    """`PolicySource` for the remote modes: the backend's policy, cached and refreshed lazily.

    ``fallback`` is the local map served when no usable remote document exists
    (``REMOTE_WITH_LOCAL_FALLBACK``); without it, that situation refuses every call.
    """

    def __init__(
        self,
        cfg: Config,
        *,
        fallback: ToolPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        fleet: FleetPolicy | None = None,
    ) -> None:
        self._cfg = cfg
        self._clock = clock
        self._fallback = fallback
        self._cache = CacheState()
        self._task_group: TaskGroup | None = None
        self._http: httpx.AsyncClient | None = None
        self._refreshing = False
        self._reported: tuple[Serving, int | None] | None = None
        #: With a shared store: the fleet's document, and news of a new one from any worker.
        self._fleet = fleet
        self._changed_meanwhile = False
        if fleet is not None:
            fleet.on_change(self._changed)

    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        """Fetch once; without a fallback a failure refuses startup."""
        self._task_group, self._http = task_group, http
        await self._fetch()
        if self._cache.document is None and self._fallback is None:
            raise PolicyUnavailableError(
                f"REMOTE_REQUIRED initial scope matrix fetch failed: {self._cache.last_error}"
            )
        self._report(self._clock.monotonic())

    def current(self) -> ToolPolicy:
        """The policy now, from memory; schedules a background refresh when one is due."""
        now = self._clock.monotonic()
        self._schedule_refresh(now)
        _, outcome = self._report(now)
        if isinstance(outcome, PolicyUnavailableError):
            raise outcome
        return outcome

    def status(self) -> dict[str, Any]:
        """The cache state for health checks. ``fetched_at`` is a Unix time."""
        now = self._clock.monotonic()
        cache, ttl = self._cache, self._cfg.scope_matrix_ttl
        serving, _ = self._judge(now)
        doc = cache.document
        return {
            "mode": self._cfg.effective_policy_mode.value,
            "serving": serving,
            "generation": doc.policy.generation if doc else None,
            "fetched_at": None if cache.fetched_at is None else self._clock.time() - (now - cache.fetched_at),
            "policy_state": doc.state if doc else None,
            "policy_complete": doc.complete if doc else None,
            "reason": doc.reason if doc else None,
            "stale": cache.fetched_at is None or now >= cache.fetched_at + ttl,
            "last_error": cache.last_error,
            "consecutive_failures": cache.failures,
            "refresh_in_flight": self._refreshing,
        }

    # ------------------------------------------------------------------ internals
    def _judge(self, now: float) -> tuple[Serving, ToolPolicy | PolicyUnavailableError]:
        return judge(
            self._cache,
            now,
            ttl=self._cfg.scope_matrix_ttl,
            max_staleness=self._cfg.policy_max_staleness,
            fallback=self._fallback,
        )

    def _schedule_refresh(self, now: float) -> None:
        if self._task_group is None or self._refreshing:
            return
        if self._cache.refresh_due(now, self._cfg.scope_matrix_ttl):
            self._refreshing = True
            self._task_group.start_soon(self._refresh)

    def _changed(self) -> None:
        """Another worker stored a new document: take it now, whatever our TTL says."""
        if self._task_group is None:
            return
        if self._refreshing:
            self._changed_meanwhile = True  # the refresh under way may have read the old one
            return
        self._refreshing = True
        self._task_group.start_soon(self._refresh)

    async def _refresh(self) -> None:
        try:
            await self._fetch()
            while self._changed_meanwhile:
                self._changed_meanwhile = False
                await self._fetch()
        finally:
            self._refreshing = False
        self._report(self._clock.monotonic())

    async def _fetch(self) -> None:
        """One fetch; its outcome lands in the cache. Never raises (a refresh must not crash the app)."""
        http = self._http
        assert http is not None
        try:
            if self._fleet is None:
                document = await get_policy(http, self._cfg, read_policy_document)
                fetched_at = self._clock.monotonic()
            else:
                data, at = await self._fleet.fetch(lambda: get_policy(http, self._cfg, _readable))
                document = read_policy_document(data)
                # The fleet's fetch time, so every worker's copy turns stale together.
                fetched_at = self._clock.monotonic() - max(0.0, self._clock.time() - at)
        except Exception as exc:
            error = str(exc) if isinstance(exc, BackendError) else f"unexpected {type(exc).__name__}: {exc}"
            self._cache = self._cache.failed(error, self._clock.monotonic(), self._cfg.scope_matrix_ttl)
        else:
            self._cache = self._cache.succeeded(document, fetched_at)

    def _report(self, now: float) -> tuple[Serving, ToolPolicy | PolicyUnavailableError]:
        """Judge, and log the serving state when it differs from the last one logged."""
        serving, outcome = self._judge(now)
        doc = self._cache.document
        key = (serving, doc.policy.generation if doc else None)
        if key != self._reported:
            self._reported = key
            _log_state(serving, self._cache, self._cfg)
        return serving, outcome


def _readable(data: Any) -> Any:
    """``data`` itself once it reads as a policy document: only those are shared."""
    read_policy_document(data)
    return data


def _log_state(serving: Serving, cache: CacheState, cfg: Config) -> None:
    doc = cache.document
    generation = doc.policy.generation if doc else None
    if serving is Serving.READY:
        logger.info("scope matrix ready (generation %s)", generation)
    elif serving is Serving.STALE:
        logger.warning(
            "scope matrix refresh failing, serving cached generation %s (at most %gs past its TTL): %s",
            generation,
            cfg.policy_max_staleness,
            cache.last_error,
        )
    elif serving is Serving.INCOMPLETE:
        assert doc is not None
        logger.warning("policy incomplete (state=%s%s): denying every tool call", doc.state, _reason(doc))
    elif serving is Serving.LOCAL_FALLBACK:
        logger.warning("scope matrix unavailable, serving local tool_scopes: %s", cache.last_error)
    else:
        logger.error("scope matrix unavailable, refusing every tool call: %s", cache.last_error)


def _reason(doc: PolicyDocument) -> str:
    return f", reason={doc.reason}" if doc.reason else ""
