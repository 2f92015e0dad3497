"""One official `mcp` SDK server and client setup, shared by the tests that drive real MCP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
from helpers import Protected, protected_app
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from authsec_sdk.runtime import principal_from_context
from authsec_sdk.testing import LocalIssuer

#: The client's two connection modes: the 2025-11-25 handshake and 2026-07-28 discovery.
MODES = ["legacy", "auto"]
NOTES_SCOPES = {"whoami": [], "read": ["notes:read"], "wipe": ["notes:admin"], "announce": ["notes:read"]}


def notes_server() -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def whoami() -> str:
        principal = principal_from_context()
        return principal.subject if principal else "nobody"

    @server.tool()
    def read() -> str:
        return "the notes"

    @server.tool()
    def wipe() -> str:
        return "wiped"

    @server.tool()
    async def announce(ctx: Context) -> str:
        """Tell listeners the tool list changed: on the GET stream (legacy), to listen streams (modern)."""
        if ctx.protocol_version == "2025-11-25":
            await ctx.session.send_tool_list_changed()
        else:
            await ctx.notify_tools_changed()
        return "announced"

    return server


@contextmanager
def protected_notes(issuer: LocalIssuer) -> Iterator[Protected]:
    with protected_app(issuer, notes_server(), tool_scopes=NOTES_SCOPES) as p:
        yield p


def notes_env(issuer: LocalIssuer, resource_uri: str, **overrides: str) -> dict[str, str]:
    """The ``AUTHSEC_*`` variables of a notes server at ``resource_uri`` (as `protected_notes`
    configures it); ``overrides`` are more variables."""
    values = {f"AUTHSEC_{name.upper()}": value for name, value in issuer.config_values().items()}
    values.update(AUTHSEC_RESOURCE_URI=resource_uri, AUTHSEC_TOOL_SCOPES=json.dumps(NOTES_SCOPES))
    values.update(overrides)
    return values


@asynccontextmanager
async def connect(
    url: str,
    token: str | None,
    mode: str,
    *,
    event_hooks: dict[str, list[Callable[..., Any]]] | None = None,
    **options: Any,
) -> AsyncIterator[Client]:
    """The official client on the streamable HTTP transport, sending ``token`` if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, event_hooks=event_hooks) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client,
    ):
        yield client


def text_of(result: object) -> str:
    return "".join(getattr(part, "text", "") for part in getattr(result, "content", []))


class MemoryStorage:
    """The OAuth provider's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
