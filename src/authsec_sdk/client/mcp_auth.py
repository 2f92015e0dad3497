"""`mcp_client_auth`: what an MCP client must do to call a protected MCP server.

Starting from the server's URL alone: the first request goes without a token; the 401's
challenge names the protected-resource metadata (RFC 9728), which names the authorization
server, whose metadata (RFC 8414) names the token endpoint; a token is got there for this
resource (RFC 8707) with the challenge's scopes, by client credentials or a refresh token,
and the request is sent again. A 403 ``insufficient_scope`` re-authorizes once for the union
of the scopes held and asked for, and retries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from .base import Answer, OutboundAuth
from .challenge import Challenge, bearer_challenge
from .discovery import (
    ProtectedResource,
    TokenEndpoints,
    is_http_url,
    protected_resource,
    protected_resource_metadata_url,
)
from .errors import OutboundAuthError
from .grant_auth import DEFAULT_SKEW, DEFAULT_TIMEOUT, check_timing
from .grants import ClientCredentialsGrant, Grant, OnRefresh, RefreshGrant
from .slot import TokenSlot
from .token_endpoint import ClientCredentials, Clock, IssuedToken, http_client, jwt_expiry, scope_tuple


class McpClientAuth(OutboundAuth):
    """Tokens for one MCP server at ``server_url``, got as its challenges direct.

    Build it with `mcp_client_auth`.
    """

    def __init__(
        self,
        server_url: str,
        grant: Grant,
        *,
        scopes: tuple[str, ...] | None,
        initial: IssuedToken | None,
        skew: float,
        clock: Clock,
        http: httpx.AsyncClient | None,
        timeout: float,
    ) -> None:
        if not is_http_url(server_url):
            raise ValueError("server_url must be an absolute http(s) URL")
        check_timing(skew, timeout)
        self._server_url = server_url
        self._grant = grant
        self._scopes = scopes
        self._clock = clock
        self._http = http
        self._timeout = timeout
        self._slot = TokenSlot(clock, skew, initial)
        self._endpoints = TokenEndpoints(None)
        self._resource: ProtectedResource | None = None
        self._metadata_url: str | None = None

    async def _fetch(self, resource: ProtectedResource) -> IssuedToken:
        async with http_client(self._http) as http:
            endpoint = await self._endpoints.get(http, resource.authorization_server, within=self._timeout)
            return await self._grant(
                http,
                endpoint,
                scopes=self._scopes,
                audience=resource.resource,
                within=self._timeout,
                clock=self._clock,
            )

    async def _discover(self, challenge: Challenge | None) -> ProtectedResource:
        """Where tokens come from, read again unless the challenge points where we looked."""
        named = challenge.resource_metadata if challenge is not None else None
        url = named or protected_resource_metadata_url(self._server_url)
        if self._resource is not None and url == self._metadata_url:
            return self._resource
        if not is_http_url(url):
            raise OutboundAuthError("resource_metadata is not an http(s) URL", reason="refused")
        async with http_client(self._http) as http:
            resource = await protected_resource(http, url, self._server_url, within=self._timeout)
        self._resource, self._metadata_url = resource, url
        return resource

    async def access_token(self) -> str | None:
        resource = self._resource
        if resource is None:  # before the first challenge: what we were given, if anything
            held = self._slot.token
            return held.access_token if held is not None else None
        return (await self._slot.get(lambda: self._fetch(resource))).access_token

    async def renew(self, rejected: str | None, response: Answer) -> str:
        challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
        resource = await self._discover(challenge)
        if challenge is not None and challenge.scopes:
            self._scopes = challenge.scopes
        return (await self._slot.replace(rejected, lambda: self._fetch(resource))).access_token

    async def step_up(self, held: str | None, response: Answer) -> str | None:
        challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
        if challenge is None or challenge.error != "insufficient_scope" or not challenge.scopes:
            return None
        resource = await self._discover(challenge)
        current = self._slot.token
        had = current.scopes if current is not None and current.scopes else (self._scopes or ())
        self._scopes = tuple(dict.fromkeys([*had, *challenge.scopes]))
        return (await self._slot.replace(held, lambda: self._fetch(resource))).access_token


def mcp_client_auth(
    server_url: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    access_token: str | None = None,
    on_refresh: OnRefresh | None = None,
    scopes: Iterable[str] | None = None,
    skew: float = DEFAULT_SKEW,
    clock: Clock = time.time,
    http: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> McpClientAuth:
    """Auth for the official MCP client: ``create_mcp_http_client(auth=mcp_client_auth(url, ...))``.

    Either client credentials (``client_id`` and ``client_secret``), or a refresh token (with
    the ``access_token`` it came with, if any, and ``client_id`` / ``client_secret`` when the
    client must identify itself). ``scopes`` is what to ask for when a challenge names none.
    """
    if refresh_token is None:
        if access_token is not None or on_refresh is not None:
            raise ValueError("access_token and on_refresh need refresh_token")
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required without refresh_token")
        grant: Grant = ClientCredentialsGrant(ClientCredentials(client_id, client_secret))
        initial = None
    else:
        if client_secret is not None and not client_id:
            raise ValueError("client_secret needs client_id")
        client = ClientCredentials(client_id, client_secret) if client_id else None
        grant = RefreshGrant(refresh_token, client, on_refresh)
        initial = IssuedToken(access_token, jwt_expiry(access_token)) if access_token else None
    return McpClientAuth(
        server_url,
        grant,
        scopes=scope_tuple(scopes),
        initial=initial,
        skew=skew,
        clock=clock,
        http=http,
        timeout=timeout,
    )
