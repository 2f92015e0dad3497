"""Turning an `AuthSecError` into an HTTP answer: status, challenge header and body.

Header values are built only from our own text and from scope names filtered to the RFC 6749
scope charset, so nothing a client sent can reach a header (no CRLF or quote injection).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from ..errors import (
    AuthSecError,
    InsufficientScopeError,
    PolicyIncompleteError,
    RateLimitedError,
    RequestTimeoutError,
    RequirementNotMetError,
    ToolNotPermittedError,
)

REALM = "mcp"
#: Seconds a client should wait after a 503 before retrying.
RETRY_AFTER_SECONDS = 5

#: RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: RFC 6750 §3 error_description characters: %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_DROP = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def valid_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes that may appear in a header; anything else is dropped, never escaped."""
    return [s for s in scopes if _SCOPE_TOKEN.fullmatch(s)]


def challenge(
    metadata_url: str, *, scopes: Sequence[str] = (), error: str = "", description: str = ""
) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 §3, RFC 9728 §5.1).

    Every value is filtered to the quoted-string characters RFC 6750 allows, the metadata URL
    too: it comes from a validated ``resource_uri`` here, but custom middleware may pass any.
    """
    params = [f'realm="{REALM}"', f'resource_metadata="{_DESCRIPTION_DROP.sub("", metadata_url)}"']
    if error:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{_DESCRIPTION_DROP.sub("", description)[:200]}"')
    scope_value = " ".join(valid_scopes(scopes))
    if scope_value:
        params.append(f'scope="{scope_value}"')
    return "Bearer " + ", ".join(params)


@dataclass(frozen=True)
class Answer:
    """A complete answer the middleware sends itself (refusals, preflights)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def error_answer(
    exc: AuthSecError,
    *,
    metadata_url: str,
    scopes: Sequence[str] = (),
    jsonrpc: bool = False,
    request_id: str | int | None = None,
) -> Answer:
    """The answer for ``exc``.

    ``scopes`` goes into a 401 challenge (a 403's comes from the error itself). A JSON-RPC
    request gets a JSON-RPC error carrying its ``id``; anything else an OAuth-style object.
    """
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
    ]
    if isinstance(exc, InsufficientScopeError):
        scopes = exc.scope
    if exc.challenges:
        value = challenge(metadata_url, scopes=scopes, error=exc.error, description=exc.description)
        headers.append((b"www-authenticate", value.encode("ascii")))
    if exc.status_code == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    if isinstance(exc, RateLimitedError):
        headers += [(b"retry-after", str(exc.retry_after).encode()), *exc.headers]
    if isinstance(exc, RequestTimeoutError):
        headers.append((b"connection", b"close"))  # the client stalled: do not wait for more
    detail = _detail(exc)
    payload: dict[str, Any] = detail
    if jsonrpc:
        error = {"code": exc.jsonrpc_code, "message": exc.description or detail["error"], "data": detail}
        payload = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return Answer(exc.status_code, headers, json.dumps(payload).encode())


def _detail(exc: AuthSecError) -> dict[str, Any]:
    detail: dict[str, Any] = {"error": exc.error or "unauthorized"}
    if exc.description:
        detail["error_description"] = exc.description
    if isinstance(exc, (InsufficientScopeError, ToolNotPermittedError)):
        detail["tool"] = exc.tool
    if isinstance(exc, InsufficientScopeError):
        detail["required_scopes"] = list(exc.required_scopes)
        detail["scope"] = " ".join(valid_scopes(exc.scope))
    if isinstance(exc, RequirementNotMetError):
        detail["unmet"] = list(exc.unmet)
        detail["require_all"] = exc.require_all
    if isinstance(exc, PolicyIncompleteError):
        detail["state"] = exc.state
        detail["reason"] = exc.reason
    return detail


def session_not_found_answer() -> Answer:
    """404 for a session the caller may not use, byte-compatible with the ``mcp`` SDK's answer
    for an unknown session, so a foreign session cannot be told from a missing one."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
    return Answer(404, [(b"content-type", b"application/json")], json.dumps(body).encode())
