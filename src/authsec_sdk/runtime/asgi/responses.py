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

from ..errors import AuthSecError, InsufficientScopeError, PolicyIncompleteError

REALM = "mcp"
#: Seconds a client should wait after a 503 before retrying.
RETRY_AFTER_SECONDS = 5

#: RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: RFC 6750 §3 error_description characters: %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_DROP = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

#: JSON-RPC error codes we answer with, by HTTP status (server-defined range, -32000..-32099).
_JSONRPC_CODES = {400: -32600, 401: -32001, 403: -32003, 413: -32600, 415: -32600, 503: -32002}
PARSE_ERROR = -32700


def valid_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes that may appear in a header; anything else is dropped, never escaped."""
    return [s for s in scopes if _SCOPE_TOKEN.fullmatch(s)]


def challenge(
    metadata_url: str, *, scopes: Sequence[str] = (), error: str = "", description: str = ""
) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 §3, RFC 9728 §5.1)."""
    params = [f'realm="{REALM}"', f'resource_metadata="{metadata_url}"']
    if error:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{_DESCRIPTION_DROP.sub("", description)[:200]}"')
    scope_value = " ".join(valid_scopes(scopes))
    if scope_value:
        params.append(f'scope="{scope_value}"')
    return "Bearer " + ", ".join(params)


@dataclass(frozen=True)
class ErrorAnswer:
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
) -> ErrorAnswer:
    """The answer for ``exc``. ``scopes`` goes into the challenge (401 baseline, 403 step-up)."""
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
    ]
    if exc.status_code in (400, 401) or isinstance(exc, InsufficientScopeError):
        value = challenge(metadata_url, scopes=scopes, error=exc.error, description=exc.description)
        headers.append((b"www-authenticate", value.encode("ascii")))
    if exc.status_code == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    detail = _detail(exc, scopes)
    if jsonrpc:
        message = exc.description or detail["error"]
        payload: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {
                "code": _JSONRPC_CODES.get(exc.status_code, -32000),
                "message": message,
                "data": detail,
            },
        }
    else:
        payload = detail
    return ErrorAnswer(exc.status_code, headers, json.dumps(payload).encode())


def _detail(exc: AuthSecError, scopes: Sequence[str]) -> dict[str, Any]:
    detail: dict[str, Any] = {"error": exc.error or "unauthorized"}
    if exc.description:
        detail["error_description"] = exc.description
    if isinstance(exc, InsufficientScopeError):
        detail["tool"] = exc.tool
        detail["required_scopes"] = list(exc.required_scopes)
        detail["scope"] = " ".join(valid_scopes(scopes))
    if isinstance(exc, PolicyIncompleteError):
        detail["state"] = exc.state
        detail["reason"] = exc.reason
    return detail


def parse_error_answer() -> ErrorAnswer:
    """JSON-RPC parse error for a body we refuse to read (RFC: 400, id null)."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}}
    return ErrorAnswer(400, [(b"content-type", b"application/json")], json.dumps(body).encode())


def session_not_found_answer() -> ErrorAnswer:
    """404 for a session the caller may not use, byte-compatible with the ``mcp`` SDK's answer
    for an unknown session, so a foreign session cannot be told from a missing one."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
    return ErrorAnswer(404, [(b"content-type", b"application/json")], json.dumps(body).encode())
