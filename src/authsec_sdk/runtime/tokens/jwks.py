"""The issuer's signing keys (RFC 7517), fetched, filtered and prepared once.

Preparing a key (parsing the JWK into a `cryptography` public key) costs far more than
verifying with it, so it happens at fetch time, never per request. Fetches are
single-flight: requests arriving during one wait for it rather than fail. Refetches
triggered by an unknown ``kid`` are rate-limited, so tokens with random kids cannot turn
us into a load generator against the issuer, while a rotated key is still picked up
within ``jwks_refetch_cooldown`` seconds.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import Algorithm, get_default_algorithms

from ..clock import SYSTEM_CLOCK, Clock
from ..config import SUPPORTED_ALGORITHMS, Config
from ..errors import IssuerUnavailableError
from ..logsafe import shown
from ..upstream import UpstreamError, fetch_json
from .refusal import RefusedTokenError

logger = logging.getLogger("authsec.tokens.jwks")

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
#: What each key type (and curve) may verify, per RFC 7518 §3 and RFC 8037.
_ALGORITHMS_BY_CURVE: Mapping[tuple[str, str | None], frozenset[str]] = {
    ("RSA", None): _RSA_ALGORITHMS,
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("OKP", "Ed448"): frozenset({"EdDSA"}),
}
#: JWS algorithms some key type could verify (plus HMAC): a key naming one its type cannot do
#: is a misconfigured or forged entry, not merely a key meant for something else.
_SIGNATURE_ALGORITHMS = frozenset().union(*_ALGORITHMS_BY_CURVE.values(), {"HS256", "HS384", "HS512"})
#: RFC 7518 §3.3: RSA keys for RS*/PS* must be at least this large.
MIN_RSA_BITS = 2048
#: JWK members that only a private key has; a published key carrying them is used as public.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
#: Distinct (kid, reason) warnings remembered, so a key set that changes on every fetch
#: cannot grow the memory without bound; past it, skipped keys are logged at DEBUG only.
_MAX_WARNED = 256


def verification_algorithms(cfg: Config) -> dict[str, Algorithm]:
    """PyJWT algorithm objects for the configured algorithms that we ever verify.

    Intersecting with `SUPPORTED_ALGORITHMS` drops ``none`` and every ``HS*`` even when
    an unvalidated config lists them: a resource server must never accept a token
    "signed" with nothing, or with its issuer's public key used as an HMAC secret.
    """
    available = get_default_algorithms()
    return {name: available[name] for name in cfg.allowed_algorithms if name in SUPPORTED_ALGORITHMS}


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One usable published key: its id, the algorithms it may verify, the prepared key.

    Compared by identity: a key is "still published" when the current set holds this very
    object, which the store keeps the same across fetches while the JWK does not change.
    """

    kid: str | None
    algorithms: frozenset[str]
    key: Any


class JWKSStore:
    """The issuer's usable signing keys, refreshed on expiry and on unknown ``kid``."""

    def __init__(self, cfg: Config, http: httpx.AsyncClient, clock: Clock = SYSTEM_CLOCK) -> None:
        self._url = cfg.jwks_url
        self._clock = clock
        self._timeout = cfg.http_timeout
        self._ttl = cfg.jwks_cache_ttl
        self._cooldown = cfg.jwks_refetch_cooldown
        self._algorithms = verification_algorithms(cfg)
        self._http = http
        self._keys: tuple[VerificationKey, ...] | None = None
        #: The same keys as a set, for `is_current`; and by their JWK, to be reused by the next fetch.
        self._current: frozenset[VerificationKey] = frozenset()
        self._by_jwk: dict[str, VerificationKey] = {}
        #: Set while a fetch is under way: every lookup that needs the keys meanwhile waits for it.
        self._in_flight: anyio.Event | None = None
        #: Bumped when a fetch ends (either way): a waiter that sees it move got its answer.
        self._generation = 0
        self._fetched_at = -math.inf  # monotonic start of the last successful fetch
        self._attempted_at = -math.inf  # ... of the last finished attempt: paces retries when failing
        self._kid_fetch_at = -math.inf  # ... of the last fetch an unknown kid caused: paces those
        self._failing = False
        #: (kid, reason) pairs already warned about: a bad key is reported once, not per fetch.
        self._warned: set[tuple[str, str]] = set()

    async def get_key(self, kid: str | None, alg: str) -> VerificationKey:
        """The key to verify a token whose header names ``kid`` and ``alg``.

        A token without ``kid`` matches only when exactly one usable key fits ``alg``.
        A lookup that finds a fetch under way answers from the cached keys when they hold
        the key, and otherwise waits for the fetch and decides on its result.
        An unknown ``kid`` causes a fetch at most once per ``jwks_refetch_cooldown``, counted
        from the fetches unknown kids caused (a scheduled refresh does not delay picking up a
        rotated key). Raises `TokenInvalidError` for a key the issuer does not publish, and
        `IssuerUnavailableError` when the keys cannot be had to decide.
        """
        now = self._clock.monotonic()
        if self._in_flight is not None and (cached := self._lookup(kid, alg)) is not None:
            return cached  # nobody waits on a refresh another request started
        fetched = self._in_flight is not None or self._refresh_due(now)
        if fetched:
            await self._fetch_shared(unknown_kid=False)
        found = self._lookup(kid, alg)
        if found is None and not fetched and now - self._kid_fetch_at >= self._cooldown:
            await self._fetch_shared(unknown_kid=True)
            found = self._lookup(kid, alg)
        if found is not None:
            return found
        if self._keys is None or self._failing:
            raise IssuerUnavailableError("signing keys unavailable")
        raise RefusedTokenError(
            "unknown signing key", f"kid {shown(kid)}, alg {alg}: no such key among {len(self._keys)} usable"
        )

    async def usable_keys(self) -> tuple[VerificationKey, ...]:
        """The keys tokens can be verified with now, fetched first when due: for diagnostics
        (``authsec doctor``), never on the request path. Raises `IssuerUnavailableError` when
        the key set cannot be had."""
        if self._in_flight is not None or self._refresh_due(self._clock.monotonic()):
            await self._fetch_shared(unknown_kid=False)
        if self._keys is None or self._failing:
            raise IssuerUnavailableError("signing keys unavailable")
        return self._keys

    def is_current(self, key: VerificationKey) -> bool:
        """Whether ``key`` is still published: an identity check, cheap enough for every cache hit."""
        return key in self._current

    def _refresh_due(self, now: float) -> bool:
        """No keys yet or past ``jwks_cache_ttl``; while failing, retried once per cooldown."""
        expired = self._keys is None or now - self._fetched_at >= self._ttl
        return expired and (not self._failing or now - self._attempted_at >= self._cooldown)

    def _lookup(self, kid: str | None, alg: str) -> VerificationKey | None:
        fits = [k for k in self._keys or () if alg in k.algorithms and (kid is None or k.kid == kid)]
        if kid is None and len(fits) != 1:
            return None
        return fits[0] if fits else None

    async def _fetch_shared(self, *, unknown_kid: bool) -> None:
        """Fetch the key set, or wait for the fetch already under way: one fetch at a time.

        A fetch abandoned by its cancelled caller ends without bumping the generation; its
        waiters then go round again and one of them fetches, so none is left stranded.
        """
        while (in_flight := self._in_flight) is not None:
            generation = self._generation
            await in_flight.wait()
            if self._generation != generation:
                return
        done = self._in_flight = anyio.Event()
        try:
            await self._refresh(self._clock.monotonic(), unknown_kid=unknown_kid)
        finally:
            self._in_flight = None
            done.set()

    async def _refresh(self, started: float, *, unknown_kid: bool) -> None:
        """One fetch; a failure keeps the cached keys and is logged when the outage starts."""
        try:
            keys = await self._fetch()
        except IssuerUnavailableError as exc:
            if not self._failing:
                served = "serving the cached keys" if self._keys is not None else "no keys to serve"
                logger.warning("JWKS fetch failed (%s); %s until it recovers", exc, served)
            self._failing = True
        else:
            if self._failing:
                logger.info("JWKS fetch recovered")
            self._failing = False
            self._by_jwk = keys
            self._keys = tuple(keys.values())
            self._current = frozenset(self._keys)
            self._fetched_at = started
        self._attempted_at = started
        if unknown_kid:
            self._kid_fetch_at = started
        self._generation += 1

    async def _fetch(self) -> dict[str, VerificationKey]:
        """The usable keys of a freshly fetched set, by their JWK (canonical JSON).

        A JWK published before keeps its prepared key object, so verifications cached with
        it stay valid; a key no longer published is gone from the set, and with it every
        verification made with it (see `is_current`).
        """
        try:
            document = await fetch_json(self._http, "GET", self._url, within=self._timeout)
        except UpstreamError as exc:
            raise IssuerUnavailableError(str(exc)) from exc
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise IssuerUnavailableError("answer has no keys list")
        prepared: dict[str, VerificationKey] = {}
        for jwk in keys:
            canonical = json.dumps(jwk, sort_keys=True)
            key = self._by_jwk.get(canonical) or self._prepare(jwk)
            if key is not None:
                prepared[canonical] = key
        logger.debug("JWKS fetched: %d of %d keys usable", len(prepared), len(keys))
        return prepared

    def _prepare(self, jwk: object) -> VerificationKey | None:
        """The usable form of one published key, or None (logged) when we cannot use it.

        A key that is unsafe to use (weak, symmetric, algorithm not fitting its type) is a
        WARNING, once per key id and reason; a key merely meant for something else (an
        encryption key, an algorithm we do not allow) is routine and only a DEBUG line.
        """
        try:
            return self._build(jwk)
        except _UnusableKeyError as exc:
            kid, reason = _kid_for_log(jwk), str(exc)
            seen = (kid, reason)
            if exc.unsafe and seen not in self._warned and len(self._warned) < _MAX_WARNED:
                self._warned.add(seen)
                logger.warning("JWKS key %r is never used: %s", kid, reason)
            else:
                logger.debug("JWKS key %r skipped: %s", kid, reason)
            return None

    def _build(self, jwk: object) -> VerificationKey:
        if not isinstance(jwk, dict):
            raise _UnusableKeyError("not a JSON object")
        if jwk.get("kty") == "oct":
            raise _UnusableKeyError("symmetric (oct) key: a shared secret is never published", unsafe=True)
        if not _algorithms_for_type(jwk):
            raise _UnusableKeyError("unsupported key type or curve")
        if "use" in jwk and jwk["use"] != "sig":
            raise _UnusableKeyError("not a signing key (use)")
        key_ops = jwk.get("key_ops")
        if key_ops is not None and not (isinstance(key_ops, list) and "verify" in key_ops):
            raise _UnusableKeyError("not a verification key (key_ops)")
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _UnusableKeyError("kid is not a string")
        algorithms = self._permitted_algorithms(jwk)
        if not algorithms:
            raise _UnusableKeyError("algorithm not allowed")
        public = {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}
        try:  # every algorithm of one key type parses JWKs the same way
            key = self._algorithms[min(algorithms)].from_jwk(public)
        except Exception as exc:  # any malformed key material: skip this key, keep the others
            raise _UnusableKeyError(f"unreadable key material ({type(exc).__name__})") from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise _UnusableKeyError(
                f"RSA key of {key.key_size} bits is too weak (RFC 7518 §3.3 requires {MIN_RSA_BITS})",
                unsafe=True,
            )
        return VerificationKey(kid=kid, algorithms=algorithms, key=key)

    def _permitted_algorithms(self, jwk: dict[str, Any]) -> frozenset[str]:
        """Allowed algorithms this key may verify: by its kty/crv, narrowed by its ``alg``."""
        by_type = _algorithms_for_type(jwk)
        alg = jwk.get("alg")
        if alg is not None:
            if isinstance(alg, str) and alg in _SIGNATURE_ALGORITHMS and alg not in by_type:
                crv = jwk.get("crv")
                raise _UnusableKeyError(
                    f"alg {alg} does not fit the key ({jwk['kty']}{f' {crv}' if crv else ''})", unsafe=True
                )
            by_type = by_type & {alg} if isinstance(alg, str) else frozenset()
        return by_type & self._algorithms.keys()


class _UnusableKeyError(Exception):
    """Why one published key is skipped; ``unsafe`` when using it would weaken verification."""

    def __init__(self, reason: str, *, unsafe: bool = False) -> None:
        super().__init__(reason)
        self.unsafe = unsafe


def _algorithms_for_type(jwk: dict[str, Any]) -> frozenset[str]:
    kty = jwk.get("kty")
    crv = None if kty == "RSA" else jwk.get("crv")
    if not isinstance(kty, str) or not (crv is None or isinstance(crv, str)):
        return frozenset()
    return _ALGORITHMS_BY_CURVE.get((kty, crv), frozenset())


def _kid_for_log(jwk: object) -> str:
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    return kid[:64] if isinstance(kid, str) else "?"
