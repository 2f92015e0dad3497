"""MCP sessions are bound to the principal that created them; a session id is never a credential."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import Protected, call_tool, protected_app, rpc
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver import MCPServer
from starlette.types import Receive, Scope, Send
from wire import initialize, session_headers, sse_messages

from authsec_sdk.runtime.asgi.sessions import Owner, SessionOwners
from authsec_sdk.testing import LocalIssuer

NOT_FOUND = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}


def build_server() -> MCPServer:
    server = MCPServer("sessions")

    @server.tool()
    def echo() -> str:
        return "echo"

    return server


@pytest.fixture
def protected(issuer: LocalIssuer) -> Iterator[Protected]:
    with protected_app(issuer, build_server(), tool_scopes={"echo": []}) as p:
        yield p


def use(url: str, token: str | None, session_id: str, method: str = "POST") -> httpx.Response:
    """One request in the session. Only used where a GET is refused: an admitted one stays open."""
    body = call_tool("echo") if method == "POST" else None
    headers = session_headers(token, session_id)
    return httpx.request(method, url, json=body, headers=headers, timeout=10)


def test_another_principal_gets_404_for_every_method(issuer: LocalIssuer, protected: Protected) -> None:
    alice = issuer.mint(subject="alice", audience=protected.url)
    mallory = issuer.mint(subject="mallory", audience=protected.url)
    session_id = initialize(protected.url, alice)
    for method in ("POST", "GET", "DELETE"):
        r = use(protected.url, mallory, session_id, method)
        assert r.status_code == 404, method
        assert r.json() == NOT_FOUND
    # Alice's session survived the attempts, including the DELETE.
    r = use(protected.url, alice, session_id)
    assert r.status_code == 200
    assert sse_messages(r.text)[0]["result"]["content"][0]["text"] == "echo"


def test_the_same_subject_through_another_client_gets_404(issuer: LocalIssuer, protected: Protected) -> None:
    alice = issuer.mint(subject="alice", audience=protected.url, claims={"client_id": "notes-app"})
    other_app = issuer.mint(subject="alice", audience=protected.url, claims={"client_id": "other-app"})
    session_id = initialize(protected.url, alice)
    assert use(protected.url, other_app, session_id).status_code == 404
    assert use(protected.url, alice, session_id).status_code == 200


def test_a_session_id_never_replaces_the_token(issuer: LocalIssuer, protected: Protected) -> None:
    session_id = initialize(protected.url, issuer.mint(subject="alice", audience=protected.url))
    for method in ("POST", "GET", "DELETE"):
        assert use(protected.url, None, session_id, method).status_code == 401, method


def test_delete_ends_the_session_and_its_id_then_answers_404(
    issuer: LocalIssuer, protected: Protected
) -> None:
    alice = issuer.mint(subject="alice", audience=protected.url)
    session_id = initialize(protected.url, alice)
    assert use(protected.url, alice, session_id, "DELETE").status_code == 200
    r = use(protected.url, alice, session_id)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


def test_unknown_session_id_is_404(issuer: LocalIssuer, protected: Protected) -> None:
    alice = issuer.mint(subject="alice", audience=protected.url)
    assert use(protected.url, alice, "0123456789abcdef").status_code == 404


def test_owner_map_is_bounded_and_forgets_the_oldest() -> None:
    owners = SessionOwners(limit=2)
    # Owners are (issuer, subject, client).
    alice: Owner = ("https://iss", "alice", "client")
    bob: Owner = ("https://iss", "bob", "client")
    owners.remember("s1", alice)
    owners.remember("s2", bob)
    owners.remember("s3", alice)
    assert len(owners) == 2
    assert not owners.admits("s1", alice)  # evicted: refused, never opened up
    assert owners.admits("s2", bob) and not owners.admits("s2", alice)
    assert not owners.admits("s3", ("https://other-iss", "alice", "client"))
    owners.forget("s3")
    assert not owners.admits("s3", alice)


def test_handler_sees_the_sdk_user(issuer: LocalIssuer) -> None:
    seen: list[Any] = []

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope.get("user"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with protected_app(issuer, handler, tool_scopes={}) as p:
        token = issuer.mint(subject="alice", scopes=["a", "b"], audience=p.url)
        assert (
            httpx.post(p.url, json=rpc("ping"), headers={"Authorization": f"Bearer {token}"}).status_code
            == 204
        )
    (user,) = seen
    assert isinstance(user, AuthenticatedUser)
    assert user.access_token.subject == "alice"
    assert user.access_token.claims == {"iss": issuer.issuer}
    assert user.scopes == ["a", "b"]
    assert user.access_token.token == ""  # the credential itself is not handed on
