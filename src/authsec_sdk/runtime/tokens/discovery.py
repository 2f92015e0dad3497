"""Where the issuer's keys and introspection endpoint are, read from the issuer's own metadata.

With ``Config.discover_endpoints`` the runtime reads the RFC 8414 document (or else the
OpenID Connect one) once at startup and fills in the ``jwks_url`` / ``introspection_url``
that are not configured. The document must name our issuer exactly (RFC 8414 §3.3):
another issuer's metadata would point us at keys we must not trust. Anything short of a
usable result refuses startup, with a message naming the URL and the cause.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config import Config
from ..config.settings import endpoint_problems, endpoints_to_discover
from ..errors import IssuerUnavailableError
from ..logsafe import shown
from ..upstream import UpstreamError, fetch_json

logger = logging.getLogger("authsec.tokens.discovery")

RFC8414_WELL_KNOWN = "/.well-known/oauth-authorization-server"
OPENID_WELL_KNOWN = "/.well-known/openid-configuration"
#: The metadata member that fills each `Config` field (RFC 8414 §2).
_MEMBERS: Mapping[str, str] = {"jwks_url": "jwks_uri", "introspection_url": "introspection_endpoint"}


def metadata_urls(issuer: str) -> tuple[str, str]:
    """Where an issuer's metadata lives, in the order asked: RFC 8414 §3.1 (the well-known
    path inserted before the issuer's path), then OpenID Connect Discovery §4 (appended)."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    return f"{origin}{RFC8414_WELL_KNOWN}{path}", f"{origin}{path}{OPENID_WELL_KNOWN}"


def resolve_endpoints(cfg: Config, document: Mapping[str, Any], source: str) -> Config:
    """``cfg`` with its missing endpoints taken from ``document`` (read from ``source``).

    Raises `ValueError` when the document is for another issuer, or when the result is
    still unusable (an endpoint missing, or not an absolute http(s) URL).
    """
    named = document.get("issuer")
    if named != cfg.issuer:
        raise ValueError(
            f"issuer metadata names issuer {shown(named)} but Config.issuer is {cfg.issuer!r} "
            f"(read from {source})"
        )
    found: dict[str, Any] = {}
    for name in endpoints_to_discover(cfg):
        value = document.get(_MEMBERS[name], "")
        if not isinstance(value, str):
            raise ValueError(f"issuer metadata at {source} has a {_MEMBERS[name]} that is not a string")
        found[name] = value
    resolved = dataclasses.replace(cfg, **found, discover_endpoints=False)
    problems = endpoint_problems(resolved)
    if problems:
        raise ValueError(
            f"the config is unusable after endpoint discovery from {source}: {'; '.join(problems)}"
        )
    return resolved


async def discover_endpoints(cfg: Config, http: httpx.AsyncClient) -> Config:
    """``cfg`` completed from the issuer's metadata, or itself when it lacks nothing.

    Each document is asked for within ``http_timeout``. Raises `IssuerUnavailableError`
    when neither can be read, `ValueError` when the one read does not fit (see
    `resolve_endpoints`); either refuses startup.
    """
    if not endpoints_to_discover(cfg):
        return cfg
    failures: list[str] = []
    for url in metadata_urls(cfg.issuer):
        try:
            document = await fetch_json(http, "GET", url, within=cfg.http_timeout)
        except UpstreamError as exc:
            failures.append(f"GET {url}: {exc}")
            continue
        if not isinstance(document, dict):
            failures.append(f"GET {url}: answer is not a JSON object")
            continue
        resolved = resolve_endpoints(cfg, document, url)
        logger.info(
            "issuer endpoints discovered from %s: jwks_url=%r introspection_url=%r",
            url,
            resolved.jwks_url,
            resolved.introspection_url,
        )
        return resolved
    raise IssuerUnavailableError(f"issuer metadata discovery failed: {'; '.join(failures)}")
