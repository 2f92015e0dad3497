"""Ask the issuer about a token (RFC 7662), failing closed.

The token travels only in the POST body, the resource server authenticates with HTTP
Basic, and only a JSON ``true`` in ``active`` counts. Any trouble reaching the issuer or
reading its answer, and a refusal of our credentials, is `IssuerUnavailableError` (503),
never a pass: we cannot tell a revoked token from a good one without an answer. A 400
is the issuer refusing this one token (RFC 6749 §5.2), so that token gets 401.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from ..backend import basic_auth
from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config
from ..errors import IssuerUnavailableError, TokenInactiveError
from ..issuer_client import FormPost, httpx_form_post
from ..shared.answers import SharedAnswers
from ..shared.revocation import Revocations
from ..upstream import UpstreamError
from .cache import TokenCache, token_digest
from .claims import check_claims
from .jwt_parse import JWTParseError, parse_jwt
from .refusal import RefusedTokenError
from .singleflight import SingleFlight

logger = logging.getLogger("authsec.tokens.introspection")


#: What `Introspector.status` reports: answering, failing, or refusing our credentials.
OK, FAILING, CREDENTIALS_REJECTED = "ok", "failing", "credentials_rejected"
#: OAuth error codes that mean our own client authentication failed, whatever the status
#: (some servers answer ``400 invalid_client`` instead of RFC 7662's 401).
_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class Introspector:
    """RFC 7662 client for one issuer, with an optional short-lived answer cache."""

    def __init__(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        clock: Clock = SYSTEM_CLOCK,
        *,
        shared: SharedAnswers | None = None,
        revocations: Revocations | None = None,
        post: FormPost | None = None,
    ) -> None:
        self._url = cfg.introspection_url
        self._clock = clock
        #: How the form reaches the issuer: httpx unless the runtime has a leaner client.
        self._post = post or httpx_form_post(http, basic_auth(cfg))
        self._timeout = cfg.http_timeout
        self._issuer = cfg.issuer
        self._audiences = cfg.accepted_audiences
        self._leeway = cfg.clock_leeway
        #: OK, FAILING or CREDENTIALS_REJECTED: an outage is logged when it starts and ends,
        #: not once per request, so a down issuer cannot flood the logs.
        self._state = OK
        self._last_error: str | None = None
        self._refusal_explained = False
        self._cache_ttl = cfg.introspection_cache_ttl
        # A TTL of 0 turns caching off: a cache of size 0 stores nothing.
        self._cache: TokenCache[Mapping[str, Any]] = TokenCache(
            cfg.token_cache_size if cfg.introspection_cache_ttl > 0 else 0
        )
        self._negative_ttl = cfg.introspection_negative_ttl
        self._inactive: TokenCache[Mapping[str, Any]] = TokenCache(
            cfg.token_cache_size if cfg.introspection_negative_ttl > 0 else 0
        )
        self._flights: SingleFlight[tuple[Mapping[str, Any], float | None]] = SingleFlight()
        #: The fleet's answers, and where revocations are announced (with a shared store).
        self._shared = shared
        self._revocations = revocations

    def status(self) -> dict[str, Any]:
        """For health checks: ``state`` (ok, failing, credentials_rejected) and the failure's reason."""
        return {"state": self._state, "last_error": self._last_error}

    async def introspect(self, token: str, *, require_aud: bool) -> Mapping[str, Any]:
        """The issuer's answer for an active ``token`` that is for us.

        ``iss``, ``exp``, ``nbf`` and ``aud`` are checked when present; ``require_aud``
        rejects an answer without ``aud`` (use it unless the audience was verified some
        other way). Raises `TokenInactiveError`, `TokenInvalidError` (also when the issuer
        refuses to introspect the token: HTTP 400) or `IssuerUnavailableError`.
        """
        now = self._clock.time()
        digest = token_digest(token)
        answer = self._cache.get(digest, now)
        if answer is None:
            answer = self._inactive.get(digest, now)
        if answer is not None:
            self._check(answer, now, require_aud)
            return answer
        # Concurrent requests with the same token share one call, and its answer or error.
        answer, until = await self._flights.run(digest, lambda: self._answer(token, digest))
        self._check(answer, now, require_aud)
        if until is not None:
            self._cache.put(digest, answer, until=until)
        return answer

    def forget(self, digest: bytes) -> None:
        """Drop the active answer cached for the token with ``digest`` (it was revoked)."""
        self._cache.forget(digest)

    def _check(self, answer: Mapping[str, Any], now: float, require_aud: bool) -> None:
        if answer.get("active") is not True:
            raise TokenInactiveError("token is not active")
        check_claims(
            answer,
            issuer=self._issuer,
            audiences=self._audiences,
            now=now,
            leeway=self._leeway,
            require_aud=require_aud,
            require_exp=False,
            require_iss=False,
        )

    async def _answer(self, token: str, digest: bytes) -> tuple[Mapping[str, Any], float | None]:
        """The issuer's answer and until when it may be used again (None: not at all); an
        inactive one is remembered for ``introspection_negative_ttl``. With a shared store,
        the fleet's answer is used when there is one."""
        stored = await self._shared.get(digest) if self._shared is not None else None
        answer, until = stored if stored is not None else await self._ask_once(token, digest)
        if answer.get("active") is not True and until is not None:
            self._inactive.put(digest, answer, until=until)
        return answer, until

    async def _ask_once(self, token: str, digest: bytes) -> tuple[Mapping[str, Any], float | None]:
        """Ask the issuer; with a shared store, only when no other worker is asking already."""
        if self._shared is None:
            answer = await self._ask(token)
            return answer, self._deadline(answer)
        if self._cache_ttl <= 0:
            # Active answers are not kept, so another worker's would be of no use: ask now.
            return await self._ask_and_share(token, digest, self._shared)
        async with self._shared.asking(digest) as stored:
            return stored if stored is not None else await self._ask_and_share(token, digest, self._shared)

    async def _ask_and_share(
        self, token: str, digest: bytes, shared: SharedAnswers
    ) -> tuple[Mapping[str, Any], float | None]:
        """Ask, share the answer, and tell every worker when the token turned out inactive."""
        answer = await self._ask(token)
        until = self._deadline(answer)
        if until is not None:
            await shared.put(digest, answer, until)
        if answer.get("active") is not True and self._revocations is not None:
            await self._revocations.announce(digest)
        return answer, until

    def _deadline(self, answer: Mapping[str, Any]) -> float | None:
        return answer_deadline(
            answer, self._clock.time(), ttl=self._cache_ttl, negative_ttl=self._negative_ttl
        )

    async def _ask(self, token: str) -> Mapping[str, Any]:
        try:
            answer = await self._post(
                self._url, {"token": token, "token_type_hint": "access_token"}, self._timeout
            )
        except UpstreamError as exc:
            if exc.status in (401, 403) or exc.error in _CREDENTIAL_ERRORS:
                raise self._unavailable(CREDENTIALS_REJECTED, _with_code(exc)) from exc
            if exc.status == 400:
                self._answering()
                raise self._refused(token, exc) from exc
            raise self._unavailable(FAILING, str(exc)) from exc
        if not isinstance(answer, dict):
            raise self._unavailable(FAILING, "answer is not a JSON object")
        self._answering()
        return answer

    def _answering(self) -> None:
        if self._state != OK:
            self._state, self._last_error = OK, None
            logger.info("token introspection recovered")

    def _refused(self, token: str, exc: UpstreamError) -> RefusedTokenError:
        """A 400 is about this token, not an outage: 401 for it. The first is explained, as it
        usually means the issuer introspects no JWTs at all (oidc-provider, for one)."""
        if not self._refusal_explained:
            self._refusal_explained = True
            if _is_jwt(token):
                logger.warning(
                    "token introspection refused a JWT (%s): this issuer does not introspect JWT "
                    "access tokens: use JWT_ONLY or JWT_OR_INTROSPECT",
                    _with_code(exc),
                )
            else:
                logger.warning("introspection refused the token (%s)", _with_code(exc))
        return RefusedTokenError("introspection refused the token", _with_code(exc))

    def _unavailable(self, state: str, reason: str) -> IssuerUnavailableError:
        self._last_error = reason
        if self._state == state:
            logger.debug("token introspection failed: %s", reason)
        else:
            self._state = state
            if state == CREDENTIALS_REJECTED:
                logger.warning(
                    "token introspection credentials rejected (%s): check introspection_client_id "
                    "and introspection_client_secret; requests get 503 until it recovers",
                    reason,
                )
            else:
                logger.warning("token introspection failed: %s; requests get 503 until it recovers", reason)
        return IssuerUnavailableError("token introspection unavailable")


def answer_deadline(
    answer: Mapping[str, Any], now: float, *, ttl: float, negative_ttl: float
) -> float | None:
    """Until when ``answer`` may be used again, or None when it may not: an inactive one for
    ``negative_ttl``, an active one for ``ttl`` but never past its ``exp``."""
    if answer.get("active") is not True:
        return now + negative_ttl if negative_ttl > 0 else None
    if ttl <= 0:
        return None
    exp = answer.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return now + ttl
    return min(now + ttl, exp)


def _with_code(exc: UpstreamError) -> str:
    """``HTTP 400 unsupported_token_type``: the status and the OAuth error code, if any."""
    return f"{exc} {exc.error}" if exc.error else str(exc)


def _is_jwt(token: str) -> bool:
    try:
        parse_jwt(token)
    except JWTParseError:
        return False
    return True
