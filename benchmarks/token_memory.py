"""One million distinct valid tokens through one process: its memory must stay bounded.

Every cache the runtime keeps is bounded, so once they are full (the steady state) the
process should not grow however many new tokens arrive. Tokens are ES256 (fast to sign)
and minted in a worker process, a batch ahead, while this process sends each one through a
mounted app in process over ASGI. Prints one JSON line: RSS at the steady state and at the
end, the growth between them, and the seconds it took.

    .venv/bin/python benchmarks/token_memory.py [TOKENS]
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import time
import uuid
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any

import anyio
import anyio.lowlevel
import jwt
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from http_servers import BODY, PATH, RESOURCE, SCOPE, TOOL_SCOPES, ToolHandler
from starlette.applications import Starlette
from starlette.types import ASGIApp

from authsec_sdk.runtime import mount_mcp
from authsec_sdk.testing import LocalIssuer, asgi_request

TOKENS = 1_000_000
#: Tokens sent before the steady state is read: ten times the default token cache.
STEADY_AFTER = 100_000
BATCH = 10_000

_signer: dict[str, Any] = {}


def _load_signer(pem: bytes, kid: str, issuer: str) -> None:
    """In the minting worker: the issuer's key, loaded once."""
    _signer.update(key=serialization.load_pem_private_key(pem, None), kid=kid, issuer=issuer)


def mint(start: int, count: int) -> list[str]:
    """Tokens ``start`` .. ``start + count``, each for another subject, valid for an hour."""
    now = int(time.time())
    headers = {"kid": _signer["kid"], "typ": "at+jwt"}
    claims = {"iss": _signer["issuer"], "aud": RESOURCE, "scope": SCOPE, "iat": now, "exp": now + 3600}
    return [
        jwt.encode(
            {**claims, "sub": f"user-{i}", "jti": uuid.uuid4().hex, "client_id": "bench"},
            _signer["key"],
            algorithm="ES256",
            headers=headers,
        )
        for i in range(start, start + count)
    ]


async def post(app: ASGIApp, token: str) -> None:
    """One authenticated ``tools/call`` through ``app``; anything but a 200 stops the run."""
    answer = await asgi_request(
        app, path=PATH, headers=[(b"authorization", f"Bearer {token}".encode())], body=BODY
    )
    # A server's event loop turns between requests, and only then frees the timers (body
    # deadlines) cancelled meanwhile: a driver that never yields would hoard them all.
    await anyio.lowlevel.checkpoint()
    if answer.status != 200:
        raise SystemExit(f"a valid token got {answer.status}")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def run(total: int) -> dict[str, float]:
    started = time.monotonic()
    with LocalIssuer(algorithm="ES256") as issuer:
        app = Starlette()
        cfg = issuer.config(introspection_url="", resource_uri=RESOURCE, tool_scopes=TOOL_SCOPES)
        mount_mcp(app, PATH, ToolHandler(), cfg)
        key = issuer.current_key
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        workers = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_signer,
            initargs=(pem, key.kid, issuer.issuer),
        )
        async with LifespanManager(app):
            with workers:
                starts = iter(range(0, total, BATCH))
                # Two batches in flight at most: minted tokens must not pile up in this process.
                pending: deque[Future[list[str]]] = deque(
                    workers.submit(mint, start, min(BATCH, total - start)) for start in islice(starts, 2)
                )
                sent, steady = 0, 0.0
                while pending:
                    tokens = pending.popleft().result()
                    start = next(starts, None)
                    if start is not None:
                        pending.append(workers.submit(mint, start, min(BATCH, total - start)))
                    for token in tokens:
                        await post(app, token)
                    sent += len(tokens)
                    del tokens
                    if not steady and sent >= min(STEADY_AFTER, total):
                        gc.collect()
                        steady = rss_mb()
            gc.collect()
            final = rss_mb()  # while the runtime and its caches are still up
    seconds = time.monotonic() - started
    return {"steady_mb": steady, "final_mb": final, "growth_mb": final - steady, "seconds": seconds}


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else TOKENS
    result = anyio.run(run, total, backend_options={"use_uvloop": True})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
