"""The 4.x decorator API on the runtime: the FAQ's and the contract's tools unchanged, served
by `create_mcp_app` / `run_mcp_server_with_oauth`, driven by the official client in both
protocol revisions; every requirement refused by the middleware before the tool runs."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import legacy_seeds  # noqa: F401 - declares the seed tools
import pytest
from helpers import bearer, call_tool, challenge_params, served_late
from notes_mcp import MODES, connect, text_of
from starlette.types import ASGIApp
from wire import WAIT

from authsec_sdk import create_mcp_app, mcp_tool, protected_by_AuthSec
from authsec_sdk.legacy import LegacySession
from authsec_sdk.runtime import Config, PolicyMode
from authsec_sdk.testing import LocalIssuer

SEED_TOOLS = {"public_info", "private_data", "hello", "list_repos"}
EMAIL = {"email": "alice@example.com", "name": "Alice"}
sessions: list[LegacySession] = []


@protected_by_AuthSec("legacy_role_or_group", roles=["admin"], groups=["ops"])
async def role_or_group(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "ok"}]


@protected_by_AuthSec(
    "legacy_role_and_permission", roles=["admin"], permissions=["document:delete"], require_all=True
)
async def role_and_permission(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "deleted"}]


@protected_by_AuthSec("legacy_scoped", scopes=["notes:write", "notes:admin"])
async def scoped(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "written"}]


@protected_by_AuthSec("legacy_role_or_scope", roles=["admin"], scopes=["notes:write"])
async def role_or_scope(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "either"}]


@protected_by_AuthSec("legacy_all_scopes", scopes=["notes:read", "notes:write"], require_all=True)
async def all_scopes(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "both"}]


@protected_by_AuthSec("legacy_resource", resources=["invoice"], description="Invoices")
async def resource(arguments: dict[str, Any], session: LegacySession) -> list[dict[str, str]]:
    sessions.append(session)
    return [{"type": "text", "text": f"{session.user_id}/{session.tenant_id}/{arguments['n']}"}]


@mcp_tool(inputSchema={"type": "object", "properties": {"message": {"type": "string"}}})
async def echo(arguments: dict[str, Any]) -> list[dict[str, str]]:
    """Echo a message."""
    return [{"type": "text", "text": arguments["message"]}, {"type": "text", "text": str(sorted(arguments))}]


@mcp_tool("legacy_whoami")
async def whoami(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": json.dumps(arguments["_user_info"])}]


@mcp_tool
async def legacy_bare(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "bare"}]


@mcp_tool("legacy_not_a_list")
async def not_a_list(arguments: dict[str, Any]) -> Any:
    return "plain text"


@mcp_tool("legacy_not_content")
async def not_content(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "nonsense"}]


@mcp_tool("legacy_broken")
async def broken(arguments: dict[str, Any]) -> list[dict[str, str]]:
    raise RuntimeError("secret internals")


def legacy_config(issuer: LocalIssuer, base: str) -> Config:
    return issuer.config(resource_uri=f"{base}/mcp", policy_mode=PolicyMode.LOCAL_ONLY)


@pytest.fixture
def legacy_url(issuer: LocalIssuer) -> Iterator[str]:
    def build(base: str) -> ASGIApp:
        return create_mcp_app("client-4x", "Seeds", config=legacy_config(issuer, base))

    with served_late(build) as base:
        yield f"{base}/mcp"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_seed_tools_run_unchanged(issuer: LocalIssuer, legacy_url: str, mode: str) -> None:
    token = issuer.mint(subject="alice", audience=legacy_url, claims=EMAIL)
    async with connect(legacy_url, token, mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= SEED_TOOLS
        assert tools["public_info"].description == "Anyone can call this"
        assert tools["echo"].description == "Echo a message."
        assert tools["echo"].input_schema["properties"] == {"message": {"type": "string"}}
        assert text_of(await client.call_tool("public_info", {})) == "Public data"
        assert text_of(await client.call_tool("private_data", {})) == "Authenticated data"
        assert text_of(await client.call_tool("hello", {})) == "Hello, alice@example.com!"
        assert text_of(await client.call_tool("list_repos", {})) == "…"
        # Tools the caller lacks the roles or scopes for are not listed.
        assert "legacy_role_and_permission" not in tools and "legacy_scoped" not in tools


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_user_info_and_session(issuer: LocalIssuer, legacy_url: str, mode: str) -> None:
    claims = {**EMAIL, "roles": ["admin"], "permissions": ["invoice:read"], "tenant_id": "t1"}
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=legacy_url, claims=claims)
    async with connect(legacy_url, token, mode) as client:
        result = await client.call_tool("echo", {"message": "hi", "_user_info": {"sub": "forged"}})
        assert [getattr(c, "text", "") for c in result.content] == ["hi", "['_user_info', 'message']"]
        assert text_of(await client.call_tool("legacy_resource", {"n": 7})) == "alice/t1/7"
    session = sessions[-1]
    assert session.principal.subject == "alice" and session.org_id is None
    assert (session.session_id != "") == (mode == "legacy")


@pytest.mark.anyio
async def test_user_info_fields(issuer: LocalIssuer, legacy_url: str) -> None:
    claims = {**EMAIL, "roles": ["admin"], "groups": ["ops"], "permissions": ["invoice:read", "bad"]}
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=legacy_url, claims=claims)
    async with connect(legacy_url, token, "auto") as client:
        forged = {"_user_info": {"sub": "mallory", "roles": ["root"]}}
        info = json.loads(text_of(await client.call_tool("legacy_whoami", forged)))
    assert info == {
        "sub": "alice",
        "email": "alice@example.com",
        "name": "Alice",
        "roles": ["admin"],
        "groups": ["ops"],
        "scopes": ["notes:read"],
        "permissions": ["invoice:read"],
        "client_id": "local-client",
    }


async def _call(url: str, token: str, tool: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(url, json=call_tool(tool), headers=bearer(token))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "claims", "scopes", "unmet"),
    [
        ("legacy_role_or_group", {}, [], ["role 'admin'", "group 'ops'"]),
        ("legacy_role_and_permission", {"roles": ["admin"]}, [], ["permission 'document:delete'"]),
        ("legacy_role_and_permission", {"permissions": ["document:delete"]}, [], ["role 'admin'"]),
        ("legacy_resource", {"permissions": ["document:read"]}, [], ["resource 'invoice'"]),
    ],
)
async def test_missing_rbac_condition_is_403_naming_it(
    issuer: LocalIssuer,
    legacy_url: str,
    tool: str,
    claims: dict[str, Any],
    scopes: list[str],
    unmet: list[str],
) -> None:
    token = issuer.mint(audience=legacy_url, scopes=scopes, claims=claims)
    r = await _call(legacy_url, token, tool)
    assert r.status_code == 403
    assert "www-authenticate" not in r.headers  # no step-up: no scope would help
    error = r.json()["error"]
    assert error["data"]["unmet"] == unmet
    assert error["data"]["tool"] == tool and error["data"]["error"] != "insufficient_scope"
    for condition in unmet:
        assert condition in error["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "scopes", "asked"),
    [
        ("legacy_scoped", [], "notes:admin notes:write"),
        ("legacy_role_or_scope", [], "notes:write"),
        ("legacy_all_scopes", ["notes:read"], "notes:write"),
    ],
)
async def test_missing_scope_is_insufficient_scope(
    issuer: LocalIssuer, legacy_url: str, tool: str, scopes: list[str], asked: str
) -> None:
    token = issuer.mint(audience=legacy_url, scopes=scopes)
    r = await _call(legacy_url, token, tool)
    assert r.status_code == 403
    challenge = challenge_params(r.headers["www-authenticate"])
    assert challenge["error"] == "insufficient_scope"
    assert set(challenge["scope"].split()) >= set(asked.split())
    assert r.json()["error"]["data"]["error"] == "insufficient_scope"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "claims", "scopes", "answer"),
    [
        ("legacy_role_or_group", {"groups": ["ops"]}, [], "ok"),
        ("legacy_role_or_group", {"roles": ["admin"]}, [], "ok"),
        ("legacy_role_and_permission", {"roles": ["admin"], "permissions": ["document:*"]}, [], "deleted"),
        ("legacy_scoped", {}, ["notes:admin"], "written"),
        ("legacy_role_or_scope", {"roles": ["admin"]}, [], "either"),
        ("legacy_role_or_scope", {}, ["notes:write"], "either"),
        ("legacy_all_scopes", {}, ["notes:read", "notes:write"], "both"),
    ],
)
async def test_met_conditions_reach_the_tool(
    issuer: LocalIssuer, legacy_url: str, tool: str, claims: dict[str, Any], scopes: list[str], answer: str
) -> None:
    token = issuer.mint(audience=legacy_url, scopes=scopes, claims=claims)
    async with connect(legacy_url, token, "auto") as client:
        assert text_of(await client.call_tool(tool, {})) == answer


@pytest.mark.anyio
async def test_tool_results_and_failures(issuer: LocalIssuer, legacy_url: str) -> None:
    token = issuer.mint(audience=legacy_url)
    async with connect(legacy_url, token, "auto") as client:
        result = await client.call_tool("legacy_broken", {})
        assert text_of(await client.call_tool("legacy_bare", {})) == "bare"
        bad = [("legacy_not_a_list", "must return a list"), ("legacy_not_content", "not MCP content")]
        for tool, why in bad:
            answer = await client.call_tool(tool, {})
            assert answer.is_error and why in text_of(answer)
    assert result.is_error and "secret internals" not in text_of(result)


def test_missing_settings_name_their_variable(issuer: LocalIssuer) -> None:
    with pytest.raises(ValueError, match="AUTHSEC_RESOURCE_URI"):
        create_mcp_app(
            "c", "a", config=Config(issuer="https://issuer.example", jwks_url="https://i.example/k")
        )
    with pytest.raises(ValueError, match="AUTHSEC_ISSUER"):
        create_mcp_app("c", "a", config=Config())
    with pytest.raises(ValueError, match="AUTHSEC_JWKS_URL or AUTHSEC_INTROSPECTION_URL"):
        create_mcp_app(
            "c", "a", config=Config(issuer="https://i.example", resource_uri="https://r.example/mcp")
        )
    with pytest.raises(ValueError, match="client_id is required"):
        create_mcp_app("", "a", config=Config())


def test_client_id_fills_the_resource_server(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AUTHSEC_ISSUER": issuer.issuer,
        "AUTHSEC_JWKS_URL": issuer.jwks_url,
        "AUTHSEC_RESOURCE_URI": "http://127.0.0.1:1/mcp",
    }.items():
        monkeypatch.setenv(name, value)
    # REMOTE_REQUIRED (inferred from the client id) needs the backend's secret: the error says so.
    with pytest.raises(ValueError, match="policy mode REMOTE_REQUIRED requires introspection_client_id and"):
        create_mcp_app("client-4x", "My Secure MCP Server")


def test_declaration_errors() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        protected_by_AuthSec("")
    with pytest.raises(ValueError, match="'resource:action'"):
        protected_by_AuthSec("t", permissions=["delete"])
    with pytest.raises(TypeError, match="must be a list"):
        protected_by_AuthSec("t", roles="admin")
    with pytest.raises(TypeError, match="unexpected keyword argument 'role'"):
        protected_by_AuthSec("t", role=["admin"])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="'hello' is declared twice"):

        @protected_by_AuthSec("hello")
        async def again(arguments: dict[str, Any]) -> list[Any]:
            return []

    with pytest.raises(ValueError, match="must be non-empty strings without spaces"):
        protected_by_AuthSec("t", groups=["two words"])
    with pytest.raises(ValueError, match="inputSchema must be a JSON Schema object"):
        mcp_tool("schema_tool", inputSchema={"type": "string"})(role_or_group)
    with pytest.raises(TypeError, match=r"must take \(arguments\) or \(arguments, session\)"):

        @mcp_tool("three")
        async def three(a: Any, b: Any, c: Any) -> list[Any]:
            return []

    with pytest.raises(TypeError, match="must be an async function"):

        @mcp_tool("sync_tool")
        def sync_tool(arguments: dict[str, Any]) -> list[Any]:
            return []


@pytest.mark.anyio
async def test_run_mcp_server_with_oauth(issuer: LocalIssuer) -> None:
    """The contract's call, in a process of its own, answering the official client."""
    with socket.socket() as probe:  # a free port, released again for the server to take
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    env = {
        **os.environ,
        "AUTHSEC_ISSUER": issuer.issuer,
        "AUTHSEC_JWKS_URL": issuer.jwks_url,
        "AUTHSEC_RESOURCE_URI": url,
        "AUTHSEC_POLICY_MODE": "local_only",
        "PYTHONPATH": str(Path(__file__).parent),
    }
    script = (
        "import legacy_seeds\n"
        "from authsec_sdk import run_mcp_server_with_oauth\n"
        f"run_mcp_server_with_oauth(client_id='client-4x', app_name='My Secure MCP Server', port={port})\n"
    )
    process = await anyio.open_process([sys.executable, "-c", script], env=env, stdout=None, stderr=None)
    try:
        token = issuer.mint(audience=url, claims=EMAIL)
        with anyio.fail_after(WAIT):
            while True:
                try:
                    async with connect(url, token, "legacy") as client:
                        assert text_of(await client.call_tool("hello", {})) == "Hello, alice@example.com!"
                    break
                except* httpx2.ConnectError:
                    await anyio.sleep(0.1)
        async with connect(url, token, "auto") as client:
            assert text_of(await client.call_tool("list_repos", {})) == "…"
    finally:
        process.terminate()
        with anyio.fail_after(WAIT):
            await process.wait()
