"""Outbound auth: tokens for the services a tool calls, and for the MCP servers an agent calls.

MCP forbids passing a received token on. The three models here get the right token instead,
as ``httpx.Auth`` classes (also ``httpx2.Auth``, for the official MCP client):

- `RequestBoundAuth`: inside a request, as its caller (RFC 8693 token exchange);
- `RuntimeCredentialAuth`: as a worker, from its client id and secret;
- `RefreshTokenAuth`: as a signed-in user, from an access and a refresh token;

`auth_from_env` picks one from ``AUTHSEC_AUTH_MODE``, and `mcp_client_auth` follows an MCP
server's challenges to a token for it. Every failure is an `OutboundAuthError`; nothing is
sent without the token meant for it.
"""

from .base import OutboundAuth
from .env import auth_from_env
from .errors import OutboundAuthError
from .mcp_auth import McpClientAuth, mcp_client_auth
from .refresh import RefreshTokenAuth
from .request_bound import RequestBoundAuth
from .runtime_credential import RuntimeCredentialAuth

__all__ = [
    "McpClientAuth",
    "OutboundAuth",
    "OutboundAuthError",
    "RefreshTokenAuth",
    "RequestBoundAuth",
    "RuntimeCredentialAuth",
    "auth_from_env",
    "mcp_client_auth",
]
