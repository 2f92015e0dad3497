"""The AuthSec backend's SDK endpoints: where they are, how to sign in, and the two calls.

``GET sdk-policy`` supplies the remote scope matrix; ``PUT sdk-manifest`` receives the tool
inventory. Every failure is a `BackendError` naming the method, the URL and why, and never
the credentials, so callers can log it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .config import Config
from .upstream import UpstreamError, fetch_json, send

T = TypeVar("T")


class BackendError(Exception):
    """A backend call failed; ``str(exc)`` is ``"<METHOD> <url>: <why>"`` and safe to log."""


def basic_auth(cfg: Config) -> httpx.BasicAuth:
    """HTTP Basic with the introspection client credentials, as introspection and the backend expect."""
    return httpx.BasicAuth(cfg.introspection_client_id, cfg.introspection_client_secret)


def backend_url(cfg: Config, leaf: str) -> str:
    """``{authorization_server}/authsec/resource-servers/{id}/{leaf}``: the backend's SDK endpoints."""
    base = cfg.effective_authorization_server.rstrip("/")
    return f"{base}/authsec/resource-servers/{quote(cfg.resource_server_id, safe='')}/{leaf}"


async def get_policy(http: httpx.AsyncClient, cfg: Config, read: Callable[[Any], T]) -> T:
    """The ``sdk-policy`` answer as ``read`` makes sense of it.

    ``read`` raises `ValueError` for a document it cannot read; that, like any failed
    request, is a `BackendError`.
    """
    url = backend_url(cfg, "sdk-policy")
    try:
        data = await fetch_json(http, "GET", url, within=cfg.http_timeout, auth=basic_auth(cfg))
    except UpstreamError as exc:
        raise BackendError(f"GET {url}: {exc}") from exc
    try:
        return read(data)
    except ValueError as exc:
        raise BackendError(f"GET {url}: malformed policy document: {exc}") from exc


async def put_manifest(http: httpx.AsyncClient, cfg: Config, body: Mapping[str, Any]) -> None:
    """PUT the tool inventory ``body`` to ``sdk-manifest``."""
    url = backend_url(cfg, "sdk-manifest")
    try:
        await send(http, "PUT", url, within=cfg.http_timeout, json=body, auth=basic_auth(cfg))
    except UpstreamError as exc:
        raise BackendError(f"PUT {url}: {exc}") from exc
