"""Filtering ``tools/list`` answers down to the tools the caller may call.

A tool an agent cannot see is also one it will not try, fail on and step up for, so listing
only callable tools keeps agents from loops of 403s. The handler's answer is rewritten on its
way out: an ``application/json`` answer is held until complete (it is one message), an
``text/event-stream`` one is rewritten one event at a time, buffering only up to the next
event boundary. Only responses to this request's ``tools/list`` ids are touched.

The pure functions decide what a message becomes; `ToolsListFilter` is the ``send`` shell.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

from starlette.types import Message, Send

from ..sse import LINE_END, event_data, split_events
from .headers import first_header

#: May the caller call this tool?
Keep = Callable[[str], bool]

_ENCODED_ANSWER = (
    b'{"error": "server_error", "error_description": "encoded tools/list answer cannot be filtered"}'
)
_TOO_LARGE_ANSWER = b'{"error": "server_error", "error_description": "tools/list answer too large to filter"}'


def filter_message(message: Any, ids: AbstractSet[str | int], keep: Keep) -> Any | None:
    """``message`` with unkept tools removed from answers to ``ids``; None when nothing changes.

    Handles a single JSON-RPC response and a batch of them, in time linear in their size.
    A filtered list that carries caching hints (``ttlMs``, ``cacheScope``) is marked
    ``cacheScope: "private"``: it is this caller's list and must not be served to others.
    """
    if isinstance(message, list):
        filtered = [filter_message(m, ids, keep) for m in message]
        if all(f is None for f in filtered):
            return None
        return [m if f is None else f for m, f in zip(message, filtered, strict=True)]
    if not isinstance(message, dict) or not _answers(message.get("id"), ids):
        return None
    result = message.get("result")
    tools = result.get("tools") if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(tools, list):
        return None
    kept = [t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str) and keep(t["name"])]
    hinted = "ttlMs" in result or "cacheScope" in result
    if len(kept) == len(tools) and (not hinted or result.get("cacheScope") == "private"):
        return None
    changed = {**result, "tools": kept}
    if hinted:
        changed["cacheScope"] = "private"
    return {**message, "result": changed}


def _answers(message_id: Any, ids: AbstractSet[str | int]) -> bool:
    """Whether a response's id is one of ``ids`` (requests' ids are strings or integers only)."""
    return isinstance(message_id, (str, int)) and not isinstance(message_id, bool) and message_id in ids


def filter_json_body(body: bytes, ids: AbstractSet[str | int], keep: Keep) -> bytes:
    """A JSON answer with unkept tools removed; unchanged bytes when there is nothing to remove.

    A body that is not JSON is the handler's own malformed answer; it is passed on as is.
    """
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return body
    filtered = filter_message(message, ids, keep)
    return body if filtered is None else json.dumps(filtered, separators=(",", ":")).encode()


def filter_sse_event(event: bytes, ids: AbstractSet[str | int], keep: Keep) -> bytes:
    """One SSE event (with its terminating empty line) with its ``data`` filtered.

    Fields other than ``data`` are kept in order; the rewritten ``data`` takes the place of
    the first ``data`` line.
    """
    lines = LINE_END.split(event)
    data = event_data(lines)
    if data is None:
        return event
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        return event
    filtered = filter_message(message, ids, keep)
    if filtered is None:
        return event
    newline = b"\r\n" if b"\r\n" in event else b"\n"
    out: list[bytes] = []
    for line in lines:
        if line.startswith(b"data:"):
            if not any(o.startswith(b"data:") for o in out):
                out.append(b"data: " + json.dumps(filtered, separators=(",", ":")).encode())
        elif line:
            out.append(line)
    return newline.join(out) + newline + newline


class ToolsListFilter:
    """A ``send`` that filters the answer to a ``tools/list`` request before passing it on.

    ``limit`` caps what is held at once (a whole JSON answer, or one SSE event). Past it, and
    for a compressed answer we cannot read, the caller gets an error (before the status line
    for JSON) or the stream ends, rather than an unfiltered list.
    """

    def __init__(self, send: Send, ids: AbstractSet[str | int], keep: Keep, limit: int) -> None:
        self._send = send
        self._ids = ids
        self._keep = keep
        self._limit = limit
        self._start: Message | None = None
        self._mode = "pass"  # pass | json | sse | closed
        self._buffer = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._on_start(message)
        elif message["type"] == "http.response.body" and self._mode != "pass":
            await self._on_body(message.get("body", b""), message.get("more_body", False))
        elif self._mode != "closed":
            await self._send(message)

    async def _on_start(self, message: Message) -> None:
        headers = list(message.get("headers", ()))
        content_type = (first_header(headers, b"content-type") or b"").split(b";")[0].strip().lower()
        if message["status"] != 200 or content_type not in (b"application/json", b"text/event-stream"):
            await self._send(message)
            return
        if (first_header(headers, b"content-encoding") or b"").strip().lower() not in (b"", b"identity"):
            self._mode = "closed"
            await self._fail(_ENCODED_ANSWER)
            return
        # The body may change length; the JSON path sets the new length once it knows it.
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        self._start = {**message, "headers": headers}
        if content_type == b"text/event-stream":
            self._mode = "sse"
            await self._send(self._start)
        else:
            self._mode = "json"

    async def _on_body(self, chunk: bytes, more: bool) -> None:
        if self._mode == "closed":
            return
        self._buffer += chunk
        if self._mode == "json":
            await self._on_json_body(more)
            return
        events, self._buffer = split_events(self._buffer)
        out = b"".join(filter_sse_event(e, self._ids, self._keep) for e in events)
        if len(self._buffer) > self._limit:
            self._mode, self._buffer = "closed", b""
            await self._send({"type": "http.response.body", "body": out, "more_body": False})
            return
        if not more:
            self._buffer = b""  # clients discard an unterminated last event (SSE); so do we
        if out or not more:
            await self._send({"type": "http.response.body", "body": out, "more_body": more})

    async def _on_json_body(self, more: bool) -> None:
        if len(self._buffer) > self._limit:
            self._mode, self._buffer = "closed", b""
            await self._fail(_TOO_LARGE_ANSWER)
            return
        if more:
            return
        assert self._start is not None
        body = filter_json_body(self._buffer, self._ids, self._keep)
        headers = [*self._start["headers"], (b"content-length", str(len(body)).encode())]
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    async def _fail(self, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self._send({"type": "http.response.start", "status": 502, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
