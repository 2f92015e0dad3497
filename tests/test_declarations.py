"""Policy declared next to the tool (``@requires_scopes``, ``@permission_required``,
``@public``) on an ``mcp`` SDK server: collected by `mount_mcp`, enforced by the middleware,
with the official client in both protocol revisions, and every contradiction refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from helpers import Protected, bearer, call_tool, challenge_params, protected_app
from mcp.server.mcpserver import MCPServer
from notes_mcp import MODES, connect, text_of
from starlette.applications import Starlette
from wire import WAIT

from authsec_sdk.runtime import (
    Config,
    PolicyMode,
    mount_mcp,
    permission_required,
    public,
    requires_scopes,
)
from authsec_sdk.runtime.declarations import (
    Declaration,
    collect_declarations,
    declaration_of,
    with_declarations,
)
from authsec_sdk.testing import LocalIssuer


def declared_server() -> MCPServer[Any]:
    """Each kind of declaration, half of them below ``@server.tool()`` and half above."""
    server: MCPServer[Any] = MCPServer("declared")

    @server.tool()
    @requires_scopes("notes:read", "notes:admin")
    def read() -> str:
        return "the notes"

    @requires_scopes("notes:admin", "notes:owner", all=True)
    @server.tool()
    def wipe() -> str:
        return "wiped"

    @server.tool()
    @public
    def ping() -> str:
        return "pong"

    @public(tool="status")
    @server.tool(name="status")
    def server_status() -> str:
        return "fine"

    @permission_required(["document:delete"], require_all=True)
    @server.tool()
    def delete() -> str:
        return "deleted"

    @server.tool()
    @permission_required(["document:read", "report:read"])
    def view() -> str:
        return "viewed"

    @server.tool()
    @requires_scopes("notes:read")
    @permission_required(["document:read"], tool="annotate")
    def annotate() -> str:
        return "annotated"

    @server.tool()
    def undeclared() -> str:
        return "never"

    return server


@pytest.fixture
def declared(issuer: LocalIssuer) -> Iterator[Protected]:
    with protected_app(issuer, declared_server()) as app:
        yield app


def test_declarations_are_collected_in_either_order() -> None:
    found = collect_declarations(declared_server())
    assert sorted(found) == ["annotate", "delete", "ping", "read", "status", "view", "wipe"]
    assert found["read"] == Declaration(scopes=("notes:read", "notes:admin"))
    assert found["ping"].public and found["status"].public and found["status"].tool == "status"
    assert found["wipe"].scopes == ("notes:admin", "notes:owner")
    assert found["wipe"].requirements[0].require_all
    assert found["view"].scopes == () and not found["view"].requirements[0].require_all
    assert found["annotate"].scopes == ("notes:read",) and len(found["annotate"].requirements) == 1


def test_declared_scopes_become_the_local_policy() -> None:
    found = collect_declarations(declared_server())
    cfg = with_declarations(Config(issuer="https://i.example"), found)
    assert cfg.effective_policy_mode is PolicyMode.LOCAL_ONLY
    assert cfg.tool_scopes == {
        "read": ["notes:read", "notes:admin"],
        "wipe": ["notes:admin", "notes:owner"],
        "ping": [],
        "status": [],
        "delete": [],
        "view": [],
        "annotate": ["notes:read"],
    }
    assert cfg.tool_scope_suggestions == {
        "read": ["notes:read", "notes:admin"],
        "wipe": ["notes:admin", "notes:owner"],
        "annotate": ["notes:read"],
    }
    # Entries the config already has are kept when they agree; undeclared tools stay denied.
    kept = with_declarations(Config(tool_scopes={"read": ["notes:admin", "notes:read"], "x": ["y"]}), found)
    assert kept.tool_scopes is not None and kept.tool_scopes["x"] == ["y"]
    assert "undeclared" not in kept.tool_scopes
    assert with_declarations(Config(), {}) == Config()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_declared_policy_over_mcp(issuer: LocalIssuer, declared: Protected, mode: str) -> None:
    claims = {"permissions": ["report:read", "document:read"]}
    token = issuer.mint(audience=declared.url, scopes=["notes:read"], claims=claims)
    async with connect(declared.url, token, mode) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert listed == {"read", "ping", "status", "view", "annotate"}
        for tool, answer in [("read", "the notes"), ("ping", "pong"), ("status", "fine"), ("view", "viewed")]:
            assert text_of(await client.call_tool(tool, {})) == answer
        assert text_of(await client.call_tool("annotate", {})) == "annotated"


async def _call(url: str, token: str, tool: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(url, json=call_tool(tool), headers=bearer(token))


@pytest.mark.anyio
async def test_refusals(issuer: LocalIssuer, declared: Protected) -> None:
    url = declared.url
    # A tool with no declaration stays denied: private by default.
    r = await _call(url, issuer.mint(audience=url, scopes=["notes:admin"]), "undeclared")
    assert r.status_code == 403 and "www-authenticate" not in r.headers
    assert r.json()["error"]["message"] == "tool not permitted"
    # A missing permission: 403 naming it, no step-up.
    r = await _call(url, issuer.mint(audience=url, claims={"permissions": ["document:read"]}), "delete")
    assert r.status_code == 403 and "www-authenticate" not in r.headers
    assert r.json()["error"]["data"]["unmet"] == ["permission 'document:delete'"]
    assert r.json()["error"]["data"]["require_all"] is True
    r = await _call(url, issuer.mint(audience=url), "view")
    assert r.json()["error"]["data"]["unmet"] == ["permission 'document:read'", "permission 'report:read'"]
    assert "one of" in r.json()["error"]["message"]
    # A missing scope: insufficient_scope asking for it (step-up works).
    r = await _call(url, issuer.mint(audience=url, scopes=["notes:admin"]), "wipe")
    assert r.status_code == 403
    assert challenge_params(r.headers["www-authenticate"])["error"] == "insufficient_scope"
    assert r.json()["error"]["data"]["required_scopes"] == ["notes:owner"]
    r = await _call(url, issuer.mint(audience=url), "read")
    assert set(r.json()["error"]["data"]["required_scopes"]) == {"notes:read", "notes:admin"}
    # A scope and a permission both declared: both are needed.
    r = await _call(url, issuer.mint(audience=url, scopes=["notes:read"]), "annotate")
    assert r.json()["error"]["data"]["unmet"] == ["permission 'document:read'"]
    # Met, they reach the tool.
    token = issuer.mint(audience=url, scopes=["notes:admin", "notes:owner"])
    async with connect(url, token, "auto") as client:
        assert text_of(await client.call_tool("wipe", {})) == "wiped"
    token = issuer.mint(audience=url, claims={"permissions": ["document:*"]})
    async with connect(url, token, "auto") as client:
        assert text_of(await client.call_tool("delete", {})) == "deleted"


@pytest.mark.anyio
async def test_declared_scopes_are_the_fallback_and_the_suggestions(issuer: LocalIssuer) -> None:
    issuer.backend.policy_fault = "down"
    values: dict[str, Any] = {
        **issuer.backend.config_values(),
        "policy_mode": PolicyMode.REMOTE_WITH_LOCAL_FALLBACK,
        "publish_manifest": True,
    }
    with protected_app(issuer, declared_server(), **values) as app:
        assert app.runtime.health()["policy"]["serving"] == "local_fallback"
        async with connect(app.url, issuer.mint(audience=app.url, scopes=["notes:read"]), "auto") as client:
            assert text_of(await client.call_tool("read", {})) == "the notes"
        with anyio.fail_after(WAIT):  # published in the background after startup
            for _ in range(1000):
                if issuer.backend.published_tools is not None:
                    break
                await anyio.sleep(0.01)
    tools = {t["name"]: t for t in issuer.backend.published_tools or []}
    assert tools["read"]["suggested_scopes"] == ["notes:read", "notes:admin"]
    assert "suggested_scopes" not in tools["ping"] and "suggested_scopes" not in tools["undeclared"]


# ---------------------------------------------------------------------- contradictions
def test_public_and_restricted_is_refused_in_either_order() -> None:
    with pytest.raises(ValueError, match="both @public and restricted"):

        @public
        @requires_scopes("a")
        def one() -> None: ...

    with pytest.raises(ValueError, match="both @public and restricted"):

        @permission_required(["doc:read"])
        @public
        def two() -> None: ...


@pytest.mark.parametrize(
    ("declare", "error", "message"),
    [
        (lambda: requires_scopes("a", tool=""), ValueError, "tool name must be a non-empty string"),
        (lambda: public(tool=" "), ValueError, "tool name must be a non-empty string"),
        (lambda: requires_scopes(), ValueError, "at least one scope"),
        (lambda: requires_scopes("a b"), ValueError, "without spaces"),
        (lambda: permission_required([]), ValueError, "at least one permission"),
        (lambda: permission_required("doc:read"), TypeError, "as a list"),
        (lambda: permission_required(["delete"]), ValueError, "'delete' is not 'resource:action'"),
        (lambda: requires_scopes("a", any=True), TypeError, "unexpected keyword argument 'any'"),  # type: ignore[call-arg]
        (lambda: permission_required(["d:r"], all=True), TypeError, "unexpected keyword argument 'all'"),  # type: ignore[call-arg]
        (lambda: public(tools="x"), TypeError, "unexpected keyword argument 'tools'"),  # type: ignore[call-overload]
    ],
)
def test_bad_declarations_fail_at_import(declare: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        declare()(lambda: None)


def test_conflicting_declarations_on_one_function() -> None:
    with pytest.raises(ValueError, match="@requires_scopes is declared twice"):

        @requires_scopes("a")
        @requires_scopes("b")
        def twice() -> None: ...

    with pytest.raises(ValueError, match="declared for tool 'x' and for tool 'y'"):

        @requires_scopes("a", tool="y")
        @permission_required(["d:r"], tool="x")
        def renamed() -> None: ...

    with pytest.raises(TypeError, match="decorate tool functions"):
        requires_scopes("a")("not a function")  # type: ignore[type-var]


def test_a_declaration_naming_a_tool_the_server_lacks_fails_at_mount(issuer: LocalIssuer) -> None:
    server: MCPServer[Any] = MCPServer("s")

    @server.tool(name="real")
    @requires_scopes("a", tool="ghost")
    def tool() -> str:
        return ""

    cfg = issuer.config(resource_uri="http://127.0.0.1:1/mcp")
    with pytest.raises(ValueError, match=r"tool 'ghost', but the server has no tool 'ghost'.*'real'"):
        mount_mcp(Starlette(), "/mcp", server, cfg)
    assert declaration_of(tool) == Declaration(tool="ghost", scopes=("a",))


@pytest.mark.parametrize(
    ("tool_scopes", "message"),
    [
        ({"read": ["notes:read"]}, r"'read' is declared @requires_scopes\('notes:read', 'notes:admin'\) but"),
        ({"ping": ["notes:read"]}, "'ping' is declared @public but tool_scopes gives it"),
        ({"wipe": []}, "'wipe' is declared @requires_scopes"),
    ],
)
def test_tool_scopes_disagreeing_with_a_declaration_fails_at_mount(
    issuer: LocalIssuer, tool_scopes: dict[str, list[str]], message: str
) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:1/mcp", tool_scopes=tool_scopes)
    with pytest.raises(ValueError, match=message):
        mount_mcp(Starlette(), "/mcp", declared_server(), cfg)


@pytest.mark.anyio
async def test_permissions_read_at_the_configured_claim_path(issuer: LocalIssuer) -> None:
    with protected_app(issuer, declared_server(), permissions_claim="authz.permissions") as app:
        at_path = issuer.mint(audience=app.url, claims={"authz": {"permissions": ["document:delete"]}})
        async with connect(app.url, at_path, "auto") as client:
            assert text_of(await client.call_tool("delete", {})) == "deleted"
        at_default = issuer.mint(audience=app.url, claims={"permissions": ["document:delete"]})
        r = await _call(app.url, at_default, "delete")
        assert r.status_code == 403 and r.json()["error"]["data"]["unmet"] == ["permission 'document:delete'"]
