"""RequestBoundAuth end to end: a tool behind mount_mcp calls a second protected service as
its caller, through an RFC 8693 exchange at the local issuer, over real HTTP.

The tool's server validates inbound tokens as JWTs only (60 s clock leeway), so a token that
expired a few seconds ago or was revoked still reaches the tool: exactly the tokens the
exchange must refuse to act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from client_downstream import Downstream, downstream_service
from helpers import Protected, bearer, protected_app, read_body
from mcp.server.mcpserver import MCPServer
from notes_mcp import MODES, connect, text_of
from starlette.types import Receive, Scope, Send

from authsec_sdk.client import OutboundAuthError, RequestBoundAuth
from authsec_sdk.runtime import ValidationMode, principal_from_context
from authsec_sdk.runtime.inbound import current_inbound
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.authorization import TOKEN_EXCHANGE


@dataclass
class Relay:
    """The tool's server, its downstream, and the auth the tool uses (fresh for each test)."""

    app: Protected
    downstream: Protected
    seen: Downstream
    auth: RequestBoundAuth


def relay_server(relay: list[Relay]) -> MCPServer:
    server = MCPServer("relay")

    @server.tool()
    async def relay_call() -> str:
        """Call the downstream service as the caller; say what came back, or why nothing was sent."""
        current = relay[0]
        try:
            async with httpx.AsyncClient(auth=current.auth, trust_env=False) as http:
                answer = await http.post(current.downstream.url, json={})
        except OutboundAuthError as exc:
            return f"refused: {exc.reason} ({exc.error})"
        return f"{answer.status_code} {answer.json()['subject']}"

    return server


@pytest.fixture(scope="module")
def _relay(_shared_issuer: LocalIssuer) -> Iterator[Relay]:
    holder: list[Relay] = []
    with (
        downstream_service(_shared_issuer) as (downstream, seen),
        protected_app(
            _shared_issuer,
            relay_server(holder),
            tool_scopes={"relay_call": []},
            validation_mode=ValidationMode.JWT_ONLY,
        ) as app,
    ):
        holder.append(Relay(app, downstream, seen, RequestBoundAuth(downstream.url)))
        yield holder[0]


@pytest.fixture
def relay(issuer: LocalIssuer, _relay: Relay) -> Relay:
    """The relay with a fresh RequestBoundAuth, nothing seen downstream, and the tool's server
    registered at the issuer as a client allowed to exchange tokens for the downstream service."""
    _relay.auth = RequestBoundAuth(_relay.downstream.url)
    _relay.seen.seen.clear()
    issuer.authorization.register_client(issuer.client_id, client_secret=issuer.client_secret)
    issuer.authorization.allow_exchange(issuer.client_id, [_relay.downstream.url])
    return _relay


def exchanges(issuer: LocalIssuer) -> list[str]:
    return [r.subject for r in issuer.authorization.token_requests if r.grant_type == TOKEN_EXCHANGE]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_downstream_sees_the_caller_with_its_own_token(
    issuer: LocalIssuer, relay: Relay, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    inbound = issuer.mint(subject="alice", audience=relay.app.url)
    async with connect(relay.app.url, inbound, mode) as client:
        assert text_of(await client.call_tool("relay_call", {})) == "200 alice"
        assert text_of(await client.call_tool("relay_call", {})) == "200 alice"
    assert len(relay.seen.seen) == 2
    for seen in relay.seen.seen:
        assert seen.subject == "alice"
        assert seen.audience == (relay.downstream.url,)  # a token for the downstream service alone
        assert seen.claims["act"] == {"sub": issuer.client_id}  # obtained by the tool's server
        assert inbound not in seen.headers.decode()  # never the inbound token, in any header
        assert seen.authorization.startswith("Bearer ")
    # One exchange for both calls: the exchanged token is cached for this caller.
    assert exchanges(issuer) == ["alice"]
    (request,) = issuer.authorization.token_requests
    assert request.resources == (relay.downstream.url,) and request.client_id == issuer.client_id

    other = issuer.mint(subject="bob", audience=relay.app.url)
    async with connect(relay.app.url, other, mode) as client:
        assert text_of(await client.call_tool("relay_call", {})) == "200 bob"
    assert exchanges(issuer) == ["alice", "bob"]  # another caller, another exchange
    assert relay.seen.seen[-1].subject == "bob"
    sent = {seen.authorization.removeprefix("Bearer ") for seen in relay.seen.seen}
    assert not any(token in caplog.text for token in {inbound, other, *sent})  # no token in any log


@pytest.mark.anyio
async def test_the_inbound_token_is_reachable_only_through_the_hand_off(issuer: LocalIssuer) -> None:
    seen: dict[str, str] = {}

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        inbound = current_inbound()
        assert inbound is not None
        seen.update(
            token=inbound.token,
            visible=repr(scope["state"]) + repr(inbound) + repr(principal_from_context()),
        )
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    token = issuer.mint(subject="alice")
    with protected_app(issuer, handler, tool_scopes={}) as app:
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.post(
                app.url, json={}, headers=bearer(issuer.mint(subject="alice", audience=app.url))
            )
    assert answer.status_code == 204
    assert seen["token"].count(".") == 2 and seen["token"] != token
    assert seen["token"] not in seen["visible"]  # not in request.state, the principal or a repr
    assert current_inbound() is None  # bound for the request alone


@pytest.mark.anyio
async def test_expired_inbound_token_fails_and_sends_nothing(issuer: LocalIssuer, relay: Relay) -> None:
    inbound = issuer.mint(subject="alice", audience=relay.app.url, expires_in=-5)  # within leeway
    async with connect(relay.app.url, inbound, "auto") as client:
        assert text_of(await client.call_tool("relay_call", {})) == "refused: inbound_expired ()"
    assert relay.seen.seen == []
    assert issuer.authorization.token_requests == []


@pytest.mark.anyio
async def test_refused_exchange_fails_and_sends_nothing(issuer: LocalIssuer, relay: Relay) -> None:
    revoked = issuer.mint(subject="alice", audience=relay.app.url)
    issuer.revoke(revoked)  # the tool's server checks JWTs only: the issuer knows better
    async with connect(relay.app.url, revoked, "auto") as client:
        assert text_of(await client.call_tool("relay_call", {})) == "refused: refused (invalid_grant)"

    # An audience the exchange policy does not allow this client.
    relay.auth = RequestBoundAuth("https://elsewhere.example/api")
    inbound = issuer.mint(subject="alice", audience=relay.app.url)
    async with connect(relay.app.url, inbound, "auto") as client:
        assert text_of(await client.call_tool("relay_call", {})) == "refused: refused (invalid_target)"
    assert relay.seen.seen == []
    assert issuer.authorization.token_requests == []


@pytest.mark.anyio
async def test_no_current_request_fails_and_sends_nothing(relay: Relay) -> None:
    async with httpx.AsyncClient(auth=relay.auth, trust_env=False) as http:
        with pytest.raises(OutboundAuthError) as info:
            await http.post(relay.downstream.url, json={})
    assert info.value.reason == "no_request"
    assert relay.seen.seen == []


@pytest.mark.anyio
async def test_a_401_downstream_gets_one_new_exchange(issuer: LocalIssuer, relay: Relay) -> None:
    inbound = issuer.mint(subject="alice", audience=relay.app.url)
    async with connect(relay.app.url, inbound, "auto") as client:
        assert text_of(await client.call_tool("relay_call", {})) == "200 alice"
        issuer.revoke(relay.seen.seen[0].authorization.removeprefix("Bearer "))  # the service introspects
        assert text_of(await client.call_tool("relay_call", {})) == "200 alice"
    assert exchanges(issuer) == ["alice", "alice"]
    first, second = relay.seen.seen
    assert first.authorization != second.authorization


@pytest.mark.anyio
async def test_the_exchanging_client_is_the_endpoints_own_or_the_one_given(
    issuer: LocalIssuer, relay: Relay
) -> None:
    """An endpoint without introspection credentials has no client to exchange as, unless given one."""
    holder = [Relay(relay.app, relay.downstream, relay.seen, RequestBoundAuth(relay.downstream.url))]
    issuer.authorization.register_client("relay-app", client_secret="relay-secret")
    issuer.authorization.allow_exchange("relay-app", [relay.downstream.url])
    with protected_app(
        issuer,
        relay_server(holder),
        tool_scopes={"relay_call": []},
        introspection_url=None,
        introspection_client_id="",
        introspection_client_secret="",
    ) as app:
        inbound = issuer.mint(subject="alice", audience=app.url)
        async with connect(app.url, inbound, "auto") as client:
            assert text_of(await client.call_tool("relay_call", {})) == "refused: misconfigured ()"
            holder[0].auth = RequestBoundAuth(
                relay.downstream.url, client_id="relay-app", client_secret="relay-secret"
            )
            assert text_of(await client.call_tool("relay_call", {})) == "200 alice"
    assert relay.seen.seen[0].claims["act"] == {"sub": "relay-app"}


@pytest.mark.anyio
async def test_an_issuer_handing_back_the_inbound_token_is_refused(
    issuer: LocalIssuer, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passthrough by the back door: an exchange answering with the subject token itself."""

    def echo(client: object, fields: Mapping[str, str], targets: list[str]) -> dict[str, Any]:
        return {"access_token": fields["subject_token"], "token_type": "Bearer", "expires_in": 60}

    monkeypatch.setattr(issuer.authorization, "exchange", echo)  # a broken issuer: none at hand
    inbound = issuer.mint(subject="alice", audience=relay.app.url)
    async with connect(relay.app.url, inbound, "auto") as client:
        assert text_of(await client.call_tool("relay_call", {})) == "refused: refused ()"
    assert relay.seen.seen == []


@pytest.mark.anyio
async def test_the_cache_keeps_at_most_max_cached_callers(issuer: LocalIssuer, relay: Relay) -> None:
    relay.auth = RequestBoundAuth(relay.downstream.url, max_cached=1)
    tokens = [issuer.mint(subject=user, audience=relay.app.url) for user in ("alice", "bob")]
    async with (
        connect(relay.app.url, tokens[0], "auto") as alice,
        connect(relay.app.url, tokens[1], "auto") as bob,
    ):
        for client in (alice, bob, alice, alice):
            assert text_of(await client.call_tool("relay_call", {})).startswith("200 ")
    # bob's exchange pushed alice's out; alice's second exchange is then reused.
    assert exchanges(issuer) == ["alice", "bob", "alice"]
