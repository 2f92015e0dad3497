"""The middleware over real HTTP: challenges, status codes, bodies, body replay, principal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import Recorder, bearer, call_tool, challenge_params, protected_app, rpc

from authsec_sdk.runtime import PolicyMode, ValidationMode
from authsec_sdk.testing import LocalIssuer

TOOLS = {"public_tool": [], "read_tool": ["mcp:read"], "admin_tool": ["mcp:admin", "mcp:root"]}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def local(**extra: Any) -> dict[str, Any]:
    return {"tool_scopes": TOOLS, "supported_scopes": ("mcp:read", "mcp:admin"), **extra}


def test_missing_token_gets_bare_challenge_with_metadata_and_no_scope(
    issuer: LocalIssuer, recorder: Recorder
) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        r = httpx.post(p.url, json=rpc("initialize"))
    assert r.status_code == 401
    params = challenge_params(r.headers["www-authenticate"])
    assert params["realm"]
    assert params["resource_metadata"] == f"{p.base}/.well-known/oauth-protected-resource/mcp"
    assert "scope" not in params  # no baseline configured: nothing is asked for
    assert "error" not in params and "error_description" not in params
    # The body is never read: a JSON post gets a JSON-RPC error with id null.
    assert r.json()["id"] is None and r.json()["error"]["code"] == -32001
    assert r.json()["error"]["message"] == "bearer token required"
    assert recorder.seen == []


def test_every_method_needs_a_token(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        for method in ("GET", "POST", "DELETE", "PUT", "OPTIONS"):
            assert httpx.request(method, p.url).status_code == 401, method
    assert recorder.seen == []


def test_other_scheme_is_treated_as_no_token(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        r = httpx.get(p.url, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    assert "error" not in challenge_params(r.headers["www-authenticate"])


def test_query_string_tokens_are_ignored(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        r = httpx.get(p.url, params={"access_token": token})
    assert r.status_code == 401
    assert recorder.seen == []


@pytest.mark.parametrize(
    "headers",
    [
        [("Authorization", "Bearer"), ("X", "1")],
        [("Authorization", "Bearer a b")],
        [("Authorization", "Bearer a,b")],
    ],
)
def test_malformed_authorization_is_400_invalid_request(
    issuer: LocalIssuer, recorder: Recorder, headers: list[tuple[str, str]]
) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        r = httpx.get(p.url, headers=headers)
    assert r.status_code == 400
    assert challenge_params(r.headers["www-authenticate"])["error"] == "invalid_request"


def test_two_authorization_headers_are_400(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        r = httpx.get(
            p.url, headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        )
    assert r.status_code == 400
    assert recorder.seen == []


def test_lowercase_scheme_is_accepted(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(subject="alice", audience=p.url)
        r = httpx.get(p.url, headers={"Authorization": f"bEaReR {token}"})
    assert r.status_code == 200
    assert r.json()["subject"] == "alice"


@pytest.mark.parametrize(
    ("mint", "description"),
    [
        ({"expires_in": -300}, "token expired"),
        ({"audience": "https://other.example/mcp"}, "audience mismatch"),
        ({"issuer": "https://evil.example"}, "issuer mismatch"),
    ],
)
def test_bad_tokens_get_invalid_token(
    issuer: LocalIssuer, recorder: Recorder, mint: dict[str, object], description: str
) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(**{"audience": p.url, **mint})  # type: ignore[arg-type]
        r = httpx.post(p.url, json=rpc("tools/list", id="abc"), headers=bearer(token))
    assert r.status_code == 401
    params = challenge_params(r.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["error_description"] == description
    assert r.json()["id"] is None  # the body is never read
    assert r.json()["error"]["data"] == {"error": "invalid_token", "error_description": description}
    assert recorder.seen == []


def test_garbage_token_is_401_never_500(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        for token in ("abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 5000):
            r = httpx.get(p.url, headers=bearer(token))
            assert r.status_code == 401, token
            assert challenge_params(r.headers["www-authenticate"])["error"] == "invalid_token"


def test_revoked_token_is_refused_with_introspection(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local(validation_mode=ValidationMode.JWT_AND_INTROSPECT)) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        assert httpx.get(p.url, headers=bearer(token)).status_code == 200
        issuer.revoke(token)
        r = httpx.get(p.url, headers=bearer(token))
    assert r.status_code == 401
    assert challenge_params(r.headers["www-authenticate"])["error"] == "invalid_token"


@pytest.mark.parametrize("fault", ["slow", "http_500", "malformed", "down"])
def test_introspection_outage_is_503_never_200(issuer: LocalIssuer, recorder: Recorder, fault: str) -> None:
    overrides = local(validation_mode=ValidationMode.INTROSPECTION_ONLY, http_timeout=0.5)
    with protected_app(issuer, recorder, **overrides) as p:
        token = issuer.mint_opaque(scopes=["mcp:read"], audience=p.url)
        issuer.faults.introspection = fault  # type: ignore[assignment]
        r = httpx.post(p.url, json=call_tool("read_tool"), headers=bearer(token), timeout=10)
    assert r.status_code == 503
    assert r.headers["retry-after"]
    assert recorder.seen == []


def test_allowed_tool_call_reaches_handler_with_body_replayed(
    issuer: LocalIssuer, recorder: Recorder
) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(subject="alice", scopes=["mcp:read"], audience=p.url)
        raw = json.dumps(call_tool("read_tool"), indent=3).encode() + b"\n \n"
        r = httpx.post(p.url, content=raw, headers={**bearer(token), "content-type": "application/json"})
    assert r.status_code == 200
    assert recorder.seen[0]["body"] == raw
    assert recorder.seen[0]["subject"] == "alice"
    assert recorder.seen[0]["context_subject"] == "alice"


def test_chunked_body_is_replayed_exactly(issuer: LocalIssuer, recorder: Recorder) -> None:
    message = json.dumps(call_tool("public_tool")).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(message), 7):
            yield message[i : i + 7]

    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(audience=p.url)
        r = httpx.post(p.url, content=chunks(), headers=bearer(token))
    assert r.status_code == 200
    assert recorder.seen[0]["body"] == message


def test_public_tool_needs_no_scope(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(audience=p.url)
        assert httpx.post(p.url, json=call_tool("public_tool"), headers=bearer(token)).status_code == 200


def test_missing_scope_is_403_with_step_up_scope(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read", "unrelated:thing"], audience=p.url)
        r = httpx.post(p.url, json=call_tool("admin_tool", id=7), headers=bearer(token))
    assert r.status_code == 403
    params = challenge_params(r.headers["www-authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"].split() == ["mcp:admin", "mcp:root", "mcp:read"]
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
    body = r.json()
    assert body["id"] == 7
    assert body["error"]["code"] == -32003
    assert body["error"]["data"]["error"] == "insufficient_scope"
    assert body["error"]["data"]["tool"] == "admin_tool"
    assert body["error"]["data"]["required_scopes"] == ["mcp:admin", "mcp:root"]
    assert recorder.seen == []


def test_tool_absent_from_policy_is_denied_without_step_up(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read", "mcp:admin"], audience=p.url)
        r = httpx.post(p.url, json=call_tool("shell_exec", id=4), headers=bearer(token))
    assert r.status_code == 403
    assert "www-authenticate" not in r.headers  # no scope could cure it: nothing to re-authorize for
    body = r.json()
    assert body["id"] == 4
    assert body["error"]["message"] == "tool not permitted"
    assert body["error"]["data"] == {
        "error": "forbidden",
        "error_description": "tool not permitted",
        "tool": "shell_exec",
    }
    assert recorder.seen == []


def test_open_mode_allows_any_tool(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, policy_mode=PolicyMode.OPEN) as p:
        token = issuer.mint(audience=p.url)
        assert httpx.post(p.url, json=call_tool("anything"), headers=bearer(token)).status_code == 200


def test_malformed_tool_call_is_denied(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        params: dict[str, Any] | None
        for params in (None, {"name": 5}, {"arguments": {}}):
            r = httpx.post(p.url, json=rpc("tools/call", params), headers=bearer(token))
            assert r.status_code == 403, params
            assert r.json()["error"]["message"] == "tool not permitted"
    assert recorder.seen == []


def test_batch_with_one_denied_call_is_denied_whole(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        allowed = [call_tool("read_tool", 1), call_tool("public_tool", 2), rpc("tools/list", id=3)]
        assert httpx.post(p.url, json=allowed, headers=bearer(token)).status_code == 200
        denied = [call_tool("read_tool", 1), call_tool("admin_tool", 2)]
        r = httpx.post(p.url, json=denied, headers=bearer(token))
    assert r.status_code == 403
    assert r.json()["error"]["data"]["tool"] == "admin_tool"
    assert len(recorder.seen) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "method": "tools/call", '
        b'"params": {"name": "x"}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", '
        b'"params": {"name": "read_tool", "name": "admin_tool"}}',
    ],
)
def test_unreadable_or_ambiguous_json_is_refused(issuer: LocalIssuer, recorder: Recorder, raw: bytes) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        unauthenticated = httpx.post(p.url, content=raw)
        r = httpx.post(p.url, content=raw, headers=bearer(token))
    assert unauthenticated.status_code == 401
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32700
    assert recorder.seen == []


def test_body_not_in_utf8_is_refused(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(scopes=["mcp:read"], audience=p.url)
        raw = json.dumps(call_tool("admin_tool")).encode("utf-16")
        r = httpx.post(p.url, content=raw, headers={**bearer(token), "content-type": "application/json"})
    assert r.status_code == 400
    assert recorder.seen == []


def test_body_over_the_cap_is_413(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local(max_body_bytes=1024)) as p:
        token = issuer.mint(audience=p.url)
        big = json.dumps(rpc("tools/list", {"pad": "x" * 2000})).encode()
        declared = httpx.post(p.url, content=big, headers=bearer(token))

        def stream() -> Iterator[bytes]:
            yield big

        streamed = httpx.post(p.url, content=stream(), headers=bearer(token))
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert recorder.seen == []


def test_compressed_body_is_refused(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(audience=p.url)
        r = httpx.post(p.url, content=b"\x1f\x8b...", headers={**bearer(token), "content-encoding": "gzip"})
    assert r.status_code == 415
    assert recorder.seen == []


def test_non_jsonrpc_errors_are_oauth_style(issuer: LocalIssuer, recorder: Recorder) -> None:
    with protected_app(issuer, recorder, **local()) as p:
        r = httpx.get(p.url, headers=bearer("nope"))
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": r.json()["error_description"]}


def test_principal_is_not_visible_after_the_request(issuer: LocalIssuer, recorder: Recorder) -> None:
    from authsec_sdk.runtime import principal_from_context

    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(subject="bob", audience=p.url)
        assert httpx.get(p.url, headers=bearer(token)).json()["subject"] == "bob"
        assert httpx.get(p.url, headers=bearer(issuer.mint(subject="carol", audience=p.url))).json()[
            "subject"
        ] == ("carol")
    assert principal_from_context() is None
    assert [s["context_subject"] for s in recorder.seen] == ["bob", "carol"]


def test_header_values_are_printable_ascii(issuer: LocalIssuer, recorder: Recorder) -> None:
    evil = 'evil"\r\nX-Injected: 1'
    with protected_app(issuer, recorder, tool_scopes={evil: ["mcp:admin"]}) as p:
        token = issuer.mint(audience=p.url, scopes=["mcp:read"])
        r = httpx.post(p.url, json=call_tool(evil), headers=bearer(token))
    assert r.status_code == 403
    assert "x-injected" not in r.headers
    value = r.headers["www-authenticate"]
    assert all(0x20 <= ord(c) < 0x7F for c in value)


def test_offline_access_is_never_advertised_or_asked_for(issuer: LocalIssuer, recorder: Recorder) -> None:
    tools = {"admin_tool": ["mcp:admin", "offline_access"]}
    overrides: dict[str, Any] = {
        "tool_scopes": tools,
        "supported_scopes": ("offline_access", "mcp:read"),
        "baseline_scopes": ("offline_access", "mcp:read"),
    }
    with protected_app(issuer, recorder, **overrides) as p:
        token = issuer.mint(scopes=["mcp:read", "offline_access"], audience=p.url)
        missing = httpx.get(p.url)
        denied = httpx.post(p.url, json=call_tool("admin_tool"), headers=bearer(issuer.mint(audience=p.url)))
        doc = httpx.get(f"{p.base}/.well-known/oauth-protected-resource/mcp").json()
        allowed = httpx.post(p.url, json=call_tool("admin_tool"), headers=bearer(token))
    assert challenge_params(missing.headers["www-authenticate"])["scope"] == "mcp:read"
    assert challenge_params(denied.headers["www-authenticate"])["scope"] == "mcp:admin"
    assert doc["scopes_supported"] == ["mcp:read", "mcp:admin"]
    assert allowed.status_code == 200  # holding it still counts when a tool accepts it
