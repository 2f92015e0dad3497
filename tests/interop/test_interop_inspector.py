"""The MCP Inspector CLI against our server, with a bearer token from oidc-provider.

The Inspector is an independent client (TypeScript SDK) on the streamable HTTP transport;
``--protocol-era legacy`` speaks 2025-11-25 (initialize, sessions), ``modern`` 2026-07-28.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Protected
from interop.interop_peers import JWT_CLIENTS, OPAQUE_CLIENT, OidcProvider, notes_behind, run_inspector

from authsec_sdk.runtime import ValidationMode

ERAS = ["legacy", "modern"]


@pytest.fixture(scope="module")
def server(provider: OidcProvider) -> Iterator[Protected]:
    with notes_behind(provider, **provider.config_values(ValidationMode.JWT_OR_INTROSPECT)) as running:
        yield running


@pytest.mark.parametrize("era", ERAS)
def test_tools_list(node: str, provider: OidcProvider, server: Protected, tmp_path: Path, era: str) -> None:
    token = provider.token(JWT_CLIENTS["ES256"], server.url, "notes:read")
    run = run_inspector(node, tmp_path, server.url, token, "--method", "tools/list", "--protocol-era", era)
    assert run.returncode == 0, run.stderr
    # Filtered to what a notes:read token may call: "wipe" is not listed.
    assert {tool["name"] for tool in run.json()["result"]["tools"]} == {"whoami", "read", "announce"}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("client", [JWT_CLIENTS["RS256"], OPAQUE_CLIENT])
def test_tools_call(
    node: str, provider: OidcProvider, server: Protected, tmp_path: Path, era: str, client: str
) -> None:
    token = provider.token(client, server.url, "notes:read notes:admin")
    args = ["--method", "tools/call", "--tool-name", "wipe", "--protocol-era", era]
    run = run_inspector(node, tmp_path, server.url, token, *args)
    assert run.returncode == 0, run.stderr
    result = run.json()["result"]
    assert result["isError"] is False
    assert result["content"] == [{"type": "text", "text": "wiped"}]


def test_tool_the_token_may_not_call(
    node: str, provider: OidcProvider, server: Protected, tmp_path: Path
) -> None:
    """The Inspector looks the tool up in tools/list first; ours hides it from a notes:read token."""
    token = provider.token(JWT_CLIENTS["ES256"], server.url, "notes:read")
    run = run_inspector(node, tmp_path, server.url, token, "--method", "tools/call", "--tool-name", "wipe")
    assert run.returncode != 0
    assert "wiped" not in run.stdout
    assert run.error_code() == "tool_not_found", run.stderr


@pytest.mark.parametrize("era", ERAS)
def test_token_for_another_resource(
    node: str, provider: OidcProvider, server: Protected, tmp_path: Path, era: str
) -> None:
    token = provider.token(JWT_CLIENTS["EdDSA"], f"{server.base}/other")
    # --stored-auth-only: report auth_required instead of starting an interactive login.
    args = ["--method", "tools/list", "--stored-auth-only", "--protocol-era", era]
    run = run_inspector(node, tmp_path, server.url, token, *args)
    assert run.returncode != 0
    assert run.stdout == ""
    assert run.error_code() == "auth_required", run.stderr
