"""The app each uvicorn worker process serves in the fleet tests (``--factory``).

Its config comes from the ``AUTHSEC_*`` variables, as in a container; the handler answers 200
with the worker's PID. ``FLEET_TOOLS`` (comma-separated) is the inventory its manifest
publishes. ``/health`` serves `Runtime.health()`.
"""

from __future__ import annotations

import dataclasses
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authsec_sdk.runtime import from_env, mount_mcp

TOOLS_ENV = "FLEET_TOOLS"


async def handler(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"pid": os.getpid()})


def create_app() -> Starlette:
    cfg = from_env()
    tools = [name for name in os.environ.get(TOOLS_ENV, "").split(",") if name]
    if tools:
        cfg = dataclasses.replace(cfg, tool_inventory_provider=lambda: [{"name": name} for name in tools])
    app = Starlette()
    runtime = mount_mcp(app, "/mcp", handler, cfg)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(runtime.health())

    app.router.routes.append(Route("/health", health))
    return app
