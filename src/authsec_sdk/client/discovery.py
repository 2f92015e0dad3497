"""Where to get tokens, read from the servers' own metadata and cached.

An authorization server's token endpoint comes from its RFC 8414 document (or else the
OpenID Connect one); a protected resource's authorization server from its RFC 9728
document. Each document must name what it was asked about (RFC 8414 §3.3, RFC 9728 §3.3):
metadata for another issuer or resource would send our credentials, or the caller's token,
somewhere we must not trust.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import anyio
import httpx

from ..runtime.tokens.discovery import metadata_urls
from ..runtime.upstream import UpstreamError, fetch_json
from .errors import OutboundAuthError

#: How long discovered metadata is reused, in seconds.
METADATA_TTL = 3600.0
#: Issuers remembered per cache; past this the oldest is forgotten.
MAX_ISSUERS = 64
PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource"


def is_http_url(value: object) -> TypeGuard[str]:
    """An absolute http(s) URL without a fragment."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def protected_resource_metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known path inserted before the resource's path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{PROTECTED_RESOURCE_WELL_KNOWN}{parts.path.rstrip('/')}"


async def _document(http: httpx.AsyncClient, url: str, within: float) -> dict[str, Any]:
    try:
        document = await fetch_json(http, "GET", url, within=within)
    except UpstreamError as exc:
        raise OutboundAuthError(f"GET {url}: {exc}", reason="unavailable") from None
    if not isinstance(document, dict):
        raise OutboundAuthError(f"GET {url}: answer is not a JSON object", reason="unavailable")
    return document


async def authorization_server_metadata(
    http: httpx.AsyncClient, issuer: str, *, within: float
) -> dict[str, Any]:
    """``issuer``'s metadata (RFC 8414, else OpenID Connect), which must name ``issuer`` and
    a usable ``token_endpoint``."""
    failures: list[str] = []
    for url in metadata_urls(issuer):
        try:
            document = await _document(http, url, within)
        except OutboundAuthError as exc:
            failures.append(str(exc))
            continue
        if document.get("issuer") != issuer:
            raise OutboundAuthError(f"GET {url}: metadata names another issuer", reason="misconfigured")
        if not is_http_url(document.get("token_endpoint")):
            raise OutboundAuthError(f"GET {url}: no usable token_endpoint", reason="misconfigured")
        return document
    raise OutboundAuthError(f"issuer metadata discovery failed: {'; '.join(failures)}", reason="unavailable")


async def token_endpoint_of(http: httpx.AsyncClient, issuer: str, *, within: float) -> str:
    """The ``token_endpoint`` in ``issuer``'s metadata."""
    endpoint: str = (await authorization_server_metadata(http, issuer, within=within))["token_endpoint"]
    return endpoint


@dataclass(frozen=True)
class ProtectedResource:
    """What a protected resource's RFC 9728 document says: its identifier and its first
    authorization server."""

    resource: str
    authorization_server: str


async def protected_resource(
    http: httpx.AsyncClient, metadata_url: str, expected_resource: str, *, within: float
) -> ProtectedResource:
    """The RFC 9728 document at ``metadata_url``, which must be for ``expected_resource``."""
    document = await _document(http, metadata_url, within)
    if document.get("resource") != expected_resource:
        raise OutboundAuthError(
            f"GET {metadata_url}: metadata is for another resource than {expected_resource}",
            reason="misconfigured",
        )
    servers = document.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not is_http_url(servers[0]):
        raise OutboundAuthError(
            f"GET {metadata_url}: no usable authorization_servers", reason="misconfigured"
        )
    return ProtectedResource(expected_resource, servers[0])


class TokenEndpoints:
    """A configured token endpoint, or each issuer's, discovered once and reused for ``ttl``.

    Concurrent first uses share one discovery; a failed discovery is not remembered.
    """

    def __init__(
        self,
        configured: str | None,
        *,
        ttl: float = METADATA_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if configured is not None and not is_http_url(configured):
            raise ValueError("token_endpoint must be an absolute http(s) URL")
        self._configured = configured
        self._ttl = ttl
        self._clock = clock
        self._found: dict[str, tuple[str, float]] = {}
        self._lock = anyio.Lock()

    async def get(self, http: httpx.AsyncClient, issuer: str | None, *, within: float) -> str:
        if self._configured is not None:
            return self._configured
        if issuer is None:
            raise OutboundAuthError(
                "no token_endpoint and no issuer to discover it from", reason="misconfigured"
            )
        async with self._lock:
            known = self._found.get(issuer)
            if known is not None and self._clock() - known[1] < self._ttl:
                return known[0]
            endpoint = await token_endpoint_of(http, issuer, within=within)
            self._found.pop(issuer, None)
            self._found[issuer] = (endpoint, self._clock())
            while len(self._found) > MAX_ISSUERS:
                del self._found[next(iter(self._found))]
            return endpoint
