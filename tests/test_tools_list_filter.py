"""tools/list answers list only the tools the caller may call: JSON and event streams alike."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import bearer, protected_app, rpc
from starlette.types import Receive, Scope, Send
from wire import MCP_HEADERS, WAIT, ScriptedStream, next_event, sse_messages, tools_result

from authsec_sdk.runtime import PolicyMode
from authsec_sdk.runtime.asgi.tools_filter import filter_sse_event
from authsec_sdk.runtime.sse import split_events
from authsec_sdk.testing import LocalIssuer

TOOLS = {"public": [], "read": ["notes:read"], "wipe": ["notes:admin"]}
ALL = ["public", "read", "wipe", "unlisted"]


class JSONAnswer:
    """A raw ASGI handler answering every request with ``payload`` as JSON, content-length set."""

    def __init__(self, payload: object) -> None:
        self.body = json.dumps(payload).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def names(message: dict[str, object]) -> list[str]:
    result = message["result"]
    assert isinstance(result, dict)
    return [t["name"] for t in result["tools"]]


def post(url: str, token: str, body: object) -> httpx.Response:
    return httpx.post(url, json=body, headers={**MCP_HEADERS, **bearer(token)}, timeout=WAIT)


def test_json_answer_is_filtered_and_its_length_fixed(issuer: LocalIssuer) -> None:
    with protected_app(issuer, JSONAnswer(tools_result(ALL, id=7)), tool_scopes=TOOLS) as p:
        r = post(p.url, issuer.mint(scopes=["notes:read"], audience=p.url), rpc("tools/list", id=7))
    assert r.status_code == 200
    assert names(r.json()) == ["public", "read"]
    assert int(r.headers["content-length"]) == len(r.content)


def test_batch_answers_are_filtered_by_request_id(issuer: LocalIssuer) -> None:
    answer = [tools_result(ALL, id=1), {"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "wipe"}]}}]
    with protected_app(issuer, JSONAnswer(answer), tool_scopes=TOOLS) as p:
        body = [rpc("tools/list", id=1), rpc("ping", id=2)]
        r = post(p.url, issuer.mint(audience=p.url), body)
    first, second = r.json()
    assert names(first) == ["public"]
    assert names(second) == ["wipe"]  # not the answer to a tools/list: left alone


def test_other_methods_are_untouched(issuer: LocalIssuer) -> None:
    with protected_app(issuer, JSONAnswer(tools_result(ALL)), tool_scopes=TOOLS) as p:
        r = post(p.url, issuer.mint(audience=p.url), rpc("resources/list"))
    assert names(r.json()) == ALL


@pytest.mark.parametrize(
    "overrides",
    [{"tool_scopes": TOOLS, "filter_tools_list": False}, {"policy_mode": PolicyMode.OPEN}],
    ids=["filter-off", "open-policy"],
)
def test_no_filtering_when_off_or_open(issuer: LocalIssuer, overrides: dict[str, Any]) -> None:
    with protected_app(issuer, JSONAnswer(tools_result(ALL)), **overrides) as p:
        r = post(p.url, issuer.mint(audience=p.url), rpc("tools/list"))
    assert names(r.json()) == ALL


@pytest.mark.anyio
async def test_event_stream_is_filtered_one_event_at_a_time(issuer: LocalIssuer) -> None:
    answer = f"event: message\r\ndata: {json.dumps(tools_result(ALL))}\r\n\r\n".encode()
    progress = (
        b'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\r\n\r\n'
    )
    # The answer is split mid-event, and the handler waits before sending its second half:
    # the progress event must get through before that, and the answer must come out whole.
    handler = ScriptedStream(chunks=[progress, answer[:40], answer[40:]], pause_at=2)
    with protected_app(issuer, handler, tool_scopes=TOOLS) as p:
        token = issuer.mint(scopes=["notes:admin"], audience=p.url)
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream(
                "POST", p.url, json=rpc("tools/list"), headers={**MCP_HEADERS, **bearer(token)}
            ) as r,
        ):
            chunks, buffer = r.aiter_raw(), bytearray()
            assert b"notifications/progress" in await next_event(chunks, buffer)
            handler.release.set()
            (message,) = sse_messages((await next_event(chunks, buffer)).decode() + "\n\n")
    assert names(message) == ["public", "wipe"]


def test_an_event_larger_than_the_cap_ends_the_stream_unsent(issuer: LocalIssuer) -> None:
    many = [f"tool_{i:04d}" for i in range(200)]
    answer = f"data: {json.dumps(tools_result(many))}\n\n".encode()
    # More than the cap arrives without an event boundary: it is never held in full.
    handler = ScriptedStream(chunks=[b'data: {"jsonrpc":"2.0","method":"n"}\n\n', answer[:-2], answer[-2:]])
    with protected_app(issuer, handler, tool_scopes=TOOLS, max_body_bytes=2048) as p:
        r = post(p.url, issuer.mint(audience=p.url), rpc("tools/list"))
    assert r.status_code == 200
    assert sse_messages(r.text) == [{"jsonrpc": "2.0", "method": "n"}]


def test_compressed_answer_is_refused_not_passed_on(issuer: LocalIssuer) -> None:
    async def gzipped(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"\x1f\x8b"})

    with protected_app(issuer, gzipped, tool_scopes=TOOLS) as p:
        r = post(p.url, issuer.mint(audience=p.url), rpc("tools/list"))
    assert r.status_code == 502


def test_split_events_keeps_the_incomplete_rest() -> None:
    events, rest = split_events(b"data: 1\n\ndata: 2\r\n\r\ndata: 3\r\n")
    assert events == [b"data: 1\n\n", b"data: 2\r\n\r\n"]
    assert rest == b"data: 3\r\n"


def test_filtered_event_keeps_its_other_fields() -> None:
    event = f"id: 5\r\nevent: message\r\ndata: {json.dumps(tools_result(['a', 'b']))}\r\n\r\n".encode()
    out = filter_sse_event(event, {1}, lambda name: name == "a")
    lines = out.split(b"\r\n")
    assert lines[:2] == [b"id: 5", b"event: message"]
    assert names(json.loads(lines[2][len(b"data: ") :])) == ["a"]
    assert out.endswith(b"\r\n\r\n")


def test_incomplete_policy_lists_no_tools(issuer: LocalIssuer) -> None:
    """Every call would be refused with 503, so none is listed; the listing itself still answers."""
    issuer.backend.set_policy(
        public_tools=["public"], state="needs_setup", policy_complete=False, reason="scan"
    )
    settings: dict[str, Any] = {**issuer.backend.config_values(), "http_timeout": 1.0}
    with protected_app(issuer, JSONAnswer(tools_result(ALL)), **settings) as p:
        r = post(p.url, issuer.mint(audience=p.url), rpc("tools/list"))
    assert r.status_code == 200
    assert names(r.json()) == []


class EncodingEcho(JSONAnswer):
    """Answers a tools/list with the request's ``accept-encoding`` in the result, uncompressed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encodings = [v.decode() for k, v in scope["headers"] if k == b"accept-encoding"]
        self.body = json.dumps({**tools_result(ALL), "accept_encoding": encodings}).encode()
        await super().__call__(scope, receive, send)


def test_filtered_requests_ask_the_handler_for_an_uncompressed_answer(issuer: LocalIssuer) -> None:
    with protected_app(issuer, EncodingEcho(None), tool_scopes=TOOLS) as p:
        token = issuer.mint(audience=p.url)
        headers = {**MCP_HEADERS, **bearer(token), "accept-encoding": "gzip, br"}
        listing = httpx.post(p.url, json=rpc("tools/list"), headers=headers)
        other = httpx.post(p.url, json=rpc("ping"), headers=headers)
    assert listing.json()["accept_encoding"] == []
    assert names(listing.json()) == ["public"]
    assert other.json()["accept_encoding"] == ["gzip, br"]
