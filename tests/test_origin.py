"""The Origin allow-list (DNS-rebinding defence), checked first, and CORS for listed origins."""

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
        assert r.json()["error"]["data"]["error"] == "forbidden"
        assert "access-control-allow-origin" not in r.headers
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


PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
MCP_REQUEST_HEADERS = {
    "authorization",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
}


def _listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


def test_preflight_from_a_listed_origin_is_answered_without_a_token(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    with protected_app(issuer, recorder, **SETTINGS) as p:
        r = httpx.options(p.url, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert {"GET", "POST", "DELETE"} <= {
        m.upper() for m in _listed(r.headers["access-control-allow-methods"])
    }
    assert _listed(r.headers["access-control-allow-headers"]) >= MCP_REQUEST_HEADERS
    assert {"www-authenticate", "mcp-session-id"} <= _listed(r.headers["access-control-expose-headers"])
    assert "origin" in _listed(r.headers["vary"])
    assert recorder.seen == []  # the handler never sees a preflight


def test_preflight_from_another_origin_is_403(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), **SETTINGS) as p:
        r = httpx.options(p.url, headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers


def test_every_answer_to_a_listed_origin_is_readable_by_the_browser(issuer: LocalIssuer) -> None:
    settings = {**SETTINGS, "tool_scopes": {"echo": [], "admin": ["notes:admin"]}}
    with protected_app(issuer, Recorder(), **settings) as p:
        token = issuer.mint(audience=p.url)
        origin = {"Origin": ALLOWED}
        unauthenticated = httpx.post(p.url, json=rpc("ping"), headers=origin)
        denied = httpx.post(
            p.url, json=rpc("tools/call", {"name": "admin"}), headers={**origin, **bearer(token)}
        )
        allowed = httpx.post(p.url, json=rpc("ping"), headers={**origin, **bearer(token)})
        no_origin = httpx.post(p.url, json=rpc("ping"), headers=bearer(token))
    assert (unauthenticated.status_code, denied.status_code, allowed.status_code) == (401, 403, 200)
    for r in (unauthenticated, denied, allowed):
        assert r.headers["access-control-allow-origin"] == ALLOWED
        assert "www-authenticate" in _listed(r.headers["access-control-expose-headers"])
    assert "access-control-allow-origin" not in no_origin.headers


def test_without_an_allow_list_a_preflight_needs_a_token(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), tool_scopes={"echo": []}) as p:
        r = httpx.options(p.url, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert r.status_code == 401
    assert "access-control-allow-origin" not in r.headers
