"""A second protected service for the outbound-auth tests: what it was sent, and by whom."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from helpers import Protected, protected_app, read_body
from starlette.types import Receive, Scope, Send

from authsec_sdk.runtime import Principal
from authsec_sdk.testing import LocalIssuer


@dataclass(frozen=True)
class Seen:
    """One request the downstream service let through."""

    headers: bytes
    authorization: str
    subject: str
    audience: tuple[str, ...]
    claims: dict[str, Any]


@dataclass
class Downstream:
    """A raw ASGI handler behind mount_mcp: answers with the caller's subject, remembers it all."""

    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        principal: Principal = scope["state"]["authsec_principal"]
        headers = dict(scope["headers"])
        self.seen.append(
            Seen(
                headers=b"\n".join(name + b": " + value for name, value in scope["headers"]),
                authorization=headers.get(b"authorization", b"").decode(),
                subject=principal.subject,
                audience=principal.audience,
                claims=dict(principal.claims),
            )
        )
        body = json.dumps({"subject": principal.subject}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@contextmanager
def downstream_service(issuer: LocalIssuer) -> Iterator[tuple[Protected, Downstream]]:
    """The downstream service on 127.0.0.1, validating every token with the issuer (JWT and
    introspection, so a revoked token is refused at once)."""
    handler = Downstream()
    with protected_app(issuer, handler, path="/api") as served:
        yield served, handler
