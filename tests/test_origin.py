"""The Origin allow-list (DNS-rebinding defence): checked first, before authentication."""

from __future__ import annotations

from typing import Any

import httpx
from helpers import Recorder, bearer, protected_app, rpc

from authsec_sdk.testing import LocalIssuer

ALLOWED = "https://app.example"
SETTINGS: dict[str, Any] = {"tool_scopes": {"echo": []}, "allowed_origins": (ALLOWED,)}


def test_foreign_origin_gets_403_before_authentication(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    with protected_app(issuer, recorder, **SETTINGS) as p:
        token = issuer.mint(audience=p.url)
        with_token = httpx.post(
            p.url, json=rpc("ping"), headers={"Origin": "https://evil.example", **bearer(token)}
        )
        without_token = httpx.post(p.url, json=rpc("ping"), headers={"Origin": "https://evil.example"})
    for r in (with_token, without_token):
        assert r.status_code == 403
        assert "www-authenticate" not in r.headers  # no step-up: no scope can cure it
        assert r.json()["error"] == "forbidden"
    assert recorder.seen == []


def test_allowed_origin_and_no_origin_pass(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    with protected_app(issuer, recorder, **SETTINGS) as p:
        token = issuer.mint(audience=p.url)
        assert (
            httpx.post(p.url, json=rpc("ping"), headers={"Origin": ALLOWED, **bearer(token)}).status_code
            == 200
        )
        assert httpx.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code == 200
        # An allowed origin does not replace the token.
        assert httpx.post(p.url, json=rpc("ping"), headers={"Origin": ALLOWED}).status_code == 401
    assert len(recorder.seen) == 2


def test_a_second_origin_header_cannot_sneak_past(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), **SETTINGS) as p:
        token = issuer.mint(audience=p.url)
        headers = [
            ("Origin", ALLOWED),
            ("Origin", "https://evil.example"),
            ("Authorization", f"Bearer {token}"),
        ]
        assert httpx.post(p.url, json=rpc("ping"), headers=headers).status_code == 403


def test_no_allow_list_means_no_check(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), tool_scopes={"echo": []}) as p:
        token = issuer.mint(audience=p.url)
        r = httpx.post(
            p.url, json=rpc("ping"), headers={"Origin": "https://anything.example", **bearer(token)}
        )
    assert r.status_code == 200
