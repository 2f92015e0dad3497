"""Test helpers: protected apps served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from authsec_sdk.runtime import Config, Runtime, mount_mcp, principal_from_context
from authsec_sdk.runtime.clock import Clock
from authsec_sdk.testing import LocalIssuer, ServerThread


class MovableClock:
    """Real time plus an offset a test moves forward, instead of sleeping until a TTL passes.

    Only our caches read it: the local issuer keeps real time, as a real issuer would.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.clock = Clock(
            time=lambda: time.time() + self.offset, monotonic=lambda: time.monotonic() + self.offset
        )

    def advance(self, seconds: float) -> None:
        self.offset += seconds


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as a handler reads it."""
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


@dataclass
class Recorder:
    """A raw ASGI handler that answers 200 with what it received, and remembers it."""

    seen: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        principal = scope.get("state", {}).get("authsec_principal")
        from_context = principal_from_context()
        record = {
            "method": scope["method"],
            "body": body,
            "subject": principal.subject if principal else None,
            "context_subject": from_context.subject if from_context else None,
        }
        self.seen.append(record)
        payload = json.dumps({"subject": record["subject"], "length": len(body)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@dataclass
class Protected:
    url: str
    base: str
    runtime: Runtime
    cfg: Config


@contextmanager
def protected_app(
    issuer: LocalIssuer, handler: Any, *, app: Any = None, path: str = "/mcp", **overrides: Any
) -> Iterator[Protected]:
    """``handler`` mounted behind authsec-sdk on a Starlette app, served by uvicorn."""
    app = app if app is not None else Starlette()
    server = ServerThread(app)
    values: dict[str, Any] = {**issuer.config_values(), "resource_uri": f"{server.url}{path}"}
    values.update(overrides)
    cfg = Config(**values)
    runtime = mount_mcp(app, path, handler, cfg)
    with server:
        yield Protected(url=f"{server.url}{path}", base=server.url, runtime=runtime, cfg=cfg)


def rpc(method: str, params: dict[str, Any] | None = None, id: int | str | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if id is not None:
        message["id"] = id
    return message


def call_tool(name: str, id: int | str = 1) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": {}}, id)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge_params(header: str) -> dict[str, str]:
    """Parse a ``Bearer k="v", ...`` challenge (our own values never contain quotes)."""
    scheme, _, rest = header.partition(" ")
    assert scheme == "Bearer"
    params: dict[str, str] = {}
    for part in rest.split(", "):
        key, _, value = part.partition("=")
        assert value.startswith('"') and value.endswith('"'), header
        assert key not in params, f"duplicate {key} in {header}"
        params[key] = value[1:-1]
    return params


@contextmanager
def served_late(build: Callable[[str], ASGIApp]) -> Iterator[str]:
    """Serve the app ``build(base_url)`` returns, for apps that must know their own URL to be
    built (their ``resource_uri``); yields the base URL."""
    built: list[ASGIApp] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await built[0](scope, receive, send)

    server = ServerThread(app)
    built.append(build(server.url))
    with server:
        yield server.url


def _cli_env(env: Mapping[str, str]) -> dict[str, str]:
    """Ours, except for the ``AUTHSEC_*`` variables and ``XDG_CONFIG_HOME``: only ``env``'s."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AUTHSEC_") and name != "XDG_CONFIG_HOME"
    }
    return {**inherited, **env}


@contextmanager
def cli_process(*args: str, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The ``authsec`` command running, for a test to talk to while it runs; ended at exit."""
    with subprocess.Popen(
        [sys.executable, "-m", "authsec_sdk.cli", *args],
        env=_cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def run_cli(*args: str, env: Mapping[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The ``authsec`` command as a user runs it: a new process, its ``AUTHSEC_*`` variables
    (and ``XDG_CONFIG_HOME``) only those of ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "authsec_sdk.cli", *args],
        env=_cli_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (just released by us)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
