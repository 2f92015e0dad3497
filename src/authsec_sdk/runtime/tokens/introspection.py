"""Ask the issuer about a token (RFC 7662), failing closed.

The token travels only in the POST body, the resource server authenticates with HTTP
Basic, and only a JSON ``true`` in ``active`` counts. Any trouble reaching the issuer or
reading its answer is `IssuerUnavailableError` (503), never a pass: we cannot tell a
revoked token from a good one without an answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..config import Config
from ..errors import IssuerUnavailableError, TokenInactiveError
from ..upstream import UpstreamError, fetch_json
from .cache import TokenCache
from .claims import check_claims

logger = logging.getLogger("authsec.tokens.introspection")


class Introspector:
    """RFC 7662 client for one issuer, with an optional short-lived answer cache."""

    def __init__(self, cfg: Config, http: httpx.AsyncClient) -> None:
        self._url = cfg.introspection_url
        self._auth = httpx.BasicAuth(cfg.introspection_client_id, cfg.introspection_client_secret)
        self._timeout = cfg.http_timeout
        self._issuer = cfg.issuer
        self._audiences = cfg.accepted_audiences
        self._leeway = cfg.clock_leeway
        self._http = http
        #: Whether the last call failed: an outage is logged when it starts and ends, not
        #: once per request, so a down issuer cannot flood the logs.
        self._failing = False
        self._cache_ttl = cfg.introspection_cache_ttl
        # A TTL of 0 turns caching off: a cache of size 0 stores nothing.
        self._cache: TokenCache[Mapping[str, Any]] = TokenCache(
            cfg.token_cache_size if cfg.introspection_cache_ttl > 0 else 0
        )

    async def introspect(self, token: str, *, require_aud: bool) -> Mapping[str, Any]:
        """The issuer's answer for an active ``token`` that is for us.

        ``iss``, ``exp``, ``nbf`` and ``aud`` are checked when present; ``require_aud``
        rejects an answer without ``aud`` (use it unless the audience was verified some
        other way). Raises `TokenInactiveError`, `TokenInvalidError` or
        `IssuerUnavailableError`.
        """
        now = time.time()
        answer = self._cache.get(token, now)
        if answer is not None:
            self._check(answer, now, require_aud)
            return answer
        answer = await self._ask(token)
        self._check(answer, now, require_aud)
        exp = answer.get("exp")  # already checked to be a number when present
        until = now + self._cache_ttl if exp is None else min(now + self._cache_ttl, exp)
        self._cache.put(token, answer, until=until)
        return answer

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

    async def _ask(self, token: str) -> Mapping[str, Any]:
        try:
            answer = await fetch_json(
                self._http,
                "POST",
                self._url,
                within=self._timeout,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
            )
        except UpstreamError as exc:
            raise self._unavailable(str(exc)) from exc
        if not isinstance(answer, dict):
            raise self._unavailable("answer is not a JSON object")
        if self._failing:
            self._failing = False
            logger.info("token introspection recovered")
        return answer

    def _unavailable(self, reason: str) -> IssuerUnavailableError:
        if self._failing:
            logger.debug("token introspection failed: %s", reason)
        else:
            self._failing = True
            logger.warning("token introspection failed: %s; requests get 503 until it recovers", reason)
        return IssuerUnavailableError("token introspection unavailable")
