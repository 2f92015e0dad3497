"""One HTTP request straight into an ASGI app, without a server or a socket.

For measuring an app's own cost, and for event loops uvicorn does not run (trio). The body is
sent in one message; ``body=None`` plays a client that never sends it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import ASGIApp, Message


@dataclass(frozen=True)
class InProcessAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_request(
    app: ASGIApp,
    *,
    method: str = "POST",
    path: str = "/mcp",
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes | None = b"",
) -> InProcessAnswer:
    """``app``'s answer to one request; a JSON content type comes with any body, even one that
    never arrives (add its ``content-length`` to ``headers`` then)."""
    status = 0
    answer_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if body is None:
            await anyio.sleep_forever()
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, answer_headers
        if message["type"] == "http.response.start":
            status, answer_headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    sent_headers = [] if body == b"" else [(b"content-type", b"application/json")]
    if body:
        sent_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [*sent_headers, *headers],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return InProcessAnswer(status, answer_headers, b"".join(chunks))
