"""Side-by-side timings: what authsec-sdk adds to a request, and its JWT check against PyJWT's.

Each pair is measured interleaved in one run (A, B, A, B, ...) and reported as a ratio of
medians, so a noisy shared machine moves both sides together. Requests are driven in
process over ASGI, so the numbers are the middleware's own cost, not the network's.

    make bench
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import jwt
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from authsec_sdk.runtime import mount_mcp
from authsec_sdk.runtime.tokens.jwks import JWKSStore
from authsec_sdk.runtime.tokens.jwt_verify import JWTVerifier
from authsec_sdk.testing import LocalIssuer

RESOURCE = "http://127.0.0.1:9/mcp"
ROUNDS = 15
PER_ROUND = 200
BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{}}}'


class BareHandler:
    """The cheapest possible ASGI endpoint, so the middleware's own cost stands out."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})


def request_driver(app: Any, headers: list[tuple[bytes, bytes]]) -> Callable[[], Awaitable[int]]:
    """One POST through ``app`` in process; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "server": ("127.0.0.1", 9),
        "client": ("127.0.0.1", 1234),
    }

    async def once() -> int:
        status = 0
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        return status

    return once


async def interleaved(
    a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]]
) -> tuple[float, float]:
    """Median seconds per call of ``a`` and ``b``, measured in alternating rounds."""
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(ROUNDS):
        for fn, sink in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            for _ in range(PER_ROUND):
                await fn()
            sink.append((time.perf_counter() - start) / PER_ROUND)
    return statistics.median(times_a), statistics.median(times_b)


async def main() -> None:
    rows: list[tuple[str, float, float]] = []
    with LocalIssuer() as issuer:
        cfg = issuer.config(introspection_url="", resource_uri=RESOURCE, tool_scopes={"read": ["notes:read"]})
        token = issuer.mint(scopes=["notes:read"], audience=RESOURCE)

        protected = Starlette()
        mount_mcp(protected, "/mcp", BareHandler(), cfg)
        unprotected = Starlette(routes=[Route("/mcp", BareHandler())])
        async with LifespanManager(protected), LifespanManager(unprotected):
            with_auth = request_driver(protected, [(b"authorization", f"Bearer {token}".encode())])
            without = request_driver(unprotected, [])
            assert await with_auth() == 200 and await without() == 200
            ours, base = await interleaved(with_auth, without)
            rows.append(("request, protected vs unprotected app (cached token)", ours, base))

        # A first-time token: our verifier (parse once, key prepared at fetch) vs PyJWT's decode.
        tokens = [issuer.mint(scopes=["notes:read"], audience=RESOURCE) for _ in range(ROUNDS * PER_ROUND)]
        public_key = issuer.current_key.private_key.public_key()
        async with httpx.AsyncClient() as http:
            verifier = JWTVerifier(dataclasses.replace(cfg, token_cache_size=1), JWKSStore(cfg, http))
            await verifier.verify(token)  # fetch the keys once
            ours_iter = iter(tokens)
            pyjwt_iter = iter(tokens)

            async def ours_verify() -> None:
                await verifier.verify(next(ours_iter))

            async def pyjwt_verify() -> None:
                jwt.decode(
                    next(pyjwt_iter),
                    public_key,
                    algorithms=["RS256"],
                    audience=RESOURCE,
                    issuer=issuer.issuer,
                )

            ours, base = await interleaved(ours_verify, pyjwt_verify)
            rows.append(("JWT check of a new token, ours vs jwt.decode", ours, base))

    print(f"{'case':<58} {'ours µs':>9} {'base µs':>9} {'ratio':>7}")
    for name, ours, base in rows:
        print(f"{name:<58} {ours * 1e6:>9.1f} {base * 1e6:>9.1f} {ours / base:>7.2f}")


if __name__ == "__main__":
    anyio.run(main)
