"""A fleet of 4 uvicorn workers: issuer calls per distinct token with each worker's own cache,
then with the shared cache (Redis).

Every token is used by every worker; with ``introspection_cache_ttl`` on, each worker alone
asks the issuer once per token, the fleet with a shared cache asks once in all.

    make bench     (skipped when redis-server is not installed)
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from itertools import cycle
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from authsec_sdk.runtime import from_env, mount_mcp
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import RedisServer, workers

WORKERS = 4
TOKENS = 50
#: Requests per token, spread over the workers in turn.
USES = 8
RESOURCE = "http://localhost:8000/mcp"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read", "arguments": {}}}


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({})


def create_app() -> Starlette:
    """What each worker process serves (``bench_fleet:create_app``)."""
    app = Starlette()
    mount_mcp(app, "/mcp", _ok, dataclasses.replace(from_env(), tool_scopes={"read": []}))
    return app


def run(issuer: LocalIssuer, shared_cache_url: str) -> tuple[float, float]:
    """Issuer calls per token and milliseconds per request, for one fleet."""
    env = {
        "AUTHSEC_ISSUER": issuer.issuer,
        "AUTHSEC_INTROSPECTION_URL": issuer.introspection_url,
        "AUTHSEC_INTROSPECTION_CLIENT_ID": issuer.client_id,
        "AUTHSEC_INTROSPECTION_CLIENT_SECRET": issuer.client_secret,
        "AUTHSEC_RESOURCE_URI": RESOURCE,
        "AUTHSEC_INTROSPECTION_CACHE_TTL": "300",
        "AUTHSEC_SHARED_CACHE_URL": shared_cache_url,
    }
    with workers("bench_fleet:create_app", [env] * WORKERS, app_dir=str(Path(__file__).parent)) as fleet:
        issuer.reset()
        tokens = [issuer.mint_opaque(audience=RESOURCE) for _ in range(TOKENS)]
        bases = cycle(worker.base for worker in fleet)
        with httpx.Client() as client:
            start = time.perf_counter()
            for token in tokens:
                for _ in range(USES):
                    headers = {"Authorization": f"Bearer {token}"}
                    answer = client.post(f"{next(bases)}/mcp", json=CALL, headers=headers)
                    assert answer.status_code == 200, answer.text
            elapsed = time.perf_counter() - start
    return issuer.counters.introspection / TOKENS, elapsed * 1000 / (TOKENS * USES)


def main() -> None:
    if shutil.which("redis-server") is None:
        print("fleet: skipped (redis-server is not installed)")
        return
    with LocalIssuer() as issuer, RedisServer() as redis:
        own, own_ms = run(issuer, "")
        shared, shared_ms = run(issuer, redis.url)
    print(
        f"fleet of {WORKERS} workers, {TOKENS} tokens x {USES} requests: issuer calls per token "
        f"{own:.2f} with each worker's own cache, {shared:.2f} with the shared cache "
        f"({own_ms:.2f} / {shared_ms:.2f} ms per request)"
    )


if __name__ == "__main__":
    main()
