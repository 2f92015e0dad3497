"""The remote scope matrix: the AuthSec backend's ``sdk-policy`` document, fetched and cached.

Two layers. The pure one reads a policy document (`read_policy_document`,
`parse_policy_document`) and decides, from a `CacheState` and the time, what a request is
judged with (`judge`) and whether a refresh is due (`CacheState.refresh_due`). The thin
async shell, `RemotePolicy`, fetches at startup and lazily in the background.

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
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx
from anyio.abc import TaskGroup

from ..config import Config
from ..errors import PolicyIncompleteError, PolicyUnavailableError
from ..upstream import UpstreamError, fetch_json
from .rules import ToolPolicy, ToolRule, union_in_order

logger = logging.getLogger("authsec.policy")

#: First retry delay after a failed fetch (never more than the TTL); doubles per failure.
BACKOFF_BASE = 1.0
#: Longest retry delay after failed fetches (never more than the TTL).
BACKOFF_CAP = 60.0

READY, STALE, INCOMPLETE, UNAVAILABLE, LOCAL_FALLBACK = (
    "ready",
    "stale",
    "incomplete",
    "unavailable",
    "local_fallback",
)


class PolicyDocumentError(ValueError):
    """An ``sdk-policy`` answer that cannot be read as a policy; the message says where."""


class PolicyFetchError(Exception):
    """Fetching the policy failed; the message says why and never carries credentials."""


# ---------------------------------------------------------------------------- document
@dataclass(frozen=True)
class PolicyDocument:
    """What one ``sdk-policy`` answer says, complete or not."""

    policy: ToolPolicy
    state: str
    complete: bool
    reason: str = ""

    def enforceable(self) -> ToolPolicy:
        """The policy to judge calls with; an incomplete document denies everything."""
        if not self.complete:
            raise PolicyIncompleteError(self.state, self.reason)
        return self.policy


def parse_policy_document(data: Any) -> ToolPolicy:
    """The policy an ``sdk-policy`` answer enforces.

    Raises `PolicyDocumentError` for a malformed document and `PolicyIncompleteError`
    (carrying ``state`` and ``reason``) for ``policy_complete: false``.
    """
    return read_policy_document(data).enforceable()


def read_policy_document(data: Any) -> PolicyDocument:
    """Read either document shape without judging completeness.

    The new shape carries ``tool_policy`` (a list of ``{name, is_public, required_scopes}``)
    and ``state`` / ``policy_complete`` / ``reason``; the older shape is only
    ``{"tools": {name: [scopes]}}`` and counts as complete. ``tool_policy`` wins when both
    are present. A tool neither public nor scoped, or not listed, is denied. The older shape
    reads like ``Config.tool_scopes``: an empty scope list makes the tool public, as the
    other AuthSec SDKs read it.
    """
    if not isinstance(data, Mapping):
        raise PolicyDocumentError(f"the policy document must be a JSON object, got {type(data).__name__}")
    new_shape = "tool_policy" in data or "state" in data
    complete = _complete_flag(data, new_shape)
    if "tool_policy" in data:
        rules = _rules_from_tool_policy(data["tool_policy"])
    elif "tools" in data:
        rules = _rules_from_tools_map(data["tools"])
    elif complete:
        raise PolicyDocumentError("a complete policy document needs 'tool_policy' or 'tools'")
    else:
        rules = {}
    scopes_supported = _string_list(data.get("scopes_supported", []), "scopes_supported")
    policy = ToolPolicy(
        rules=rules,
        scopes_supported=union_in_order(scopes_supported, *(sorted(r.scopes) for r in rules.values())),
        generation=_generation(data.get("generation")),
    )
    state = _optional_string(data, "state") or (READY if complete else INCOMPLETE)
    return PolicyDocument(
        policy=policy, state=state, complete=complete, reason=_optional_string(data, "reason")
    )


def _complete_flag(data: Mapping[str, Any], new_shape: bool) -> bool:
    """``policy_complete``; required in the new shape so a missing flag never reads as complete."""
    value = data.get("policy_complete", None if new_shape else True)
    if not isinstance(value, bool):
        raise PolicyDocumentError(f"'policy_complete' must be true or false, got {value!r}")
    return value


def _rules_from_tool_policy(entries: Any) -> dict[str, ToolRule]:
    if not isinstance(entries, list):
        raise PolicyDocumentError("'tool_policy' must be a list")
    rules: dict[str, ToolRule] = {}
    for index, entry in enumerate(entries):
        where = f"tool_policy[{index}]"
        if not isinstance(entry, Mapping):
            raise PolicyDocumentError(f"{where} must be an object")
        name = _tool_name(entry.get("name"), where, rules)
        public = entry.get("is_public", False)
        if not isinstance(public, bool):
            raise PolicyDocumentError(f"{where}.is_public must be true or false")
        scopes = _string_list(entry.get("required_scopes") or [], f"{where}.required_scopes")
        rules[name] = ToolRule(public=public, scopes=frozenset(scopes))
    return rules


def _rules_from_tools_map(tools: Any) -> dict[str, ToolRule]:
    if not isinstance(tools, Mapping):
        raise PolicyDocumentError("'tools' must be an object mapping tool names to scope lists")
    rules: dict[str, ToolRule] = {}
    for name, scopes in tools.items():
        _tool_name(name, "tools", rules)
        required = _string_list(scopes, f"tools[{name!r}]")
        rules[name] = ToolRule(public=not required, scopes=frozenset(required))
    return rules


def _tool_name(name: Any, where: str, seen: Mapping[str, ToolRule]) -> str:
    if not isinstance(name, str) or not name:
        raise PolicyDocumentError(f"{where} has a tool name that is not a non-empty string: {name!r}")
    if name in seen:
        raise PolicyDocumentError(f"{where} lists tool {name!r} twice")
    return name


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise PolicyDocumentError(f"{where} must be a list of non-empty strings")
    return value


def _optional_string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PolicyDocumentError(f"{key!r} must be a string")
    return value


def _generation(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PolicyDocumentError(f"'generation' must be an integer, got {value!r}")
    return value


# ---------------------------------------------------------------------------- cache (pure)
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
) -> tuple[str, ToolPolicy | PolicyUnavailableError]:
    """What a request is judged with now, and the serving state's name (for logs and health).

    The cached document serves until ``ttl + max_staleness`` after it was fetched; past that,
    or before any fetch succeeded, the fallback map (if any) serves, else nothing does.
    """
    doc = cache.document
    if doc is not None and cache.fetched_at is not None and now < cache.fetched_at + ttl + max_staleness:
        if not doc.complete:
            return INCOMPLETE, PolicyIncompleteError(doc.state, doc.reason)
        return (STALE if cache.failures else READY), doc.policy
    if fallback is not None:
        return LOCAL_FALLBACK, fallback
    return UNAVAILABLE, PolicyUnavailableError("policy_unavailable")


# ---------------------------------------------------------------------------- backend HTTP
def backend_url(cfg: Config, leaf: str) -> str:
    """``{authorization_server}/authsec/resource-servers/{id}/{leaf}``: the backend's SDK endpoints."""
    base = cfg.effective_authorization_server.rstrip("/")
    return f"{base}/authsec/resource-servers/{quote(cfg.resource_server_id, safe='')}/{leaf}"


def backend_auth(cfg: Config) -> httpx.BasicAuth:
    """HTTP Basic with the introspection client credentials, as the backend expects."""
    return httpx.BasicAuth(cfg.introspection_client_id, cfg.introspection_client_secret)


async def fetch_policy_document(http: httpx.AsyncClient, cfg: Config) -> PolicyDocument:
    """GET the ``sdk-policy`` document; any failure is a `PolicyFetchError` naming the URL and why."""
    url = backend_url(cfg, "sdk-policy")
    try:
        data = await fetch_json(http, "GET", url, within=cfg.http_timeout, auth=backend_auth(cfg))
    except UpstreamError as exc:
        raise PolicyFetchError(f"GET {url}: {exc}") from exc
    try:
        return read_policy_document(data)
    except PolicyDocumentError as exc:
        raise PolicyFetchError(f"GET {url}: malformed policy document: {exc}") from exc


# ---------------------------------------------------------------------------- the source
class RemotePolicy:
    """`PolicySource` for the remote modes: the backend's policy, cached and refreshed lazily.

    ``fallback`` is the local map served when no usable remote document exists
    (``REMOTE_WITH_LOCAL_FALLBACK``); without it, that situation refuses every call.
    """

    def __init__(self, cfg: Config, *, fallback: ToolPolicy | None = None) -> None:
        self._cfg = cfg
        self._fallback = fallback
        self._cache = CacheState()
        self._task_group: TaskGroup | None = None
        self._http: httpx.AsyncClient | None = None
        self._refreshing = False
        self._reported: tuple[str, int | None] | None = None

    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        """Fetch once; without a fallback a failure refuses startup."""
        self._task_group, self._http = task_group, http
        await self._fetch()
        if self._cache.document is None and self._fallback is None:
            raise PolicyUnavailableError(
                f"REMOTE_REQUIRED initial scope matrix fetch failed: {self._cache.last_error}"
            )
        self._report(time.monotonic())

    def current(self) -> ToolPolicy:
        """The policy now, from memory; schedules a background refresh when one is due."""
        now = time.monotonic()
        self._schedule_refresh(now)
        _, outcome = self._report(now)
        if isinstance(outcome, PolicyUnavailableError):
            raise outcome
        return outcome

    def status(self) -> dict[str, Any]:
        """The cache state for health checks. ``fetched_at`` is a Unix time."""
        now = time.monotonic()
        cache, ttl = self._cache, self._cfg.scope_matrix_ttl
        serving, _ = self._judge(now)
        doc = cache.document
        return {
            "mode": self._cfg.effective_policy_mode.value,
            "serving": serving,
            "generation": doc.policy.generation if doc else None,
            "fetched_at": None if cache.fetched_at is None else time.time() - (now - cache.fetched_at),
            "policy_state": doc.state if doc else None,
            "policy_complete": doc.complete if doc else None,
            "reason": doc.reason if doc else None,
            "stale": cache.fetched_at is None or now >= cache.fetched_at + ttl,
            "last_error": cache.last_error,
            "consecutive_failures": cache.failures,
            "refresh_in_flight": self._refreshing,
        }

    # ------------------------------------------------------------------ internals
    def _judge(self, now: float) -> tuple[str, ToolPolicy | PolicyUnavailableError]:
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

    async def _refresh(self) -> None:
        try:
            await self._fetch()
        finally:
            self._refreshing = False
        self._report(time.monotonic())

    async def _fetch(self) -> None:
        """One fetch; its outcome lands in the cache. Never raises (a refresh must not crash the app)."""
        assert self._http is not None
        try:
            document = await fetch_policy_document(self._http, self._cfg)
        except Exception as exc:
            error = (
                str(exc) if isinstance(exc, PolicyFetchError) else f"unexpected {type(exc).__name__}: {exc}"
            )
            self._cache = self._cache.failed(error, time.monotonic(), self._cfg.scope_matrix_ttl)
        else:
            self._cache = self._cache.succeeded(document, time.monotonic())

    def _report(self, now: float) -> tuple[str, ToolPolicy | PolicyUnavailableError]:
        """Judge, and log the serving state when it differs from the last one logged."""
        serving, outcome = self._judge(now)
        doc = self._cache.document
        key = (serving, doc.policy.generation if doc else None)
        if key != self._reported:
            self._reported = key
            _log_state(serving, self._cache, self._cfg)
        return serving, outcome


def _log_state(serving: str, cache: CacheState, cfg: Config) -> None:
    doc = cache.document
    generation = doc.policy.generation if doc else None
    if serving == READY:
        logger.info("scope matrix ready (generation %s)", generation)
    elif serving == STALE:
        logger.warning(
            "scope matrix refresh failing, serving cached generation %s (at most %gs past its TTL): %s",
            generation,
            cfg.policy_max_staleness,
            cache.last_error,
        )
    elif serving == INCOMPLETE:
        assert doc is not None
        logger.warning("policy incomplete (state=%s%s): denying every tool call", doc.state, _reason(doc))
    elif serving == LOCAL_FALLBACK:
        logger.warning("scope matrix unavailable, serving local tool_scopes: %s", cache.last_error)
    else:
        logger.error("scope matrix unavailable, refusing every tool call: %s", cache.last_error)


def _reason(doc: PolicyDocument) -> str:
    return f", reason={doc.reason}" if doc.reason else ""
