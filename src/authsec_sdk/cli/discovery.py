"""What an MCP client discovers from a server's URL alone (MCP authorization, RFC 9728, RFC
8414): the 401 challenge, the protected-resource metadata it names, and the authorization
server's metadata. `authsec login` follows the chain; `authsec doctor --url` checks each link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..client.challenge import Challenge, bearer_challenge
from ..client.discovery import (
    authorization_server_metadata,
    is_http_url,
    protected_resource,
    protected_resource_metadata_url,
)
from ..client.errors import OutboundAuthError
from ..runtime.upstream import UpstreamError, send

#: What the probe posts: a harmless JSON-RPC request, as a client's first message would be.
_PROBE = {"jsonrpc": "2.0", "id": 0, "method": "ping"}
_ACCEPT = "application/json, text/event-stream"
_ANY_STATUS = range(100, 600)


@dataclass(frozen=True)
class Probe:
    """The server's answer to a request without a token."""

    status: int
    challenges: tuple[str, ...]
    challenge: Challenge | None


async def probe(http: httpx.AsyncClient, url: str, *, within: float) -> Probe:
    """POST a JSON-RPC ping to ``url`` without a token and read the challenge.

    Raises `OutboundAuthError` when the server cannot be reached.
    """
    try:
        response = await send(
            http,
            "POST",
            url,
            within=within,
            accept_status=_ANY_STATUS,
            json=_PROBE,
            headers={"Accept": _ACCEPT},
        )
    except UpstreamError as exc:
        raise OutboundAuthError(f"POST {url}: {exc}", reason="unavailable") from None
    values = tuple(response.headers.get_list("www-authenticate"))
    return Probe(response.status_code, values, bearer_challenge(values))


@dataclass(frozen=True)
class Discovered:
    """Where tokens for one MCP server come from."""

    resource: str
    metadata_url: str
    authorization_server: str
    #: The authorization server's RFC 8414 (or OpenID) document.
    server_metadata: Mapping[str, Any] = field(repr=False)
    #: What the server's 401 asked for (its baseline scopes), if anything.
    challenge_scopes: tuple[str, ...] = ()

    @property
    def token_endpoint(self) -> str:
        endpoint: str = self.server_metadata["token_endpoint"]
        return endpoint

    @property
    def revocation_endpoint(self) -> str | None:
        """RFC 7009's endpoint when the authorization server advertises a usable one."""
        endpoint = self.server_metadata.get("revocation_endpoint")
        return endpoint if is_http_url(endpoint) else None


async def discover(http: httpx.AsyncClient, url: str, *, within: float) -> Discovered:
    """Follow ``url``'s 401 to its protected-resource metadata (which must be for ``url``) and
    on to its authorization server's metadata. Raises `OutboundAuthError` naming the link that
    broke."""
    answer = await probe(http, url, within=within)
    if answer.status != 401:
        raise OutboundAuthError(
            f"POST {url} answered HTTP {answer.status} without a token, not 401: is it protected?",
            reason="misconfigured",
        )
    named = answer.challenge.resource_metadata if answer.challenge is not None else None
    metadata_url = named or protected_resource_metadata_url(url)
    if not is_http_url(metadata_url):
        raise OutboundAuthError("the challenge's resource_metadata is not an http(s) URL", reason="refused")
    resource = await protected_resource(http, metadata_url, url, within=within)
    document = await authorization_server_metadata(http, resource.authorization_server, within=within)
    return Discovered(
        resource=resource.resource,
        metadata_url=metadata_url,
        authorization_server=resource.authorization_server,
        server_metadata=document,
        challenge_scopes=answer.challenge.scopes if answer.challenge is not None else (),
    )
