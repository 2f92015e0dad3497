"""A tool that calls another protected service as its caller, with `RequestBoundAuth`.

Everything runs on this machine over real HTTP on 127.0.0.1: a local OAuth issuer, a
calendar API protected by `mount_mcp`, and an MCP server (the official `mcp` SDK, also behind
`mount_mcp`) whose tool reads the caller's calendar. The tool never forwards the token it
received: it exchanges it (RFC 8693) for a token meant for the calendar API alone, with the
same subject, and the issuer's exchange policy says which services it may ask for.

Run it with `.venv/bin/python examples/call_downstream.py`.
"""

from __future__ import annotations

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from authsec_sdk.client import OutboundAuthError, RequestBoundAuth
from authsec_sdk.runtime import mount_mcp
from authsec_sdk.testing import LocalIssuer, ServerThread

CALENDARS = {"alice": ["10:00 design review", "15:00 dentist"], "bob": ["09:00 stand-up"]}


async def calendar_api(request: Request) -> JSONResponse:
    """The downstream service: it answers for whoever its own token names."""
    principal = request.state.authsec_principal
    return JSONResponse(
        {
            "subject": principal.subject,
            "events": CALENDARS.get(principal.subject, []),
            "token_audience": list(principal.audience),
            "obtained_by": principal.claims.get("act", {}).get("sub"),
        }
    )


def assistant(calendar_url: str) -> MCPServer:
    server = MCPServer("assistant", log_level="WARNING")
    # One instance for the whole server: exchanged tokens are cached per caller.
    calendar_auth = RequestBoundAuth(calendar_url, scopes=["calendar:read"])

    @server.tool()
    async def my_day() -> str:
        """Read the caller's calendar, as the caller."""
        try:
            async with httpx.AsyncClient(auth=calendar_auth) as http:
                answer = await http.get(calendar_url)
        except OutboundAuthError as exc:
            return f"could not call the calendar as you: {exc}"
        body = answer.json()
        return (
            f"{body['subject']}'s day: {', '.join(body['events']) or 'free'} "
            f"(the calendar saw a token for {body['token_audience']}, obtained by {body['obtained_by']})"
        )

    return server


async def ask(url: str, token: str) -> str:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("my_day", {})
    return " ".join(getattr(part, "text", "") for part in result.content)


async def tour(issuer: LocalIssuer, assistant_url: str) -> None:
    for user in ("alice", "bob"):
        token = issuer.mint(subject=user, audience=assistant_url)
        print(f"\n== {user} asks the assistant for their day")
        print(f"   -> {await ask(assistant_url, token)}")

    revoked = issuer.mint(subject="carol", audience=assistant_url)
    issuer.revoke(revoked)
    print("\n== carol's token was revoked at the issuer; the assistant checks JWTs locally and lets")
    print("   her in, but the issuer refuses to exchange it, so the calendar is never called")
    print("   -> " + await ask(assistant_url, revoked))


def main() -> None:
    with LocalIssuer() as issuer:
        api_app, mcp_app = Starlette(), Starlette()
        api_server, mcp_server = ServerThread(api_app), ServerThread(mcp_app)
        calendar_url, assistant_url = f"{api_server.url}/calendar", f"{mcp_server.url}/mcp"
        # The calendar API: no MCP tools, so an empty local policy.
        mount_mcp(
            api_app, "/calendar", calendar_api, issuer.config(resource_uri=calendar_url, tool_scopes={})
        )
        # The assistant: JWTs checked locally; its introspection credentials are also the
        # client the issuer knows it by, allowed to exchange tokens for the calendar API alone.
        cfg = issuer.config(resource_uri=assistant_url, tool_scopes={"my_day": []}, introspection_url=None)
        mount_mcp(mcp_app, "/mcp", assistant(calendar_url), cfg)
        issuer.authorization.register_client(
            issuer.client_id, client_secret=issuer.client_secret, scopes=["calendar:read"]
        )
        issuer.authorization.allow_exchange(issuer.client_id, [calendar_url])
        print("A local issuer, a calendar API and an MCP assistant on 127.0.0.1, all behind authsec-sdk.")
        with api_server, mcp_server:
            anyio.run(tour, issuer, assistant_url)
    print("\nDone. The assistant never sent anyone the token it was given.")


if __name__ == "__main__":
    main()
