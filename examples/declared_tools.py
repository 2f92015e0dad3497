"""Policy declared next to each tool of an `mcp` SDK server, enforced by `mount_mcp`.

A local issuer and the protected server run on 127.0.0.1; the official MCP client calls the
tools with tokens holding different scopes and permissions. Run: `.venv/bin/python
examples/declared_tools.py`.
"""

from __future__ import annotations

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette

from authsec_sdk.runtime import mount_mcp, permission_required, public, requires_scopes
from authsec_sdk.testing import LocalIssuer, ServerThread


def build_server() -> MCPServer:
    server = MCPServer("documents", log_level="WARNING")

    @server.tool()
    @public
    def ping() -> str:
        """Any authenticated caller."""
        return "pong"

    @server.tool()
    @requires_scopes("docs:read", "docs:admin")
    def read() -> str:
        """One of the two scopes."""
        return "the document"

    @permission_required(["document:delete"], require_all=True)
    @server.tool()
    def delete() -> str:
        """The document:delete permission, from the token's permissions claim."""
        return "deleted"

    @server.tool()
    def forgotten() -> str:
        """No declaration: denied to everyone (private by default)."""
        return "never"

    return server


async def call(url: str, token: str, tool: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        try:
            result = await client.call_tool(tool, {})
        except MCPError as error:
            print(f"   {tool}: refused: {error.error.message}")
            return
    print(f"   {tool}: {' '.join(getattr(part, 'text', '') for part in result.content)}")


async def tour(issuer: LocalIssuer, url: str) -> None:
    reader = issuer.mint(subject="alice", scopes=["docs:read"], audience=url)
    editor = issuer.mint(subject="bob", audience=url, claims={"permissions": ["document:*"]})
    for who, token in (("alice (docs:read)", reader), ("bob (permission document:*)", editor)):
        print(f"\n{who}")
        for tool in ("ping", "read", "delete", "forgotten"):
            await call(url, token, tool)


def main() -> None:
    with LocalIssuer() as issuer:
        app = Starlette()
        server = ServerThread(app)
        # No tool_scopes: the declarations are the local policy (the mode infers LOCAL_ONLY).
        mount_mcp(app, "/mcp", build_server(), issuer.config(resource_uri=f"{server.url}/mcp"))
        with server:
            anyio.run(tour, issuer, f"{server.url}/mcp")


if __name__ == "__main__":
    main()
