"""Hostile requests over real HTTP: refused before the body is read, bounded in time and size,
and judged by what both the headers and the body say."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import Protected, Recorder, bearer, call_tool, challenge_params, protected_app, read_body, rpc
from starlette.types import Receive, Scope, Send

from authsec_sdk.testing import LocalIssuer

TOOLS = {
    "public_tool": [],
    "read_tool": ["notes:read"],
    "admin_tool": ["notes:admin"],
    "café": ["notes:read"],
}
MODERN = "2026-07-28"
LEGACY = "2025-11-25"


def local(**extra: Any) -> dict[str, Any]:
    return {"tool_scopes": TOOLS, "supported_scopes": ("notes:read", "notes:admin"), **extra}


@pytest.fixture
def served(issuer: LocalIssuer) -> Iterator[tuple[Protected, Recorder]]:
    recorder = Recorder()
    with protected_app(issuer, recorder, **local(baseline_scopes=("notes:read",))) as p:
        yield p, recorder


def raw_request(
    url: str, head: str, body: bytes = b"", *, timeout: float = 10.0
) -> tuple[socket.socket, bytes]:
    """Send ``head`` (request line and headers) and ``body`` on a fresh socket; return the
    socket and the first response bytes, read until the end of the response headers."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=timeout)
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return sock, received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# ----------------------------------------------------------------- refuse before reading
def test_a_stalled_body_without_a_token_is_answered_at_once(served: tuple[Protected, Recorder]) -> None:
    p, recorder = served
    path = urlsplit(p.url).path
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n"
    started = time.monotonic()
    sock, response = raw_request(p.url, head, b'[{"jsonrpc": "2.0", ')  # then nothing more
    elapsed = time.monotonic() - started
    sock.close()
    assert status_of(response) == 401
    assert elapsed < 5  # generous: before, no answer ever came while the body stalled
    assert recorder.seen == []


def test_large_unauthenticated_bodies_do_not_stall_other_clients(issuer: LocalIssuer) -> None:
    """4 MiB of ``[{},{},…]`` with no token used to cost up to a second of event-loop CPU each;
    now it is refused from the headers, so a client sending such bodies from several
    connections at once cannot delay another client's requests."""
    recorder = Recorder()
    with protected_app(issuer, recorder, **local()) as p:
        token = issuer.mint(audience=p.url)
        body = b"[" + b",".join([b"{}"] * 1_300_000) + b"]"
        latencies: list[float] = []
        statuses: list[int] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client() as client:
                while not done.is_set():
                    started = time.monotonic()
                    assert client.get(p.url, headers=bearer(token)).status_code == 200
                    latencies.append(time.monotonic() - started)

        def flood() -> None:
            with httpx.Client(timeout=30) as client:
                for _ in range(3):
                    r = client.post(p.url, content=body, headers={"Content-Type": "application/json"})
                    statuses.append(r.status_code)

        prober = threading.Thread(target=probe)
        flooders = [threading.Thread(target=flood) for _ in range(4)]
        prober.start()
        for thread in flooders:
            thread.start()
        for thread in flooders:
            thread.join(60)
        done.set()
        prober.join(10)
    assert statuses == [401] * 12
    assert latencies
    # Generous, for a loaded machine: reading and parsing these bodies held the event loop for
    # about a second each, so four connections at once delayed other clients by several seconds.
    assert max(latencies) < 1.5


def test_a_stalled_authenticated_body_gets_408_and_the_connection_closes(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), **local(body_read_timeout=0.3)) as p:
        token = issuer.mint(audience=p.url)
        path = urlsplit(p.url).path
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n"
        )
        sock, response = raw_request(p.url, head, b'{"jsonrpc": "2.0"')
        assert status_of(response) == 408
        assert b"connection: close" in response.lower()
        sock.settimeout(5)
        rest = b""
        while chunk := sock.recv(65536):  # the server closes its end: recv returns b""
            rest += chunk
        sock.close()


@pytest.mark.parametrize("bad_id", [True, None, 1.5, {"a": 1}, [1]])
def test_ids_that_are_not_strings_or_integers_are_refused(
    served: tuple[Protected, Recorder], issuer: LocalIssuer, bad_id: Any
) -> None:
    p, recorder = served
    token = issuer.mint(audience=p.url, scopes=["notes:read"])
    message = {**rpc("tools/list"), "id": bad_id}
    r = httpx.post(p.url, json=message, headers=bearer(token))
    in_batch = httpx.post(p.url, json=[rpc("tools/list", id=1), message], headers=bearer(token))
    for answer in (r, in_batch):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == -32600
        assert answer.json()["id"] is None
    assert recorder.seen == []


def test_string_and_integer_ids_and_notifications_pass(
    served: tuple[Protected, Recorder], issuer: LocalIssuer
) -> None:
    p, recorder = served
    token = issuer.mint(audience=p.url)
    for message in (rpc("ping", id="a"), rpc("ping", id=-7), rpc("notifications/initialized", id=None)):
        assert httpx.post(p.url, json=message, headers=bearer(token)).status_code == 200
    assert len(recorder.seen) == 3


def test_an_oversized_batch_is_refused(served: tuple[Protected, Recorder], issuer: LocalIssuer) -> None:
    p, recorder = served
    token = issuer.mint(audience=p.url)
    r = httpx.post(p.url, json=[rpc("ping", id=i) for i in range(1001)], headers=bearer(token))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32600
    assert recorder.seen == []


# ----------------------------------------------------------------- Mcp-Method / Mcp-Name
def modern_headers(token: str, method: str, name: str | None = None) -> dict[str, str]:
    headers = {**bearer(token), "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    return headers if name is None else {**headers, "Mcp-Name": name}


@pytest.mark.parametrize(
    ("method", "name", "body"),
    [
        ("tools/call", "public_tool", call_tool("admin_tool")),  # names another tool
        ("tools/list", None, call_tool("public_tool")),  # another method
        ("tools/call", None, call_tool("public_tool")),  # a call without Mcp-Name
        ("tools/call", "public_tool", [call_tool("public_tool")]),  # a batch
        ("tools/call", "=?base64?cHVibGljX3Rvb2w?=x", call_tool("public_tool")),  # broken encoding
    ],
)
def test_headers_that_disagree_with_the_body_are_400_before_any_policy_decision(
    served: tuple[Protected, Recorder], issuer: LocalIssuer, method: str, name: str | None, body: Any
) -> None:
    p, recorder = served
    token = issuer.mint(audience=p.url)  # no scope at all: the mismatch is found first
    r = httpx.post(p.url, json=body, headers=modern_headers(token, method, name))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32020
    assert "www-authenticate" not in r.headers
    assert recorder.seen == []


def test_headers_that_agree_pass_including_base64_encoded_names(
    served: tuple[Protected, Recorder], issuer: LocalIssuer
) -> None:
    p, recorder = served
    token = issuer.mint(audience=p.url, scopes=["notes:read"])
    encoded = "=?base64?" + base64.b64encode("café".encode()).decode() + "?="
    plain = httpx.post(
        p.url, json=call_tool("read_tool"), headers=modern_headers(token, "tools/call", "read_tool")
    )
    unicode = httpx.post(p.url, json=call_tool("café"), headers=modern_headers(token, "tools/call", encoded))
    listing = httpx.post(p.url, json=rpc("tools/list"), headers=modern_headers(token, "tools/list"))
    assert (plain.status_code, unicode.status_code, listing.status_code) == (200, 200, 200)
    assert len(recorder.seen) == 3


# ----------------------------------------------------------------- least-privilege challenges
def test_a_401_asks_for_the_baseline_or_for_what_the_named_tool_needs(
    served: tuple[Protected, Recorder], issuer: LocalIssuer
) -> None:
    p, _ = served
    plain = httpx.post(p.url, json=rpc("initialize"))
    admin_call = httpx.post(
        p.url, json=call_tool("admin_tool"), headers={"Mcp-Method": "tools/call", "Mcp-Name": "admin_tool"}
    )
    unknown_call = httpx.post(
        p.url, json=call_tool("nope"), headers={"Mcp-Method": "tools/call", "Mcp-Name": "nope"}
    )
    expired = httpx.get(p.url, headers=bearer(issuer.mint(audience=p.url, expires_in=-600)))
    assert challenge_params(plain.headers["www-authenticate"])["scope"] == "notes:read"
    assert challenge_params(admin_call.headers["www-authenticate"])["scope"] == "notes:admin"
    assert challenge_params(unknown_call.headers["www-authenticate"])["scope"] == "notes:read"
    assert challenge_params(expired.headers["www-authenticate"])["scope"] == "notes:read"
    metadata = httpx.get(f"{p.base}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["scopes_supported"] == ["notes:read", "notes:admin"]  # still the full set


def test_a_403_asks_only_for_what_is_needed_from_2026_07_28_on(
    served: tuple[Protected, Recorder], issuer: LocalIssuer
) -> None:
    p, _ = served
    token = issuer.mint(audience=p.url, scopes=["notes:read"])
    legacy = httpx.post(
        p.url, json=call_tool("admin_tool"), headers={**bearer(token), "MCP-Protocol-Version": LEGACY}
    )
    modern = httpx.post(
        p.url, json=call_tool("admin_tool"), headers=modern_headers(token, "tools/call", "admin_tool")
    )
    assert (legacy.status_code, modern.status_code) == (403, 403)
    assert challenge_params(legacy.headers["www-authenticate"])["scope"] == "notes:admin notes:read"
    assert challenge_params(modern.headers["www-authenticate"])["scope"] == "notes:admin"
    assert challenge_params(modern.headers["www-authenticate"])["error"] == "insufficient_scope"


def test_a_batch_asks_for_what_all_its_denied_calls_need(
    served: tuple[Protected, Recorder], issuer: LocalIssuer
) -> None:
    p, _ = served
    token = issuer.mint(audience=p.url)
    r = httpx.post(p.url, json=[call_tool("read_tool", 1), call_tool("admin_tool", 2)], headers=bearer(token))
    assert r.status_code == 403
    assert challenge_params(r.headers["www-authenticate"])["scope"] == "notes:read notes:admin"
    unknown = httpx.post(p.url, json=[call_tool("read_tool", 1), call_tool("nope", 2)], headers=bearer(token))
    assert unknown.status_code == 403 and "www-authenticate" not in unknown.headers


# ----------------------------------------------------------------- tools/list caching hints
class ListingHandler:
    """Answers every ``tools/list`` in a body (single or batch) with all of ``TOOLS`` and hints."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = json.loads(await read_body(receive))
        requests = request if isinstance(request, list) else [request]
        tools = [{"name": name, "inputSchema": {"type": "object"}} for name in TOOLS]
        result = {"tools": tools, "ttlMs": 60000, "cacheScope": "public"}
        answers = [{"jsonrpc": "2.0", "id": r["id"], "result": result} for r in requests]
        payload = json.dumps(answers if isinstance(request, list) else answers[0]).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def test_a_filtered_list_with_caching_hints_is_private(issuer: LocalIssuer) -> None:
    with protected_app(issuer, ListingHandler(), **local()) as p:
        token = issuer.mint(audience=p.url, scopes=["notes:read"])
        r = httpx.post(p.url, json=rpc("tools/list"), headers=bearer(token))
    result = r.json()["result"]
    assert [t["name"] for t in result["tools"]] == ["public_tool", "read_tool", "café"]
    assert result["cacheScope"] == "private" and result["ttlMs"] == 60000


def test_a_full_batch_of_listings_is_filtered(issuer: LocalIssuer) -> None:
    with protected_app(issuer, ListingHandler(), **local()) as p:
        token = issuer.mint(audience=p.url)
        batch = [rpc("tools/list", id=i) for i in range(1000)]
        r = httpx.post(p.url, json=batch, headers=bearer(token), timeout=30)
    answers = r.json()
    assert len(answers) == 1000
    assert all([t["name"] for t in a["result"]["tools"]] == ["public_tool"] for a in answers)
