"""``Origin``: the DNS-rebinding defence (MCP F1) and CORS for browser clients.

A page on an attacker's domain that rebinds its name to a local MCP server still sends its own
``Origin``, so refusing unknown origins stops it. Clients that are not browsers send no
``Origin`` and are not affected.

For a listed origin the endpoint speaks CORS, so a browser-based MCP client can work at all:
its preflight is answered without a token (a preflight never carries one), and every answer,
401 and 403 included, names the origin and exposes ``WWW-Authenticate`` so the client can read
the challenge that tells it where to get a token.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from starlette.types import Message, Send

from .responses import Answer

#: Methods of the Streamable HTTP transport.
ALLOW_METHODS = b"GET, POST, DELETE, OPTIONS"
#: Request headers an MCP client sends (both protocol revisions).
ALLOW_HEADERS = (
    b"Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, "
    b"Last-Event-ID"
)
#: Response headers a browser client must be able to read.
EXPOSE_HEADERS = b"WWW-Authenticate, Mcp-Session-Id"
#: Seconds a browser may reuse a preflight answer.
PREFLIGHT_MAX_AGE = b"600"


class OriginCheck:
    """What the request's ``Origin`` headers mean against the allow-list.

    ``allowed`` is False only when an allow-list is set and an ``Origin`` is not on it. Every
    ``Origin`` header must match, so a second header cannot smuggle a foreign origin past a
    check that reads only the first. ``cors_origin`` is the listed origin to answer with.
    """

    __slots__ = ("allowed", "cors_origin")

    def __init__(self, headers: Iterable[tuple[bytes, bytes]], allow_list: Collection[str]) -> None:
        self.allowed = True
        self.cors_origin: bytes | None = None
        if not allow_list:
            return
        for name, value in headers:
            if name == b"origin":
                if value.decode("latin-1") not in allow_list:
                    self.allowed, self.cors_origin = False, None
                    return
                self.cors_origin = value


def is_preflight(method: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A CORS preflight: ``OPTIONS`` asking ``Access-Control-Request-Method``."""
    return method == "OPTIONS" and any(name == b"access-control-request-method" for name, _ in headers)


def preflight_answer(origin: bytes) -> Answer:
    """The 204 that lets a listed origin send MCP requests."""
    headers = [
        *_cors_headers(origin),
        (b"access-control-allow-methods", ALLOW_METHODS),
        (b"access-control-allow-headers", ALLOW_HEADERS),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
    ]
    return Answer(204, headers, b"")


def with_cors(send: Send, origin: bytes) -> Send:
    """A ``send`` that adds the CORS answer headers for ``origin`` to the status line."""

    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", ()) if not k.startswith(b"access-control-")]
            message = {**message, "headers": [*kept, *_cors_headers(origin)]}
        await send(message)

    return cors_send


def _cors_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
        (b"vary", b"Origin"),
    ]
