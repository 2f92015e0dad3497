"""A guided tour: an MCP server behind authsec-sdk, driven by the official MCP client.

Everything runs on this machine over real HTTP on 127.0.0.1: a local OAuth issuer (keys,
JWKS, introspection), an MCP server with three tools built with the official `mcp` SDK and
protected by `mount_mcp`, and the official MCP client making calls with different tokens.

Run it with `make demo`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio
import httpx
import httpx2
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from authsec_sdk.runtime import PolicyMode, ValidationMode, mount_mcp, principal_from_context
from authsec_sdk.testing import LocalIssuer, ServerThread

#: What an administrator maps in the AuthSec backend: the tool-to-scope policy.
PUBLIC_TOOLS = ["whoami"]
TOOL_SCOPES = {"read_notes": ["notes:read"], "delete_notes": ["notes:admin"]}


def build_mcp_server() -> MCPServer:
    server = MCPServer("notes", log_level="WARNING")

    @server.tool()
    def whoami() -> str:
        """Say who the caller is, as the token told the server."""
        principal = principal_from_context()
        return f"you are {principal.subject}" if principal else "anonymous"

    @server.tool()
    def read_notes() -> str:
        """Read the shared notes."""
        return "1. buy milk  2. ship the release"

    @server.tool()
    def delete_notes() -> str:
        """Delete every note."""
        return "all notes deleted"

    return server


def say(step: str, text: str) -> None:
    print(f"\n== {step}\n   {text}")


@asynccontextmanager
async def mcp_client(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def call(url: str, token: str | None, tool: str) -> None:
    async with mcp_client(url, token) as client:
        try:
            result = await client.call_tool(tool, {})
        except MCPError as exc:
            print(f"   -> refused: {exc.error.message}; details: {json.dumps(exc.error.data)}")
            return
    text = " ".join(getattr(part, "text", "") for part in result.content)
    print(f"   -> allowed: {tool} said {text!r}")


async def show_raw(url: str, headers: dict[str, str]) -> None:
    """What a client sees on the wire when it is refused before any MCP exchange."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=body, headers={"accept": "application/json", **headers})
    print(f"   -> HTTP {response.status_code}")
    print(f"      WWW-Authenticate: {response.headers.get('www-authenticate')}")


async def tour(issuer: LocalIssuer, base: str) -> None:
    url = f"{base}/mcp"
    say("1. The resource describes itself (RFC 9728)", f"GET {base}/.well-known/oauth-protected-resource/mcp")
    async with httpx.AsyncClient() as http:
        doc = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
    print("   -> " + json.dumps(doc))

    reader = issuer.mint(subject="alice", scopes=["notes:read"], audience=url)
    say("2. Alice has notes:read and calls read_notes", "the token is checked, the tool's scope matches")
    await call(url, reader, "read_notes")

    say("3. Alice calls whoami, a public tool", "any valid token may call it; the tool sees the principal")
    await call(url, reader, "whoami")

    say(
        "4. Alice calls delete_notes, which needs notes:admin",
        "403 insufficient_scope names the scope to ask for",
    )
    await call(url, reader, "delete_notes")

    say(
        "5. A client with no token",
        "401 with a challenge pointing at the metadata document, asking only for the baseline scope",
    )
    await show_raw(url, {})

    expired = issuer.mint(subject="alice", scopes=["notes:read"], audience=url, expires_in=-120)
    say("6. A client with an expired token", "401 invalid_token")
    await show_raw(url, {"Authorization": f"Bearer {expired}"})

    elsewhere = issuer.mint(subject="alice", scopes=["notes:read"], audience="https://other.example/mcp")
    say("7. A token minted for another server", "401 invalid_token, audience mismatch")
    await show_raw(url, {"Authorization": f"Bearer {elsewhere}"})

    issuer.revoke(reader)
    say(
        "8. Alice's token is revoked at the issuer",
        "introspection says inactive, so the next call is refused",
    )
    await show_raw(url, {"Authorization": f"Bearer {reader}"})

    names = [tool["name"] for tool in issuer.backend.published_tools or []]
    say("9. The tool inventory reached the backend", "published at startup by a synthetic MCP handshake")
    print(f"   -> manifest tools: {names}")


def authsec(*args: str, env: Mapping[str, str]) -> None:
    """The ``authsec`` command, as an operator runs it, with the server's ``AUTHSEC_*`` settings."""
    print(f"   $ authsec {' '.join(args)}")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSEC_")}
    done = subprocess.run(
        [sys.executable, "-m", "authsec_sdk.cli", *args],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for line in (done.stdout + done.stderr).rstrip().splitlines():
        print(f"     {line}")
    print(f"   -> exit {done.returncode}")


def command_line(issuer: LocalIssuer, settings: Mapping[str, object], url: str) -> None:
    env = {f"AUTHSEC_{name.upper()}": str(value) for name, value in settings.items()}
    say("10. The operator asks authsec doctor", "the server's own settings, checked live against every peer")
    authsec("doctor", "--url", url, env=env)
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=url)
    say("11. A developer calls a tool from the shell", "authsec call, with a token from the environment")
    authsec("call", url, "read_notes", env={**env, "AUTHSEC_ACCESS_TOKEN": token})


def main() -> None:
    with LocalIssuer() as issuer:
        app = FastAPI()
        server = ServerThread(app)  # binds its loopback port now, so the resource URI is known
        issuer.backend.set_policy(public_tools=PUBLIC_TOOLS, tools=TOOL_SCOPES)
        settings = {
            **issuer.config_values(),
            **issuer.backend.config_values(),
            "resource_uri": f"{server.url}/mcp",
            "resource_name": "Notes MCP server (demo)",
            "policy_mode": PolicyMode.REMOTE_REQUIRED,
            "validation_mode": ValidationMode.JWT_AND_INTROSPECT,
            "publish_manifest": True,
            "baseline_scopes": "notes:read",
        }
        cfg = issuer.config(**{**settings, "baseline_scopes": ("notes:read",)})
        mount_mcp(app, "/mcp", build_mcp_server(), cfg)
        print("authsec-sdk demo: a local issuer, a local AuthSec backend and a protected MCP server")
        print("on 127.0.0.1. The tool policy comes from the backend (PolicyMode.REMOTE_REQUIRED).")
        with server:
            anyio.run(tour, issuer, server.url)
            command_line(issuer, settings, f"{server.url}/mcp")
    print("\nDone. Everything above went over real HTTP through authsec-sdk's middleware.")


if __name__ == "__main__":
    main()
