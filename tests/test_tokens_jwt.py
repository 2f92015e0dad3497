"""JWT validation against the real local issuer: JWKS fetching, header rules, signatures, claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import MovableClock
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authsec_sdk.runtime.config import Config, ValidationMode
from authsec_sdk.runtime.errors import IssuerUnavailableError, TokenInvalidError
from authsec_sdk.runtime.principal import Principal
from authsec_sdk.runtime.tokens import TokenValidator
from authsec_sdk.runtime.tokens.jwks import JWKSStore
from authsec_sdk.testing import LocalIssuer, SigningKey, generate_key
from authsec_sdk.testing.issuer import Fault

pytestmark = pytest.mark.anyio

RESOURCE = "http://127.0.0.1:8000/mcp"
ALIAS = "urn:example:mcp"


def config(issuer: LocalIssuer, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        **issuer.config_values(),
        "resource_uri": RESOURCE,
        "audience_aliases": (ALIAS,),
        "validation_mode": ValidationMode.JWT_ONLY,
    }
    values.update(overrides)
    return Config(**values)


def validator(
    issuer: LocalIssuer, http: httpx.AsyncClient, clock: MovableClock | None = None, **overrides: Any
) -> TokenValidator:
    return TokenValidator(config(issuer, **overrides), http, *([clock.clock] if clock else []))


async def accepted(v: TokenValidator, token: str) -> Principal:
    return await v.validate(token)


async def rejected(v: TokenValidator, token: str) -> str:
    with pytest.raises(TokenInvalidError) as caught:
        await v.validate(token)
    return caught.value.description


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A JWS built by hand, signed by ``sign(signing_input)`` (unsigned when None)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def flip_signature_bit(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{b64(bytes(raw))}"


def unknown_kid_token(issuer: LocalIssuer, kid: str) -> str:
    """Correctly signed by the issuer's key, but naming a kid it does not publish."""
    return issuer.mint(audience=RESOURCE, headers={"kid": kid})


# ---------------------------------------------------------------- good tokens
async def test_valid_rs256_token_gives_principal(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    token = issuer.mint(subject="alice", audience=RESOURCE, scopes=["mcp:read", "mcp:write"])
    principal = await accepted(validator(issuer, http), token)
    assert principal.subject == "alice"
    assert principal.issuer == issuer.issuer
    assert principal.audience == (RESOURCE,)
    assert principal.scopes == ("mcp:read", "mcp:write")
    assert principal.expires_at == claims_of(token)["exp"]
    assert principal.active


async def test_valid_es256_ps256_and_eddsa_tokens(http: httpx.AsyncClient) -> None:
    with LocalIssuer(algorithm="ES256") as es_issuer:
        v = validator(es_issuer, http)
        assert (await accepted(v, es_issuer.mint(audience=RESOURCE))).subject == "user-1"
        for algorithm in ("PS256", "EdDSA"):
            key = es_issuer.rotate_keys(algorithm=algorithm)
            v = validator(es_issuer, http)
            assert (await accepted(v, es_issuer.mint(audience=RESOURCE, key=key))).subject == "user-1"


async def test_audience_string_list_or_alias(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    for aud in (RESOURCE, [RESOURCE], ["https://other.example/mcp", RESOURCE], ALIAS, [ALIAS]):
        await accepted(v, issuer.mint(audience=aud))


# ---------------------------------------------------------------- algorithms
async def test_alg_none_is_rejected_even_if_configured(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    claims = claims_of(issuer.mint(audience=RESOURCE))
    token = forge({"alg": "none", "typ": "JWT", "kid": issuer.current_key.kid}, claims)
    assert await rejected(validator(issuer, http), token) == "signing algorithm not allowed"
    # Config.validate() forbids this; the verifier defends anyway.
    unsafe = validator(issuer, http, allowed_algorithms=("RS256", "none", "HS256"))
    assert await rejected(unsafe, token) == "signing algorithm not allowed"


async def test_hs256_signed_with_the_public_key_is_rejected(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    public_pem = issuer.current_key.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    public_jwk = json.dumps(issuer.jwks()["keys"][0]).encode()
    claims = claims_of(issuer.mint(audience=RESOURCE))
    unsafe = validator(issuer, http, allowed_algorithms=("RS256", "HS256"))
    for secret in (public_pem, public_jwk):
        token = forge(
            {"alg": "HS256", "typ": "JWT", "kid": issuer.current_key.kid},
            claims,
            lambda data, secret=secret: hmac.new(secret, data, hashlib.sha256).digest(),
        )
        assert await rejected(validator(issuer, http), token) == "signing algorithm not allowed"
        assert await rejected(unsafe, token) == "signing algorithm not allowed"


async def test_algorithm_outside_the_allow_list_is_rejected(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    rs384 = issuer.rotate_keys(algorithm="RS384")
    token = issuer.mint(audience=RESOURCE, key=rs384)
    assert await rejected(validator(issuer, http), token) == "signing algorithm not allowed"
    assert (await accepted(validator(issuer, http, allowed_algorithms=("RS384",)), token)).subject == "user-1"


async def test_algorithm_must_fit_the_key(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    # An ES256 header naming the issuer's RSA key: the key states alg RS256, so it cannot match.
    es_key = generate_key("ES256", kid=issuer.current_key.kid)
    token = issuer.mint(audience=RESOURCE, key=es_key)
    assert await rejected(validator(issuer, http), token) == "unknown signing key"


# ---------------------------------------------------------------- signatures
async def test_flipped_signature_bit_is_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    token = issuer.mint(audience=RESOURCE)
    assert await rejected(v, flip_signature_bit(token)) == "invalid signature"
    await accepted(v, token)


async def test_tampered_claims_are_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    header, _, signature = issuer.mint(audience=RESOURCE, scopes=["mcp:read"]).split(".")
    claims = claims_of(issuer.mint(audience=RESOURCE, scopes=["mcp:admin"]))
    token = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert await rejected(validator(issuer, http), token) == "invalid signature"


async def test_attacker_key_reusing_a_published_kid_is_rejected(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    attacker = generate_key("RS256", kid=issuer.current_key.kid)
    assert (
        await rejected(validator(issuer, http), issuer.mint(audience=RESOURCE, key=attacker))
        == "invalid signature"
    )


async def test_embedded_key_headers_are_never_trusted_or_fetched(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http)
    attacker = generate_key("RS256")
    evil_url = f"{issuer.url}/attacker/jwks"
    embedding = {"jwk": attacker.public_jwk(), "jku": evil_url, "x5u": evil_url, "x5c": ["MIIB"]}
    assert (
        await rejected(v, issuer.mint(audience=RESOURCE, key=attacker, headers=embedding))
        == "unknown signing key"
    )
    # The same headers on a genuine token change nothing: they are ignored.
    await accepted(v, issuer.mint(audience=RESOURCE, headers=embedding))
    assert issuer.counters.jwks == 1


# ---------------------------------------------------------------- header rules
async def test_crit_header_is_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    token = issuer.mint(audience=RESOURCE, headers={"crit": ["exp"]})
    assert await rejected(validator(issuer, http), token) == "unsupported critical header"


async def test_token_types(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    for typ in (None, "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"):
        await accepted(v, issuer.mint(audience=RESOURCE, typ=typ))
    for other in ("JOSE", "dpop+jwt", "id_token+jwt", "at+jwt ", 5):
        token = issuer.mint(audience=RESOURCE, typ=None, headers={"typ": other})
        assert await rejected(v, token) == "unsupported token type", other


async def test_strict_mode_accepts_only_access_token_types(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http, strict_rfc9068=True)
    for typ in ("at+jwt", "application/at+jwt", "AT+JWT"):
        await accepted(v, issuer.mint(audience=RESOURCE, typ=typ))
    for other in (None, "JWT"):
        assert await rejected(v, issuer.mint(audience=RESOURCE, typ=other)) == "unsupported token type", other


async def test_strict_mode_requires_rfc9068_claims(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, strict_rfc9068=True)
    for claim in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
        token = issuer.mint(audience=RESOURCE, omit=[claim])
        assert await rejected(v, token) == "missing required claim", claim


async def test_lenient_mode_needs_only_iss_exp_aud(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    principal = await accepted(v, issuer.mint(audience=RESOURCE, omit=["sub", "client_id", "iat", "jti"]))
    assert principal.subject == ""


# ---------------------------------------------------------------- claims
async def test_issuer_must_match_exactly(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    for variant in (
        issuer.issuer + "/",
        issuer.issuer + "/oauth",
        issuer.issuer.upper(),
        "https://evil.example",
    ):
        assert await rejected(v, issuer.mint(audience=RESOURCE, issuer=variant)) == "issuer mismatch", variant


async def test_audience_not_for_us_is_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    auds: tuple[Any, ...] = (None, "https://other.example/mcp", RESOURCE + "/", "local-client", [])
    for aud in auds:
        assert await rejected(v, issuer.mint(audience=aud)) == "audience mismatch", aud


async def test_expiry_and_leeway(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, clock_leeway=60)
    assert await rejected(v, issuer.mint(audience=RESOURCE, expires_in=-120)) == "token expired"
    await accepted(v, issuer.mint(audience=RESOURCE, expires_in=-10))
    assert await rejected(v, issuer.mint(audience=RESOURCE, omit=["exp"])) == "token has no expiry"


async def test_future_nbf_and_iat_are_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    later = int(time.time()) + 600
    assert await rejected(v, issuer.mint(audience=RESOURCE, claims={"nbf": later})) == "token not yet valid"
    assert (
        await rejected(v, issuer.mint(audience=RESOURCE, claims={"iat": later}))
        == "token issued in the future"
    )


async def test_non_numeric_exp_is_rejected(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    for exp in (True, "9999999999", None, 1e400):
        assert (
            await rejected(v, issuer.mint(audience=RESOURCE, claims={"exp": exp})) == "invalid exp claim"
        ), exp


async def test_cached_token_is_never_used_past_its_exp(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    # A generous leeway would accept the expired token on its claims alone; it is refused
    # because the cache entry dies at exp and re-verification no longer finds the key.
    clock = MovableClock()
    v = validator(issuer, http, clock, clock_leeway=60, jwks_cache_ttl=0.5, jwks_refetch_cooldown=0)
    token = issuer.mint(audience=RESOURCE, expires_in=1)
    await accepted(v, token)
    issuer.rotate_keys(keep_old=False)
    clock.advance(1.2)
    assert await rejected(v, token) == "unknown signing key"


# ---------------------------------------------------------------- kid lookup and refetch
async def test_hostile_kid_is_an_invalid_token(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http)
    for kid in ("' OR 1=1 --", "../../../../etc/passwd", "k\r\nX-Injected: 1", "%00", "k" * 5000, "", "☃"):
        assert await rejected(v, unknown_kid_token(issuer, kid)) == "unknown signing key", kid
    rs256 = RSAAlgorithm(RSAAlgorithm.SHA256)
    claims = claims_of(issuer.mint(audience=RESOURCE))
    for odd_kid in (123, ["k"], {"$ne": None}, True):
        header = {"alg": "RS256", "kid": odd_kid}
        token = forge(header, claims, lambda data: rs256.sign(data, issuer.current_key.private_key))
        assert await rejected(v, token) == "invalid key id", odd_kid


async def test_random_kids_cannot_make_us_hammer_the_issuer(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http)  # default cooldown: 5 s
    await accepted(v, issuer.mint(audience=RESOURCE))
    for _ in range(20):
        assert await rejected(v, unknown_kid_token(issuer, uuid.uuid4().hex)) == "unknown signing key"
    assert issuer.counters.jwks == 2  # the first unknown kid refetches; the cooldown holds the rest


async def test_unknown_kid_refetches_once_cooldown_allows(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http, jwks_refetch_cooldown=0)
    await accepted(v, issuer.mint(audience=RESOURCE))
    assert await rejected(v, unknown_kid_token(issuer, "nope")) == "unknown signing key"
    assert issuer.counters.jwks == 2


async def test_rotated_key_is_picked_up_after_the_cooldown(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    clock = MovableClock()
    v = validator(issuer, http, clock, jwks_refetch_cooldown=0.5)
    await accepted(v, issuer.mint(audience=RESOURCE))
    assert await rejected(v, unknown_kid_token(issuer, "bogus")) == "unknown signing key"  # refetches
    issuer.rotate_keys(keep_old=False)
    fresh = issuer.mint(audience=RESOURCE)
    assert await rejected(v, fresh) == "unknown signing key"  # within the cooldown of that refetch
    clock.advance(0.6)
    await accepted(v, fresh)
    assert issuer.counters.jwks == 3


async def test_concurrent_lookups_share_one_fetch(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    store = JWKSStore(config(issuer, jwks_refetch_cooldown=0), http)
    old_kid = issuer.current_key.kid
    found: list[str | None] = []

    async def lookup(kid: str) -> None:
        found.append((await store.get_key(kid, "RS256")).kid)

    async with anyio.create_task_group() as tg:  # cold start
        for _ in range(20):
            tg.start_soon(lookup, old_kid)
    assert issuer.counters.jwks == 1
    new_kid = issuer.rotate_keys().kid
    async with anyio.create_task_group() as tg:  # unknown kid
        for _ in range(20):
            tg.start_soon(lookup, new_kid)
    assert issuer.counters.jwks == 2
    assert found == [old_kid] * 20 + [new_kid] * 20


async def test_token_without_kid_needs_exactly_one_fitting_key(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    def without_kid() -> str:
        claims = claims_of(issuer.mint(audience=RESOURCE))
        return jwt.encode(
            claims, issuer.current_key.private_key, algorithm="RS256", headers={"typ": "at+jwt"}
        )

    await accepted(validator(issuer, http), without_kid())
    issuer.rotate_keys()
    assert await rejected(validator(issuer, http), without_kid()) == "unknown signing key"


# ---------------------------------------------------------------- which published keys are used
async def test_unusable_published_keys_are_skipped(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    ed = SigningKey("ed", "EdDSA", ed25519.Ed25519PrivateKey.generate())
    rsa_private = SigningKey(
        "rsa-private", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    rsa_public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    x_raw = x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def rsa_jwk(**extra: Any) -> dict[str, Any]:
        return {**RSAAlgorithm.to_jwk(rsa_public, as_dict=True), **extra}

    usable: dict[str, tuple[dict[str, Any], set[str]]] = {
        "ed": ({**OKPAlgorithm.to_jwk(ed.private_key.public_key(), as_dict=True)}, {"EdDSA"}),
        "rsa-private": (
            {
                **RSAAlgorithm.to_jwk(rsa_private.private_key, as_dict=True),
                "alg": "RS256",
                "key_ops": ["verify"],
            },
            {"RS256"},
        ),
        "rsa-no-alg": (rsa_jwk(), {"RS256", "PS256"}),
        "rsa-verify-op": (rsa_jwk(key_ops=["sign", "verify"]), {"RS256", "PS256"}),
        "p256": (ECAlgorithm.to_jwk(p256, as_dict=True), {"ES256"}),
    }
    unusable: dict[str, dict[str, Any]] = {
        "p384": ECAlgorithm.to_jwk(p384, as_dict=True),  # ES384 is not in allowed_algorithms
        "x25519": {"kty": "OKP", "crv": "X25519", "x": b64(x_raw)},
        "oct": {"kty": "oct", "k": b64(b"secret" * 8), "alg": "HS256"},
        "enc": rsa_jwk(use="enc"),
        "encrypt-op": rsa_jwk(key_ops=["encrypt"]),
        "rs512": rsa_jwk(alg="RS512"),
        "rsa-as-hmac": rsa_jwk(alg="HS256"),
        "rsa-as-ec": rsa_jwk(alg="ES256"),
        "rsa-list-alg": rsa_jwk(alg=["RS256"]),
        "garbage": {"kty": "RSA", "n": "!!not base64!!", "e": "AQAB"},
        "short-ec": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "no-crv": {"kty": "EC"},
        "kty-list": {"kty": ["RSA"]},
        "future": {"kty": "PQC"},
    }
    published: list[Any] = [
        *issuer.jwks()["keys"],
        *({**jwk, "kid": kid} for kid, (jwk, _) in usable.items()),
        *({**jwk, "kid": kid} for kid, jwk in unusable.items()),
        {**rsa_jwk(), "kid": 7},
        "not-a-key",
        None,
    ]
    issuer.jwks = lambda: {"keys": published}  # type: ignore[method-assign]
    store = JWKSStore(config(issuer), http)

    assert (await store.get_key(issuer.current_key.kid, "RS256")).algorithms == {"RS256"}
    for kid, (_, algorithms) in usable.items():
        for alg in algorithms:
            assert (await store.get_key(kid, alg)).algorithms == algorithms, kid
    for kid in unusable:
        for alg in ("RS256", "PS256", "ES256", "EdDSA"):
            with pytest.raises(TokenInvalidError):
                await store.get_key(kid, alg)
    assert issuer.counters.jwks == 2  # the first unknown kid refetched once; the cooldown held the rest

    # The usable exotic keys verify real tokens; a published private part is ignored.
    v = validator(issuer, http)
    assert (await accepted(v, issuer.mint(audience=RESOURCE, key=ed))).subject == "user-1"
    assert (await accepted(v, issuer.mint(audience=RESOURCE, key=rsa_private))).subject == "user-1"


# ---------------------------------------------------------------- JWKS endpoint failures
async def test_jwks_faults_without_cached_keys_are_issuer_unavailable(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.mint(audience=RESOURCE)
    faults: tuple[Fault, ...] = ("down", "http_500", "malformed")
    for fault in faults:
        issuer.faults.jwks = fault
        with pytest.raises(IssuerUnavailableError):
            await validator(issuer, http).validate(token)
    documents: tuple[Any, ...] = ({"nokeys": []}, {"keys": "abc"}, [], "keys")
    for document in documents:
        issuer.faults.jwks = None
        issuer.jwks = lambda document=document: document  # type: ignore[method-assign,misc]
        with pytest.raises(IssuerUnavailableError):
            await validator(issuer, http).validate(token)


async def test_jwks_timeout_is_issuer_unavailable(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    issuer.faults.jwks = "slow"
    started = time.monotonic()
    with pytest.raises(IssuerUnavailableError):
        await validator(issuer, http, http_timeout=0.5).validate(issuer.mint(audience=RESOURCE))
    assert time.monotonic() - started < 2


async def test_jwks_unreachable_is_issuer_unavailable(http: httpx.AsyncClient) -> None:
    with LocalIssuer() as gone:
        cfg = config(gone)
        token = gone.mint(audience=RESOURCE)
    with pytest.raises(IssuerUnavailableError):
        await TokenValidator(cfg, http).validate(token)


async def test_recovers_when_jwks_comes_back(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, jwks_refetch_cooldown=0)
    issuer.faults.jwks = "down"
    with pytest.raises(IssuerUnavailableError):
        await v.validate(issuer.mint(audience=RESOURCE))
    issuer.faults.jwks = None
    await accepted(v, issuer.mint(audience=RESOURCE))


async def test_expired_key_cache_keeps_serving_when_refresh_fails(
    issuer: LocalIssuer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    clock = MovableClock()
    v = validator(issuer, http, clock, jwks_cache_ttl=0.2, jwks_refetch_cooldown=0)
    await accepted(v, issuer.mint(audience=RESOURCE))
    clock.advance(0.3)
    issuer.faults.jwks = "http_500"
    with caplog.at_level(logging.WARNING, logger="authsec.tokens.jwks"):
        for _ in range(3):
            await accepted(v, issuer.mint(audience=RESOURCE))
    assert issuer.counters.jwks == 4  # the issuer is retried, but the cached keys keep working
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # A kid we cannot confirm while the issuer fails is an outage, not a forgery.
    with pytest.raises(IssuerUnavailableError):
        await v.validate(unknown_kid_token(issuer, "rotated-meanwhile"))
