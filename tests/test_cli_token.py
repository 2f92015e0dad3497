"""`authsec token inspect --tool`: what the middleware would answer, decided by its own code,
for tokens from the local issuer; checked against what the running server answers."""

from __future__ import annotations

import json

import httpx
from helpers import Protected, bearer, call_tool, run_cli
from notes_mcp import notes_env

from authsec_sdk.testing import LocalIssuer


def test_allowed_call(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    result = run_cli(
        "token", "inspect", "-", "--tool", "read", env=notes_env(issuer, notes_app.url), stdin=token
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f'header: {{"alg": "RS256", "kid": "{issuer.current_key.kid}", "typ": "at+jwt"}}'
    assert '  "sub": "alice"' in lines
    assert "✓ token: 200 valid" in lines
    assert "✓ tools/call read: 200 allowed" in lines
    assert token.split(".")[2] not in result.stdout  # never the signature


def test_refused_token_is_a_401_with_the_reason(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience="https://other.example/mcp")
    result = run_cli("token", "inspect", token, "--tool", "read", env=notes_env(issuer, notes_app.url))
    assert result.returncode == 1
    reason = (
        "401 invalid_token: audience mismatch (aud 'https://other.example/mcp', "
        f"expected one of ['{notes_app.url}'])"
    )
    assert f"✗ token: {reason}" in result.stdout
    assert f"✗ tools/call read: {reason}" in result.stdout
    # What the 401's challenge asks for: the tool's scope when the headers name it, else the baseline.
    assert "    challenge scope for 2026-07-28 clients: notes:read" in result.stdout
    assert "    challenge scope for 2025-11-25 clients: (none)" in result.stdout
    # The server agrees.
    answer = httpx.post(notes_app.url, json=call_tool("read"), headers=bearer(token))
    assert (
        answer.status_code == 401
        and 'error_description="audience mismatch"' in answer.headers["www-authenticate"]
    )


def test_insufficient_scope_is_a_403_naming_the_scopes(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    result = run_cli(
        "token", "inspect", "-", "--tool", "wipe", "--json", env=notes_env(issuer, notes_app.url), stdin=token
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["validation"]["status"] == 200
    assert report["principal"]["subject"] == "alice" and report["principal"]["scopes"] == ["notes:read"]
    assert report["call"] == {
        "status": 403,
        "reason": "insufficient_scope: the token holds none of the tool's scopes",
        "required_scopes": ["notes:admin"],
        "challenge_scope": {"2026-07-28": ["notes:admin"], "2025-11-25": ["notes:admin", "notes:read"]},
    }
    assert token.split(".")[2] not in result.stdout
    answer = httpx.post(notes_app.url, json=call_tool("wipe"), headers=bearer(token))
    assert answer.status_code == 403 and answer.json()["error"]["data"]["required_scopes"] == ["notes:admin"]
