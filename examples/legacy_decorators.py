"""The 4.x decorator API, unchanged, served by the runtime: ``run_mcp_server_with_oauth``.

Starts a local issuer, prints a token for it, and serves the tools at
http://127.0.0.1:8000/mcp until Ctrl-C. Call them with any MCP client sending
``Authorization: Bearer <token>``. Run: `.venv/bin/python examples/legacy_decorators.py`.
"""

from __future__ import annotations

import os
from typing import Any

from authsec_sdk import mcp_tool, protected_by_AuthSec, run_mcp_server_with_oauth
from authsec_sdk.legacy import LegacySession
from authsec_sdk.testing import LocalIssuer

RESOURCE_URI = "http://127.0.0.1:8000/mcp"


@mcp_tool("public_info", description="Anyone with a valid token can call this")
async def public_info(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": "Public data"}]


@protected_by_AuthSec("hello")
async def hello(arguments: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "text", "text": f"Hello, {arguments['_user_info']['email']}!"}]


@protected_by_AuthSec("list_repos", roles=["developer"], scopes=["repo:read"], description="Repositories")
async def list_repos(args: dict[str, Any], session: LegacySession) -> list[dict[str, str]]:
    return [{"type": "text", "text": f"repositories of {session.user_id}"}]


def main() -> None:
    with LocalIssuer() as issuer:
        os.environ.update(
            AUTHSEC_ISSUER=issuer.issuer,
            AUTHSEC_JWKS_URL=issuer.jwks_url,
            AUTHSEC_RESOURCE_URI=RESOURCE_URI,
            # No AuthSec backend here: the declarations are the policy.
            AUTHSEC_POLICY_MODE="local_only",
        )
        token = issuer.mint(
            subject="alice",
            audience=RESOURCE_URI,
            expires_in=3600,
            claims={"email": "alice@example.com", "roles": ["developer"]},
        )
        print(f"Serving {RESOURCE_URI}; a token for alice (valid one hour):\n{token}\n")
        run_mcp_server_with_oauth(client_id="example-client", app_name="My Secure MCP Server")


if __name__ == "__main__":
    main()
