"""The servers `bench_http.py` measures, each run in a process of its own.

    python http_servers.py issuer SPEC        # the issuer; writes SPEC (URLs, keys, tokens)
    python http_servers.py serve KIND SPEC    # one measured server; prints its port when up

Every measured kind answers the same ``tools/call`` with the same small JSON body from the
same handler, behind a different authentication stack, on uvicorn with httptools and uvloop,
one worker. The previous AuthSec SDK shares our import name, so it runs under its own
environment; that is why only the standard library, Starlette and uvicorn are imported at
module level, and each stack's own imports happen where it is built.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATH = "/mcp"
RESOURCE = "http://127.0.0.1/mcp"
SCOPE = "notes:read"
TOOL_SCOPES = {"read": [SCOPE]}
BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{}}}'
ANSWER = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"the notes"}],"isError":false}}'
#: How long the issuer takes to answer an introspection request.
INTROSPECTION_DELAY = 0.001
#: The new-token row's cache, and its pool of tokens, larger so that no token is ever a hit.
COLD_CACHE_SIZE = 1_000
POOL_SIZE = 2 * COLD_CACHE_SIZE
UNKNOWN_KID_TOKENS = 200
#: Seconds an introspection answer is reused in the cached row.
INTROSPECTION_CACHE_TTL = 60.0


class ToolHandler:
    """The MCP server stand-in: reads the request, answers the tool's result."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more_body = True
        while more_body:
            more_body = (await receive()).get("more_body", False)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})


# ---------------------------------------------------------------------- the issuer
def run_issuer(spec_path: Path) -> None:
    """A `LocalIssuer` answering introspection after `INTROSPECTION_DELAY`, and every token the
    rows send, until SIGTERM. The measured servers reach it over HTTP only."""
    from cryptography.hazmat.primitives import serialization

    from authsec_sdk.testing import LocalIssuer, generate_key

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    with LocalIssuer() as issuer:
        issuer.introspection_delay = INTROSPECTION_DELAY
        unpublished = generate_key("RS256")
        public_pem = issuer.current_key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        spec = {
            **issuer.config_values(),
            "public_pem": public_pem.decode(),
            "repeat_jwt": _jwt(issuer, "repeat"),
            "jwt_pool": [_jwt(issuer, f"user-{i}") for i in range(POOL_SIZE)],
            "opaque_pool": [
                issuer.mint_opaque(subject=f"user-{i}", scopes=[SCOPE], audience=RESOURCE, expires_in=3600)
                for i in range(POOL_SIZE)
            ],
            "unknown_kid_jwts": [
                issuer.mint(audience=RESOURCE, key=unpublished, headers={"kid": f"unknown-{i}"})
                for i in range(UNKNOWN_KID_TOKENS)
            ],
        }
        temporary = spec_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(spec))
        temporary.rename(spec_path)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


def _jwt(issuer: Any, subject: str) -> str:
    token: str = issuer.mint(subject=subject, scopes=[SCOPE], audience=RESOURCE, expires_in=3600)
    return token


# ---------------------------------------------------------------------- the measured stacks
def bare(spec: dict[str, Any]) -> ASGIApp:
    """No authentication at all: the floor every other row is a share of."""
    return Starlette(routes=[Route(PATH, ToolHandler())])


def ours(spec: dict[str, Any], **settings: Any) -> ASGIApp:
    """`mount_mcp` over the handler: JWTs checked against the issuer's JWKS by default."""
    from authsec_sdk.runtime import Config, mount_mcp

    cfg = Config(
        issuer=spec["issuer"],
        jwks_url=spec["jwks_url"],
        resource_uri=RESOURCE,
        tool_scopes=TOOL_SCOPES,
        **settings,
    )
    app = Starlette()
    mount_mcp(app, PATH, ToolHandler(), cfg)
    return app


def ours_cold(spec: dict[str, Any]) -> ASGIApp:
    return ours(spec, token_cache_size=COLD_CACHE_SIZE)


def ours_introspection(spec: dict[str, Any], cache_ttl: float = 0.0) -> ASGIApp:
    from authsec_sdk.runtime import ValidationMode

    return ours(
        {**spec, "jwks_url": ""},
        introspection_url=spec["introspection_url"],
        introspection_client_id=spec["introspection_client_id"],
        introspection_client_secret=spec["introspection_client_secret"],
        validation_mode=ValidationMode.INTROSPECTION_ONLY,
        introspection_cache_ttl=cache_ttl,
    )


def ours_introspection_cached(spec: dict[str, Any]) -> ASGIApp:
    return ours_introspection(spec, cache_ttl=INTROSPECTION_CACHE_TTL)


def mcp_bearer(spec: dict[str, Any]) -> ASGIApp:
    """The `mcp` SDK's bearer stack, wired as its ``streamable_http_app`` wires it, around our
    handler: a token verifier doing PyJWT RS256 checks with the issuer's key (the audience too,
    so ``validate_token_resource`` is off, as its settings advise for such verifiers)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
    from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.routes import build_resource_metadata_url
    from pydantic import AnyHttpUrl
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware

    public_key = load_pem_public_key(spec["public_pem"].encode())
    assert isinstance(public_key, RSAPublicKey)
    key: RSAPublicKey = public_key

    class PyJWTVerifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            try:
                claims = jwt.decode(
                    token, key, algorithms=["RS256"], audience=RESOURCE, issuer=spec["issuer"]
                )
            except jwt.InvalidTokenError:
                return None
            return AccessToken(
                token=token,
                client_id=claims.get("client_id", ""),
                scopes=claims.get("scope", "").split(),
                expires_at=claims.get("exp"),
                resource=RESOURCE,
                subject=claims.get("sub"),
                claims=claims,
            )

    metadata_url = build_resource_metadata_url(AnyHttpUrl(RESOURCE))
    return Starlette(
        routes=[Route(PATH, endpoint=RequireAuthMiddleware(ToolHandler(), [SCOPE], metadata_url))],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(PyJWTVerifier())),
            Middleware(AuthContextMiddleware),
        ],
    )


def previous_sdk(spec: dict[str, Any]) -> ASGIApp:
    """The previous AuthSec SDK's ``mount_mcp`` in ``INTROSPECTION_ONLY``: its request path
    validates every token by an introspection call over aiohttp, with no cache. It takes a
    Starlette endpoint (request in, response out), so the handler is called as one."""
    runtime = importlib.import_module("authsec_sdk.runtime")  # the previous SDK's, untyped here
    handler = ToolHandler()

    async def endpoint(request: Request) -> Response:
        status, headers, body = 0, [], b""

        async def send(message: Message) -> None:
            nonlocal status, headers, body
            if message["type"] == "http.response.start":
                status, headers = message["status"], message["headers"]
            else:
                body += message.get("body", b"")

        await handler(request.scope, request.receive, send)
        return Response(body, status, {k.decode(): v.decode() for k, v in headers})

    cfg = runtime.Config(
        issuer=spec["issuer"],
        introspection_url=spec["introspection_url"],
        introspection_client_id=spec["introspection_client_id"],
        introspection_client_secret=spec["introspection_client_secret"],
        resource_uri=RESOURCE,
        tool_scopes=TOOL_SCOPES,
        policy_mode=runtime.PolicyMode.LOCAL_ONLY,
        validation_mode=runtime.ValidationMode.INTROSPECTION_ONLY,
    )
    app = Starlette()
    runtime.mount_mcp(app, PATH, endpoint, cfg)
    return app


KINDS: dict[str, Callable[[dict[str, Any]], ASGIApp]] = {
    "bare": bare,
    "ours": ours,
    "ours-cold": ours_cold,
    "ours-introspection": ours_introspection,
    "ours-introspection-cached": ours_introspection_cached,
    "mcp-bearer": mcp_bearer,
    "previous-sdk": previous_sdk,
}


# ---------------------------------------------------------------------- serving
class _Server(uvicorn.Server):
    """Prints its port once it accepts connections: the parent's signal to start."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if sockets:
            print(sockets[0].getsockname()[1], flush=True)


def serve(app: ASGIApp) -> None:
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="auto"
    )
    _Server(config).run(sockets=[sock])


def wait_for(path: Path, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


def main(argv: list[str]) -> None:
    if argv[:1] == ["issuer"] and len(argv) == 2:
        run_issuer(Path(argv[1]))
    elif argv[:1] == ["serve"] and len(argv) == 3 and argv[1] in KINDS:
        serve(KINDS[argv[1]](wait_for(Path(argv[2]))))
    else:
        sys.exit(f"usage: {os.path.basename(__file__)} issuer SPEC | serve {{{','.join(KINDS)}}} SPEC")


if __name__ == "__main__":
    main(sys.argv[1:])
