"""Both MCP protocol revisions through mount_mcp with the official client.

2025-11-25 (``mode="legacy"``): initialize, ``Mcp-Session-Id``, the GET event stream, DELETE.
2026-07-28 (``mode="auto"``): ``server/discover``, ``Mcp-Method`` / ``Mcp-Name`` headers,
``subscriptions/listen``, no sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from helpers import Protected, call_tool
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types import ToolListChangedNotification
from notes_mcp import connect, text_of
from wire import WAIT, session_headers

from authsec_sdk.testing import LocalIssuer


@dataclass
class Wire:
    """What the client sent and got, seen through httpx2 event hooks."""

    requests: list[httpx2.Request] = field(default_factory=list)
    responses: list[httpx2.Response] = field(default_factory=list)

    async def on_request(self, request: httpx2.Request) -> None:
        self.requests.append(request)

    async def on_response(self, response: httpx2.Response) -> None:
        self.responses.append(response)

    def session_ids(self) -> set[str]:
        return {r.headers["mcp-session-id"] for r in self.responses if "mcp-session-id" in r.headers}


@asynccontextmanager
async def connect_watched(
    url: str, token: str, mode: str, wire: Wire, **options: Any
) -> AsyncIterator[Client]:
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [wire.on_request],
        "response": [wire.on_response],
    }
    async with connect(url, token, mode, event_hooks=hooks, **options) as client:
        yield client


async def exercise_tools(client: Client) -> None:
    tools = await client.list_tools()
    assert {t.name for t in tools.tools} == {"whoami", "read", "announce"}  # "wipe" filtered out
    assert text_of(await client.call_tool("read", {})) == "the notes"
    with pytest.raises(MCPError) as info:
        await client.call_tool("wipe", {})
    assert info.value.error.data["error"] == "insufficient_scope"


@pytest.mark.anyio
async def test_legacy_revision(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    wire, changed = Wire(), anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    async with connect_watched(notes_app.url, token, "legacy", wire, message_handler=on_message) as client:
        assert client.protocol_version == "2025-11-25"
        await exercise_tools(client)
        # The notification travels on the standalone GET stream. The client opens that stream
        # in the background, so announce until it is there (bounded; each try is one round trip).
        with anyio.fail_after(WAIT):
            for _ in range(100):
                await client.call_tool("announce", {})
                with anyio.move_on_after(0.2):
                    await changed.wait()
                if changed.is_set():
                    break
        assert changed.is_set()
        assert any(r.method == "GET" for r in wire.requests)
    (session_id,) = wire.session_ids()
    # Leaving the client ended the session with DELETE; its id now answers 404.
    deletes = [r for r in wire.responses if r.request.method == "DELETE"]
    assert [r.status_code for r in deletes] == [200]
    async with httpx.AsyncClient() as raw:
        r = await raw.post(notes_app.url, json=call_tool("read"), headers=session_headers(token, session_id))
    assert r.status_code == 404


@pytest.mark.anyio
async def test_modern_revision(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    wire = Wire()
    async with connect_watched(notes_app.url, token, "auto", wire) as client:
        assert client.protocol_version == "2026-07-28"
        await exercise_tools(client)
        async with client.listen(tools_list_changed=True) as subscription:
            # The listen stream is open (acknowledged); an event published now must arrive on it.
            assert text_of(await client.call_tool("announce", {})) == "announced"
            with anyio.fail_after(WAIT):
                event = await anext(aiter(subscription))
        assert isinstance(event, ToolsListChanged)
    methods = [r.headers.get("mcp-method") for r in wire.requests]
    assert methods[0] == "server/discover"
    assert {"tools/list", "tools/call", "subscriptions/listen"} <= set(methods)
    assert "read" in {r.headers.get("mcp-name") for r in wire.requests}
    assert wire.session_ids() == set()  # no sessions in this revision
    assert all(r.method == "POST" for r in wire.requests)
