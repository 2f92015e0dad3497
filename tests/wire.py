"""Wire-level helpers for the transport tests: raw MCP over httpx, SSE parsing, scripted handlers."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from helpers import bearer, rpc
from starlette.types import Message, Receive, Scope, Send

LEGACY_VERSION = "2025-11-25"
#: Headers a Streamable HTTP client sends with every POST.
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
#: Bound on every wait for the server thread, so a broken test fails instead of hanging.
WAIT = 10.0


def initialize(url: str, token: str) -> str:
    """Open a legacy (2025-11-25) session with raw HTTP; returns its id."""
    params = {
        "protocolVersion": LEGACY_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    r = httpx.post(url, json=rpc("initialize", params), headers={**MCP_HEADERS, **bearer(token)})
    assert r.status_code == 200, r.text
    session_id = r.headers["mcp-session-id"]
    done = httpx.post(
        url,
        json=rpc("notifications/initialized", id=None),
        headers=session_headers(token, session_id),
    )
    assert done.status_code == 202, done.text
    return session_id


def session_headers(token: str | None, session_id: str) -> dict[str, str]:
    headers = {**MCP_HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": LEGACY_VERSION}
    return {**headers, **bearer(token)} if token else headers


def sse_messages(text: str) -> list[Any]:
    """The JSON ``data`` of each event in an SSE body."""
    messages = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")]
        if data:
            messages.append(json.loads("\n".join(data)))
    return messages


async def next_event(chunks: AsyncIterator[bytes], buffer: bytearray) -> bytes:
    """Read from ``chunks`` until one complete SSE event is in ``buffer``; pop and return it."""
    while b"\n\n" not in buffer.replace(b"\r\n", b"\n"):
        buffer += await anext(chunks)
    text = bytes(buffer).replace(b"\r\n", b"\n")
    event, _, rest = text.partition(b"\n\n")
    buffer[:] = rest
    return event


def tools_result(names: Sequence[str], id: int | str = 1) -> dict[str, Any]:
    tools = [{"name": n, "inputSchema": {"type": "object"}} for n in names]
    return {"jsonrpc": "2.0", "id": id, "result": {"tools": tools}}


@dataclass
class ScriptedStream:
    """A raw ASGI handler answering with an event stream, driven by the test from outside.

    It sends ``chunks`` up to ``pause_at``, then waits for `release` (set by the test from its
    own thread) before sending the rest; `finished` is set when it returns or is cancelled,
    `disconnected` when the client went away. ``hang`` keeps it waiting forever after the
    chunks (until cancelled); ``before_start`` makes it wait before the status line.
    """

    chunks: Sequence[bytes] = ()
    pause_at: int | None = None
    hang: bool = False
    before_start: bool = False
    content_type: bytes = b"text/event-stream"
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await receive()  # the replayed body
            if self.before_start:
                await anyio.sleep_forever()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", self.content_type)],
                }
            )
            for index, chunk in enumerate(self.chunks):
                if index == self.pause_at:
                    await anyio.to_thread.run_sync(self.release.wait, WAIT)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if self.hang:
                await _until_disconnect(receive)
                self.disconnected.set()
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.finished.set()


async def _until_disconnect(receive: Receive) -> None:
    message: Message = {"type": ""}
    while message["type"] != "http.disconnect":
        message = await receive()
