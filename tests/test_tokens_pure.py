"""The pure pieces of token validation: JWS parsing, claim checks, principals, the cache."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from authsec_sdk.runtime.errors import TokenInvalidError
from authsec_sdk.runtime.tokens.cache import TokenCache, token_digest
from authsec_sdk.runtime.tokens.claims import check_claims, principal_from_claims
from authsec_sdk.runtime.tokens.jwt_parse import JWTParseError, parse_jwt

ISSUER = "https://issuer.example"
RESOURCE = "https://api.example/mcp"
NOW = 1_800_000_000.0


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(value: object) -> str:
    return b64(json.dumps(value).encode())


NOT_UTF8 = b64(b"\xff\xfe{}")


# ---------------------------------------------------------------- parse_jwt
def test_parse_returns_decoded_parts_and_signing_input() -> None:
    header, claims = {"alg": "RS256", "kid": "k1"}, {"sub": "u", "n": [1, 2]}
    signature = b"\x00\xffsig"
    token = ".".join((segment(header), segment(claims), b64(signature)))
    parsed = parse_jwt(token)
    assert parsed.header == header
    assert parsed.claims == claims
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert parsed.signature == signature


def test_unsigned_jwt_still_parses_so_the_verifier_can_reject_it() -> None:
    parsed = parse_jwt(f"{segment({'alg': 'none'})}.{segment({'sub': 'u'})}.")
    assert parsed.signature == b""


@pytest.mark.parametrize(
    "token",
    [
        "opaque-token-value",
        "a.b",
        "a.b.c.d",
        f"{segment({'alg': 'RS256'})}.{segment({})}.c2ln.x",
        f"{segment({'alg': 'RS256'})}+.{segment({})}.c2ln",  # '+' is base64, not base64url
        f"{segment({'alg': 'RS256'})}.{segment({})}=.c2ln",  # padding is not allowed
        f"{segment({'alg': 'RS256'})}.{segment({})}.c2l/",
        f"{segment({'alg': 'RS256'})}.{segment({})}.a",  # impossible base64 length
        f".{segment({})}.c2ln",
        f"{b64(b'not json')}.{segment({})}.c2ln",
        f"{segment(['alg'])}.{segment({})}.c2ln",
        f"{segment({'alg': 'RS256'})}.{segment('claims')}.c2ln",
        f"{segment({'alg': 'RS256'})}.{segment(None)}.c2ln",
        f"{segment({'alg': 'RS256'})}.{NOT_UTF8}.c2ln",
        f"{segment({'alg': 'RS256'})}.{b64(b'[' * 100_000)}.c2ln",  # nesting bomb
        "é.é.é",
    ],
)
def test_anything_but_a_jws_is_a_parse_error(token: str) -> None:
    with pytest.raises(JWTParseError):
        parse_jwt(token)


def test_parse_error_is_an_invalid_token() -> None:
    assert issubclass(JWTParseError, TokenInvalidError)


# ---------------------------------------------------------------- check_claims
_DROP = object()


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": RESOURCE, "exp": NOW + 300, "iat": NOW, "sub": "u"}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not _DROP}


def check(claims: dict[str, Any], **options: Any) -> None:
    kwargs: dict[str, Any] = {
        "issuer": ISSUER,
        "audiences": frozenset({RESOURCE, "urn:alias"}),
        "now": NOW,
        "leeway": 60.0,
    }
    kwargs.update(options)
    check_claims(claims, **kwargs)


def rejected(claims: dict[str, Any], **options: Any) -> str:
    with pytest.raises(TokenInvalidError) as caught:
        check(claims, **options)
    return caught.value.description


def test_good_claims_pass() -> None:
    check(good_claims())


@pytest.mark.parametrize(
    "iss", [ISSUER + "/", "HTTPS://issuer.example", "https://issuer.example:443", None, 1]
)
def test_issuer_must_match_exactly(iss: object) -> None:
    assert rejected(good_claims(iss=iss)) == "issuer mismatch"


def test_missing_issuer_is_a_mismatch_unless_optional() -> None:
    assert rejected(good_claims(iss=_DROP)) == "issuer mismatch"
    check(good_claims(iss=_DROP), require_iss=False)
    assert rejected(good_claims(iss="https://other"), require_iss=False) == "issuer mismatch"


@pytest.mark.parametrize(
    "aud", [RESOURCE, [RESOURCE], ["https://other", RESOURCE], "urn:alias", ["x", "urn:alias", 7]]
)
def test_audience_may_be_a_string_or_a_list_naming_us(aud: object) -> None:
    check(good_claims(aud=aud))


@pytest.mark.parametrize(
    "aud",
    [
        "https://other.example/mcp",
        RESOURCE + "/",
        [],
        ["https://other"],
        "local-client",
        {"aud": RESOURCE},
        None,
        "",
    ],
)
def test_audience_not_naming_us_is_rejected(aud: object) -> None:
    assert rejected(good_claims(aud=aud)) == "audience mismatch"


def test_missing_audience_is_rejected_unless_optional() -> None:
    assert rejected(good_claims(aud=_DROP)) == "audience mismatch"
    check(good_claims(aud=_DROP), require_aud=False)
    assert rejected(good_claims(aud="https://other"), require_aud=False) == "audience mismatch"


def test_expiry_with_leeway() -> None:
    check(good_claims(exp=NOW - 59))
    assert rejected(good_claims(exp=NOW - 60)) == "token expired"
    assert rejected(good_claims(exp=NOW - 1), leeway=0) == "token expired"


def test_expiry_is_required_unless_optional() -> None:
    assert rejected(good_claims(exp=_DROP)) == "token has no expiry"
    check(good_claims(exp=_DROP), require_exp=False)


def test_not_before_and_issued_at_in_the_future() -> None:
    check(good_claims(nbf=NOW + 59, iat=NOW + 59))
    assert rejected(good_claims(nbf=NOW + 61)) == "token not yet valid"
    assert rejected(good_claims(iat=NOW + 61)) == "token issued in the future"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value", [True, False, "1900000000", None, [NOW], float("nan"), float("inf"), 10**400]
)
def test_time_claims_must_be_finite_numbers(name: str, value: object) -> None:
    assert rejected(good_claims(**{name: value})) == f"invalid {name} claim"


def test_descriptions_never_echo_claim_values() -> None:
    marker = "<script>\r\nX-Evil: 1"
    for claims in (good_claims(iss=marker), good_claims(aud=marker), good_claims(exp=marker)):
        assert marker not in rejected(claims)


# ---------------------------------------------------------------- principal_from_claims
def test_principal_from_space_delimited_scope() -> None:
    principal = principal_from_claims(good_claims(scope="read  write read", aud=[RESOURCE, "urn:alias"]))
    assert principal.subject == "u"
    assert principal.issuer == ISSUER
    assert principal.audience == (RESOURCE, "urn:alias")
    assert principal.scopes == ("read", "write")
    assert principal.expires_at == NOW + 300
    assert principal.active is True


@pytest.mark.parametrize("scp", [["read", "write"], "read write"])
def test_principal_scopes_from_scp(scp: object) -> None:
    assert principal_from_claims(good_claims(scp=scp)).scopes == ("read", "write")


def test_scope_wins_over_scp_and_scopes_are_case_sensitive() -> None:
    principal = principal_from_claims(good_claims(scope="Read", scp=["write"]))
    assert principal.scopes == ("Read",)
    assert not principal.has_any_scope(["read"])


def test_principal_tolerates_odd_optional_claims() -> None:
    principal = principal_from_claims({"sub": 5, "scope": 7, "aud": {"x": 1}}, active=False)
    assert (principal.subject, principal.issuer, principal.scopes, principal.audience) == ("", "", (), ())
    assert principal.expires_at is None
    assert principal.active is False


def test_principal_claims_are_a_read_only_copy() -> None:
    claims = good_claims()
    principal = principal_from_claims(claims)
    claims["sub"] = "changed"
    assert principal.claims["sub"] == "u"
    changes: tuple[Callable[[dict[str, Any]], object], ...] = (
        lambda c: c.__setitem__("sub", "x"),
        lambda c: c.update(sub="x"),
        lambda c: c.pop("sub"),
        lambda c: c.clear(),
        lambda c: c.setdefault("role", "admin"),
    )
    for change in changes:
        with pytest.raises(TypeError):
            change(principal.claims)
    assert principal.claims["sub"] == "u"
    # Still a real dict: it serializes and compares like the claims it came from.
    assert isinstance(principal.claims, dict)
    assert json.loads(json.dumps(principal.claims)) == good_claims()


# ---------------------------------------------------------------- TokenCache
def test_cache_entry_is_never_returned_at_or_after_its_deadline() -> None:
    cache: TokenCache[str] = TokenCache(10)
    tok = token_digest("tok")
    cache.put(tok, "value", until=NOW + 10)
    assert cache.get(tok, NOW + 9.9) == "value"
    assert cache.get(tok, NOW + 10) is None
    assert cache.get(tok, NOW) is None  # the expired entry is gone


def test_cache_evicts_the_least_recently_used_entry() -> None:
    cache: TokenCache[int] = TokenCache(2)
    a, b, c = (token_digest(t) for t in "abc")
    cache.put(a, 1, until=NOW + 10)
    cache.put(b, 2, until=NOW + 10)
    assert cache.get(a, NOW) == 1  # "b" is now the least recently used
    cache.put(c, 3, until=NOW + 10)
    assert cache.get(b, NOW) is None
    assert (cache.get(a, NOW), cache.get(c, NOW)) == (1, 3)


def test_cache_of_size_zero_stores_nothing() -> None:
    cache: TokenCache[int] = TokenCache(0)
    cache.put(token_digest("a"), 1, until=NOW + 10)
    assert cache.get(token_digest("a"), NOW) is None
