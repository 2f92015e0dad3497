"""The MCP request headers that describe a request without its body (Streamable HTTP).

``MCP-Protocol-Version`` says which revision's rules apply; from 2026-07-28 on, ``Mcp-Method``
and ``Mcp-Name`` mirror the body's ``method`` and, for ``tools/call``, ``params.name``. They let
a 401 name the scopes of the tool being called before the body is read, and they must agree
with the body, since a proxy or the handler may route by one and we judge by the other.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import NamedTuple

from .jsonrpc import TOOLS_CALL, Inspection

#: The first revision whose clients accumulate scopes across challenges (SEP-2350).
ACCUMULATING_REVISION = "2026-07-28"

_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A value that did not survive as plain header text is sent as ``=?base64?<UTF-8 bytes>?=``.
_BASE64_VALUE = re.compile(r"=\?base64\?(.*)\?=", re.DOTALL)


class McpHeaders(NamedTuple):
    """The request's MCP headers, decoded. A header sent twice reads as `AMBIGUOUS`."""

    protocol_version: str | None = None
    method: str | None = None
    name: str | None = None

    @property
    def called_tool(self) -> str | None:
        """The tool a ``tools/call`` names in its headers, if it does."""
        return self.name if self.method == TOOLS_CALL else None

    @property
    def client_accumulates_scopes(self) -> bool:
        """True for revisions whose clients keep earlier scopes when they re-authorize."""
        version = self.protocol_version or ""
        return _VERSION.fullmatch(version) is not None and version >= ACCUMULATING_REVISION


#: Stands for a header that was sent more than once, or could not be decoded: it matches nothing.
AMBIGUOUS = "\x00ambiguous"


def read_mcp_headers(headers: Iterable[tuple[bytes, bytes]]) -> McpHeaders:
    values: dict[bytes, str] = {}
    for key, raw in headers:
        if key in (b"mcp-protocol-version", b"mcp-method", b"mcp-name"):
            values[key] = AMBIGUOUS if key in values else decode_header_value(raw.decode("latin-1"))
    return McpHeaders(
        protocol_version=values.get(b"mcp-protocol-version"),
        method=values.get(b"mcp-method"),
        name=values.get(b"mcp-name"),
    )


def decode_header_value(value: str) -> str:
    """A header value as the client meant it: plain text, or the canonical base64 form of its
    UTF-8 bytes. A malformed encoded value becomes `AMBIGUOUS`, so it can never match a body."""
    match = _BASE64_VALUE.fullmatch(value)
    if match is None:
        return value
    payload = match.group(1)
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return AMBIGUOUS  # non-canonical: another decoder might read other bytes
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return AMBIGUOUS


def agrees_with_body(mcp: McpHeaders, inspection: Inspection) -> bool:
    """Whether ``Mcp-Method`` and ``Mcp-Name``, when sent, say what the body says.

    The headers describe one request, so a batch cannot agree with them, and a ``tools/call``
    must carry ``Mcp-Name`` naming exactly the tool it calls. A body with no request in it (a
    response or nothing) has nothing to disagree with.
    """
    if (mcp.method is None and mcp.name is None) or not inspection.methods:
        return True
    if inspection.is_batch:
        return False
    method = inspection.methods[0]
    if mcp.method is not None and mcp.method != method:
        return False
    return method != TOOLS_CALL or inspection.tool_calls == (mcp.name,)
