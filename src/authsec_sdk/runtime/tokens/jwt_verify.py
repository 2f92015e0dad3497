"""Verify a JWT access token against the issuer's published keys (RFC 9068, RFC 8725).

The algorithm is taken from the token only to pick among those we allow and the key
permits; the token never chooses its own key (``jku``, ``x5u``, ``jwk`` and ``x5c`` are
ignored) and never weakens verification (``none``/``HS*`` are refused, ``crit`` is
rejected because we understand no extensions). Signatures are checked inline on the
event loop: a single RSA/EC verify is tens of microseconds, cheaper than a thread hop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config
from ..logsafe import shown
from ..principal import Principal
from .cache import TokenCache, token_digest
from .claims import check_claims, principal_from_claims
from .jwks import JWKSStore, VerificationKey, verification_algorithms
from .jwt_parse import ParsedJWT, parse_jwt
from .refusal import RefusedTokenError
from .singleflight import SingleFlight

_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_RFC9068_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")


class JWTVerifier:
    """Turns a JWT into its verified claims, or raises `TokenInvalidError`."""

    def __init__(self, cfg: Config, jwks: JWKSStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self._jwks = jwks
        self._clock = clock
        self._algorithms = verification_algorithms(cfg)
        self._issuer = cfg.issuer
        self._audiences = cfg.accepted_audiences
        self._leeway = cfg.clock_leeway
        self._strict = cfg.strict_rfc9068
        self._claim_paths = cfg.claim_paths
        #: Verified principals with the key that verified them.
        self._cache: TokenCache[tuple[Principal, VerificationKey]] = TokenCache(cfg.token_cache_size)
        self._flights: SingleFlight[Principal] = SingleFlight()

    async def verify(self, token: str) -> Principal:
        """The principal of ``token`` once its header, signature and claims all pass.

        Raises `JWTParseError` when ``token`` is not a JWT at all, other
        `TokenInvalidError`s when it fails, `IssuerUnavailableError` when the keys
        cannot be fetched. A token verified before is answered from a cache without
        checking again: an entry is stored only after every check passed, is dropped at
        ``exp`` or as soon as its key is no longer published, and the other time checks
        (``nbf``, ``iat``) cannot start failing later. Concurrent requests with the same
        token not yet in the cache share one check.
        """
        now = self._clock.time()
        digest = token_digest(token)
        cached = self._cache.get(digest, now)
        if cached is not None:
            principal, key = cached
            if self._jwks.is_current(key):
                return principal
            self._cache.forget(digest)
        return await self._flights.run(digest, lambda: self._verify_and_remember(token, digest, now))

    def forget(self, digest: bytes) -> None:
        """Drop the cached verification of the token with ``digest`` (it was revoked)."""
        self._cache.forget(digest)

    async def _verify_and_remember(self, token: str, digest: bytes, now: float) -> Principal:
        claims, key = await self._verify_uncached(parse_jwt(token), now)
        principal = principal_from_claims(claims, claim_paths=self._claim_paths)
        self._cache.put(digest, (principal, key), until=claims["exp"])
        return principal

    async def _verify_uncached(
        self, parsed: ParsedJWT, now: float
    ) -> tuple[Mapping[str, Any], VerificationKey]:
        header = parsed.header
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise RefusedTokenError("signing algorithm not allowed", f"alg {shown(alg)}")
        if "crit" in header:
            raise RefusedTokenError("unsupported critical header", f"crit {shown(header['crit'])}")
        self._check_type(header.get("typ"))
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise RefusedTokenError("invalid key id", f"kid {shown(kid)}")
        key = await self._jwks.get_key(kid, alg)
        if not self._algorithms[alg].verify(parsed.signing_input, key.key, parsed.signature):
            raise RefusedTokenError("invalid signature", f"kid {shown(kid)}, alg {alg}")
        claims = parsed.claims
        missing = [name for name in _RFC9068_CLAIMS if name not in claims] if self._strict else []
        if missing:
            raise RefusedTokenError("missing required claim", f"no {', '.join(missing)}")
        check_claims(claims, issuer=self._issuer, audiences=self._audiences, now=now, leeway=self._leeway)
        return claims, key

    def _check_type(self, typ: object) -> None:
        """``typ`` may be absent, ``JWT`` or ``at+jwt``; only the at+jwt forms when strict."""
        if typ is None and not self._strict:
            return
        accepted = _ACCESS_TOKEN_TYPES if self._strict else _TYPES
        if not isinstance(typ, str) or typ.lower() not in accepted:
            raise RefusedTokenError("unsupported token type", f"typ {shown(typ)}")
