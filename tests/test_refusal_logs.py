"""Why a token was refused is logged at DEBUG: with the values that failed, never the token,
attacker-chosen values truncated and quoted, and at a bounded rate."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import Protected, Recorder, bearer, protected_app, rpc

from authsec_sdk.runtime import ValidationMode
from authsec_sdk.runtime.logsafe import RateLimitedLog, shown
from authsec_sdk.testing import LocalIssuer, generate_key

LOGGER = "authsec.tokens"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.DEBUG]


def app(issuer: LocalIssuer, mode: ValidationMode = ValidationMode.JWT_ONLY, **overrides: Any) -> Any:
    return protected_app(issuer, Recorder(), validation_mode=mode, **overrides)


def refused(client: httpx.Client, p: Protected, token: str) -> None:
    assert client.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code == 401


# ---------------------------------------------------------------- through real requests
def test_each_refusal_says_what_failed_without_the_token(
    issuer: LocalIssuer, client: httpx.Client, debug_log: pytest.LogCaptureFixture
) -> None:
    forged_iss = "https://evil.example/" + "x" * 300 + "\r\nINFO forged log line"
    with app(issuer) as p:
        tokens = [
            issuer.mint(audience=p.url, issuer=forged_iss),
            issuer.mint(audience=["https://other.example/mcp", "urn:x"]),
            issuer.mint(audience=p.url, expires_in=-600),
            issuer.mint(audience=p.url, headers={"kid": "k\r\n" * 100}),
            issuer.mint(audience=p.url, key=generate_key(kid=issuer.current_key.kid)),
            issuer.mint(audience=p.url, typ=None, headers={"typ": "dpop+jwt"}),
            "not-a-jwt",
        ]
        for token in tokens:
            refused(client, p, token)
    lines = refusals(debug_log)
    iss_shown = repr(forged_iss[:100]) + "..."
    assert lines[0] == f"token refused: issuer mismatch (iss {iss_shown}, expected {issuer.issuer!r})"
    assert lines[1] == (
        "token refused: audience mismatch (aud ['https://other.example/mcp', 'urn:x'], "
        f"expected one of [{p.url!r}])"
    )
    assert lines[2].startswith("token refused: token expired (exp ")
    assert "was 600s ago, leeway 60s)" in lines[2] or "was 601s ago, leeway 60s)" in lines[2]
    kid_shown = repr(("k\r\n" * 100)[:100]) + "..."
    assert (
        lines[3]
        == f"token refused: unknown signing key (kid {kid_shown}, alg RS256: no such key among 1 usable)"
    )
    assert lines[4] == f"token refused: invalid signature (kid {issuer.current_key.kid!r}, alg RS256)"
    assert lines[5] == "token refused: unsupported token type (typ 'dpop+jwt')"
    assert lines[6] == "token refused: not a JWT"
    assert all("\n" not in line and len(line) < 400 for line in lines)
    for token in tokens:
        assert token not in debug_log.text and token.rpartition(".")[2] not in debug_log.text


def test_introspection_refusals_are_explained_too(
    issuer: LocalIssuer, client: httpx.Client, debug_log: pytest.LogCaptureFixture
) -> None:
    issuer.introspects_jwts = False
    with app(issuer, ValidationMode.INTROSPECTION_ONLY) as p:
        revoked = issuer.mint_opaque(audience=p.url)
        issuer.revoke(revoked)
        refused(client, p, revoked)
        refused(client, p, issuer.mint(audience=p.url))
    assert refusals(debug_log) == [
        "token refused: token is not active",
        "token refused: introspection refused the token (HTTP 400 unsupported_token_type)",
    ]


def test_a_flood_of_bad_tokens_writes_at_most_ten_lines(
    issuer: LocalIssuer, client: httpx.Client, debug_log: pytest.LogCaptureFixture
) -> None:
    with app(issuer) as p:
        bad = issuer.mint(audience="https://other.example/mcp")
        for _ in range(40):
            refused(client, p, bad)
    assert len(refusals(debug_log)) == 10


def test_no_refusal_lines_when_debug_is_off(
    issuer: LocalIssuer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with app(issuer) as p:
        refused(client, p, issuer.mint(audience="https://other.example/mcp"))
    assert refusals(caplog) == []


# ---------------------------------------------------------------- the helpers themselves
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limited_log_counts_what_it_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.ratelimit")
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), limit=3, window=10, clock=clock)
    for i in range(8):
        log.log(logging.DEBUG, "line %d", i)
    clock.now += 9.9
    log.log(logging.DEBUG, "still the same window")
    clock.now += 0.1
    log.log(logging.DEBUG, "next window")
    log.log(logging.DEBUG, "and another")
    clock.now += 60
    log.log(logging.DEBUG, "after a quiet spell")
    assert [r.getMessage() for r in caplog.records] == [
        "line 0",
        "line 1",
        "line 2",
        "6 more such lines suppressed in 10s",
        "next window",
        "and another",
        "after a quiet spell",
    ]


def test_rate_limited_log_does_nothing_below_the_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.ratelimit.off")
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("test.ratelimit.off"), limit=1, window=10, clock=clock)
    for _ in range(5):
        log.log(logging.DEBUG, "hidden")
    log.log(logging.INFO, "shown")
    log.log(logging.INFO, "suppressed")
    clock.now += 10
    log.log(logging.INFO, "next")
    assert [r.getMessage() for r in caplog.records] == [
        "shown",
        "1 more such lines suppressed in 10s",
        "next",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("a\r\nb\"c'", repr("a\r\nb\"c'")),
        ("x" * 150, repr("x" * 100) + "..."),
        (None, "None"),
        (1700000000, "1700000000"),
        pytest.param(10**5000, "<int>", id="huge-int"),
        (float("nan"), "<float>"),
        (["a", 1, None], "['a', 1, None]"),
        (list(range(9)), "[0, 1, 2, 3, 4, ...]"),
        ({"nested": "object"}, "<dict>"),
    ],
)
def test_shown_truncates_and_quotes(value: object, expected: str) -> None:
    assert shown(value) == expected
