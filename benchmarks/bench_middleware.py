"""Side-by-side timings: what authsec-sdk adds to a request, and its JWT check against PyJWT's.

Each pair is measured interleaved in one run (A, B, A, B, ...) and reported as a ratio of
medians, so a noisy shared machine moves both sides together. Requests are driven in
process over ASGI, so the numbers are the middleware's own cost, not the network's.

    make bench
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import http_servers as stacks
import httpx
import jwt
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization

from authsec_sdk.runtime.tokens.jwks import JWKSStore
from authsec_sdk.runtime.tokens.jwt_verify import JWTVerifier
from authsec_sdk.testing import LocalIssuer, asgi_request

RESOURCE = stacks.RESOURCE
BODY = stacks.BODY

ROUNDS = 15
PER_ROUND = 200


def request_driver(
    app: Any, headers: Callable[[], list[tuple[bytes, bytes]]]
) -> Callable[[], Awaitable[int]]:
    """One POST of a ``tools/call`` through ``app`` in process, with the extra ``headers()`` of
    the moment; returns the status."""

    async def once() -> int:
        return (await asgi_request(app, path=stacks.PATH, headers=headers(), body=BODY)).status

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


def cycling(tokens: list[str]) -> Callable[[], list[tuple[bytes, bytes]]]:
    """Headers carrying the next token of ``tokens`` on each call: a new token per request."""
    pool = itertools.cycle([[(b"authorization", f"Bearer {t}".encode())] for t in tokens])
    return lambda: next(pool)


async def request_rows(issuer: LocalIssuer, rows: list[tuple[str, float, float]]) -> None:
    """Whole requests against the bare app (the same stacks `bench_http.py` serves): ours and
    the ``mcp`` SDK's bearer stack with one repeat token, then ours with a new token on every
    request for each signing algorithm."""
    public_pem = issuer.current_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spec = {"issuer": issuer.issuer, "jwks_url": issuer.jwks_url, "public_pem": public_pem.decode()}
    # Each algorithm's key is new: no refetch cooldown, so its first token fetches it at once.
    protected = stacks.ours(spec, jwks_refetch_cooldown=0)
    unprotected = stacks.bare(spec)
    mcp_stack = stacks.mcp_bearer(spec)
    bare = request_driver(unprotected, lambda: [])
    async with LifespanManager(protected), LifespanManager(unprotected), LifespanManager(mcp_stack):
        token = issuer.mint(scopes=[stacks.SCOPE], audience=RESOURCE)
        repeat = [(b"authorization", f"Bearer {token}".encode())]
        warm = request_driver(protected, lambda: repeat)
        sdk = request_driver(mcp_stack, lambda: repeat)
        assert await warm() == 200 and await bare() == 200 and await sdk() == 200
        rows.append(("request, repeat token (warm)", *await interleaved(warm, bare)))
        rows.append(("request, repeat token, mcp SDK bearer stack", *await interleaved(sdk, bare)))
        for algorithm in ("RS256", "ES256", "EdDSA"):
            key = issuer.rotate_keys(algorithm=algorithm)
            # Enough distinct tokens that none is met twice: each request verifies a signature.
            tokens = [
                issuer.mint(scopes=[stacks.SCOPE], audience=RESOURCE, key=key)
                for _ in range(ROUNDS * PER_ROUND + 1)
            ]
            cold = request_driver(protected, cycling(tokens))
            status = await cold()  # the first one fetches the new key
            assert status == 200, (algorithm, status)
            rows.append((f"request, new {algorithm} token each time (cold)", *await interleaved(cold, bare)))


async def verifier_row(issuer: LocalIssuer, rows: list[tuple[str, float, float]]) -> None:
    """A first-time token: our verifier (parse once, key prepared at fetch) vs PyJWT's decode."""
    cfg = issuer.config(introspection_url="", resource_uri=RESOURCE, token_cache_size=1)
    key = issuer.rotate_keys(algorithm="RS256")
    tokens = [
        issuer.mint(scopes=["notes:read"], audience=RESOURCE, key=key) for _ in range(ROUNDS * PER_ROUND)
    ]
    public_key = key.private_key.public_key()
    async with httpx.AsyncClient() as http:
        verifier = JWTVerifier(cfg, JWKSStore(cfg, http))
        await verifier.verify(tokens[0])  # fetch the keys once
        ours_iter = iter(tokens)
        pyjwt_iter = iter(tokens)

        async def ours_verify() -> None:
            await verifier.verify(next(ours_iter))

        async def pyjwt_verify() -> None:
            jwt.decode(
                next(pyjwt_iter), public_key, algorithms=["RS256"], audience=RESOURCE, issuer=issuer.issuer
            )

        rows.append(
            (
                "JWT check of a new RS256 token, ours vs jwt.decode",
                *await interleaved(ours_verify, pyjwt_verify),
            )
        )


async def main() -> None:
    rows: list[tuple[str, float, float]] = []
    with LocalIssuer() as issuer:
        await request_rows(issuer, rows)
        await verifier_row(issuer, rows)
    title = "case (in process; base: the bare app, or jwt.decode)"
    print(f"{title:<58} {'ours µs':>9} {'base µs':>9} {'over µs':>8} {'ratio':>6}")
    for name, ours, base in rows:
        over = (ours - base) * 1e6
        print(f"{name:<58} {ours * 1e6:>9.1f} {base * 1e6:>9.1f} {over:>8.1f} {ours / base:>6.2f}")


if __name__ == "__main__":
    anyio.run(main)
