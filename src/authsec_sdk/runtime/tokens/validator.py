"""One entry point for token validation, per `Config.effective_validation_mode`.

Whatever goes wrong, `validate` raises only `TokenInvalidError` (including
`TokenInactiveError`, 401) or `IssuerUnavailableError` (503): an unexpected exception
means we could not establish that the token is good, so it fails closed as invalid.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config, ValidationMode
from ..errors import IssuerUnavailableError, TokenInvalidError
from ..issuer_client import FormPost
from ..logsafe import RateLimitedLog
from ..principal import Principal
from ..shared.answers import SharedAnswers
from ..shared.revocation import Revocations
from .claims import principal_from_claims, scopes_of
from .introspection import Introspector
from .jwks import JWKSStore
from .jwt_parse import JWTParseError
from .jwt_verify import JWTVerifier
from .refusal import RefusedTokenError

if TYPE_CHECKING:
    from ..shared.store import SharedStore

logger = logging.getLogger("authsec.tokens")


class TokenValidator:
    """Validates bearer tokens for one protected resource; share one per application."""

    def __init__(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        clock: Clock = SYSTEM_CLOCK,
        *,
        shared: SharedStore | None = None,
        introspection_post: FormPost | None = None,
    ) -> None:
        mode = cfg.effective_validation_mode
        strategies: dict[ValidationMode, Callable[[str], Awaitable[Principal]]] = {
            ValidationMode.JWT_ONLY: self._verify_jwt,
            ValidationMode.INTROSPECTION_ONLY: self._introspected_principal,
            ValidationMode.JWT_OR_INTROSPECT: self._jwt_or_introspected_principal,
            ValidationMode.JWT_AND_INTROSPECT: self._jwt_and_introspected_principal,
        }
        if mode not in strategies:
            raise ValueError("no validation mode: configure jwks_url and/or introspection_url")
        self._strategy = strategies[mode]
        self._issuer = cfg.issuer
        self._claim_paths = cfg.claim_paths
        uses_jwt = mode is not ValidationMode.INTROSPECTION_ONLY
        uses_introspection = cfg.introspects
        self._jwt = JWTVerifier(cfg, JWKSStore(cfg, http, clock), clock) if uses_jwt else None
        self._introspector = (
            self._introspector_for(cfg, http, clock, shared, introspection_post)
            if uses_introspection
            else None
        )
        self._refusals = RateLimitedLog(logger)
        self._failures = RateLimitedLog(logger)

    def _introspector_for(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        clock: Clock,
        shared: SharedStore | None,
        post: FormPost | None,
    ) -> Introspector:
        """With a shared store, answers come from the fleet, and a revocation any worker learns
        empties this worker's caches of that token."""
        if shared is None:
            return Introspector(cfg, http, clock, post=post)
        revocations = Revocations(shared)
        revocations.listen(self.forget)
        answers = SharedAnswers(shared, claim_seconds=cfg.http_timeout, clock=clock)
        return Introspector(cfg, http, clock, shared=answers, revocations=revocations, post=post)

    def forget(self, digest: bytes) -> None:
        """Drop what the local caches hold for the token with ``digest``: it was revoked."""
        if self._jwt is not None:
            self._jwt.forget(digest)
        if self._introspector is not None:
            self._introspector.forget(digest)

    def introspection_status(self) -> dict[str, Any] | None:
        """The introspection endpoint's state for health checks; None when it is not used."""
        return self._introspector.status() if self._introspector is not None else None

    async def validate(self, token: str) -> Principal:
        """The principal for ``token``; raises `TokenInvalidError` or `IssuerUnavailableError`.

        Why a token was refused is logged at DEBUG, never with the token, and rate-limited:
        clients choose how many bad tokens to send.
        """
        try:
            return await self._strategy(token)
        except TokenInvalidError as exc:
            detail = f" ({exc.detail})" if isinstance(exc, RefusedTokenError) else ""
            self._refusals.log(logging.DEBUG, "token refused: %s%s", exc.description, detail)
            raise
        except IssuerUnavailableError:
            raise
        except Exception as exc:
            # The message could quote token data, so log the type and where it happened only.
            self._failures.log(
                logging.ERROR,
                "token validation failed unexpectedly with %s; treated as invalid\n%s",
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            raise TokenInvalidError("token could not be validated") from None

    async def _verify_jwt(self, token: str) -> Principal:
        assert self._jwt is not None
        return await self._jwt.verify(token)

    async def _introspect(self, token: str, *, require_aud: bool) -> Mapping[str, Any]:
        assert self._introspector is not None
        return await self._introspector.introspect(token, require_aud=require_aud)

    async def _jwt_or_introspected_principal(self, token: str) -> Principal:
        """JWTs are verified locally; only a token that is not a JWT at all is introspected.

        A JWT that fails verification is rejected, not retried: introspection must not
        become a way around a bad signature.
        """
        try:
            return await self._verify_jwt(token)
        except JWTParseError:
            return await self._introspected_principal(token)

    async def _introspected_principal(self, token: str) -> Principal:
        answer = await self._introspect(token, require_aud=True)
        # ``iss`` is optional in an answer; when present it was checked to be ours.
        return principal_from_claims({"iss": self._issuer, **answer}, claim_paths=self._claim_paths)

    async def _jwt_and_introspected_principal(self, token: str) -> Principal:
        """Identity from the verified JWT; liveness (and possibly narrower scopes) from the issuer.

        The JWT's audience is already verified, so the answer need not repeat ``aud``.
        """
        principal = await self._verify_jwt(token)
        answer = await self._introspect(token, require_aud=False)
        if "scope" not in answer:
            return principal
        live = set(scopes_of(answer))
        return dataclasses.replace(principal, scopes=tuple(s for s in principal.scopes if s in live))
