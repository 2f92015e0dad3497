"""Responses stream through the middleware: unbuffered, open as long as the handler keeps them,
a client disconnect reaches the handler, and (optionally) a stream ends when its token expires.

No test sleeps: each waits on what the other side does (an event read, a threading.Event set).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import bearer, call_tool, challenge_params, protected_app, rpc
from wire import MCP_HEADERS, WAIT, ScriptedStream, next_event

from authsec_sdk.runtime import ValidationMode
from authsec_sdk.testing import LocalIssuer

TOOLS = {"echo": [], "admin": ["mcp:admin"]}
#: Local JWT checks only (introspection would call an expired token inactive), so a token a
#: few seconds past ``exp`` is still accepted within the clock leeway: expiry without waiting.
PAST_EXP: dict[str, Any] = {"tool_scopes": TOOLS, "validation_mode": ValidationMode.JWT_ONLY}


def event(n: int) -> bytes:
    data = json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/n", "params": {"n": n}}, separators=(",", ":")
    )
    return f"event: message\r\ndata: {data}\r\n\r\n".encode()


@pytest.mark.anyio
async def test_events_arrive_before_the_stream_ends(issuer: LocalIssuer) -> None:
    handler = ScriptedStream(chunks=[event(1), event(2)], pause_at=1)
    with protected_app(issuer, handler, tool_scopes=TOOLS) as p:
        token = issuer.mint(audience=p.url)
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream("POST", p.url, json=rpc("ping"), headers={**MCP_HEADERS, **bearer(token)}) as r,
        ):
            assert r.status_code == 200
            chunks, buffer = r.aiter_raw(), bytearray()
            # The handler is blocked until we release it: this event cannot have been buffered.
            assert b'"n":1' in await next_event(chunks, buffer)
            assert not handler.finished.is_set()
            handler.release.set()
            assert b'"n":2' in await next_event(chunks, buffer)
    assert handler.finished.wait(WAIT)


@pytest.mark.anyio
async def test_client_disconnect_reaches_the_handler(issuer: LocalIssuer) -> None:
    handler = ScriptedStream(chunks=[event(1)], hang=True)
    with protected_app(issuer, handler, tool_scopes=TOOLS) as p:
        token = issuer.mint(audience=p.url)
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream("GET", p.url, headers={**MCP_HEADERS, **bearer(token)}) as r,
        ):
            assert b'"n":1' in await next_event(r.aiter_raw(), bytearray())
            assert not handler.disconnected.is_set()  # the stream stays open while we listen
        # Leaving the block closes the connection; the handler's receive() must see it.
        assert handler.disconnected.wait(WAIT)


def test_denial_is_a_status_not_an_event(issuer: LocalIssuer) -> None:
    handler = ScriptedStream(chunks=[event(1)])
    with protected_app(issuer, handler, tool_scopes=TOOLS) as p:
        token = issuer.mint(audience=p.url)
        r = httpx.post(p.url, json=call_tool("admin"), headers={**MCP_HEADERS, **bearer(token)})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/json"
    assert not handler.finished.is_set()


@pytest.mark.anyio
async def test_stream_closes_when_the_token_expires(issuer: LocalIssuer) -> None:
    handler = ScriptedStream(chunks=[event(1)], hang=True)
    with protected_app(issuer, handler, tool_scopes=TOOLS, close_streams_on_token_expiry=True) as p:
        token = issuer.mint(audience=p.url, expires_in=2)
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream("GET", p.url, headers={**MCP_HEADERS, **bearer(token)}) as r,
        ):
            chunks = r.aiter_raw()
            assert b'"n":1' in await next_event(chunks, bytearray())
            # The server ends the stream cleanly at expiry: the iterator simply runs out.
            rest = b"".join([chunk async for chunk in chunks])
        assert rest == b""
        assert handler.finished.wait(WAIT)
        assert not handler.disconnected.is_set()  # cancelled by us, not by the client


def test_expiry_before_the_answer_starts_is_a_401(issuer: LocalIssuer) -> None:
    handler = ScriptedStream(before_start=True)
    with protected_app(issuer, handler, **PAST_EXP, close_streams_on_token_expiry=True) as p:
        token = issuer.mint(audience=p.url, expires_in=-5)  # past exp, but within the leeway
        r = httpx.post(p.url, json=rpc("ping"), headers={**MCP_HEADERS, **bearer(token)}, timeout=WAIT)
    assert r.status_code == 401
    assert challenge_params(r.headers["www-authenticate"])["error"] == "invalid_token"
    assert handler.finished.wait(WAIT)


@pytest.mark.anyio
async def test_streams_outlive_tokens_by_default(issuer: LocalIssuer) -> None:
    """Off by default: a token already past ``exp`` (within the leeway) still streams to the end."""
    handler = ScriptedStream(chunks=[event(1), event(2)], pause_at=1)
    with protected_app(issuer, handler, **PAST_EXP) as p:
        token = issuer.mint(audience=p.url, expires_in=-5)
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream("POST", p.url, json=rpc("ping"), headers={**MCP_HEADERS, **bearer(token)}) as r,
        ):
            chunks, buffer = r.aiter_raw(), bytearray()
            assert b'"n":1' in await next_event(chunks, buffer)
            handler.release.set()
            assert b'"n":2' in await next_event(chunks, buffer)
