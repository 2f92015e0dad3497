"""The ASGI middleware that guards one MCP endpoint.

Pure ASGI with no request objects on the hot path. Order of checks: body size, then
authentication (400/401), then the body's JSON, then the tool policy (403/503), then the
handler with the body replayed byte for byte. Every decision is made before the handler
runs, so a refusal is always an HTTP status, never an event after a 200.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AuthSecError,
    InsufficientScopeError,
    InvalidRequestError,
    RequestTooLargeError,
    TokenMissingError,
)
from ..policy import decide, step_up_scopes
from ..principal import Principal, bind_principal, unbind_principal
from ..tokens import extract_bearer
from .jsonrpc import EMPTY, BodyParseError, Inspection, inspect_body
from .responses import error_answer, parse_error_answer

if TYPE_CHECKING:
    from ..service import Runtime

logger = logging.getLogger("authsec.middleware")

STATE_KEY = "authsec_principal"


class UnsupportedEncodingError(AuthSecError):
    """A compressed body cannot be inspected, so it is refused rather than passed on unread."""

    status_code = 415
    error = "invalid_request"


class AuthSecMiddleware:
    """Authenticate every HTTP request and authorize every ``tools/call`` before ``app`` sees it."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(scope, receive, self.runtime.cfg.max_body_bytes)
        except AuthSecError as exc:
            await self._refuse(exc, EMPTY, None, send)
            return
        if body is None:
            return  # the client went away before sending its body
        # Parsed before authentication only so that a 401 can carry the request's id; a
        # parse failure is reported after authentication, to callers who may learn it.
        try:
            inspection, readable = inspect_body(body), True
        except BodyParseError:
            inspection, readable = EMPTY, False
        principal: Principal | None = None
        try:
            principal = await self._authenticate(scope)
            if readable:
                self._authorize(principal, inspection)
        except AuthSecError as exc:
            await self._refuse(exc, inspection, principal, send)
            return
        if not readable:
            await parse_error_answer().send(send)
            return
        await self._dispatch(scope, body, receive, send, principal)

    async def _authenticate(self, scope: Scope) -> Principal:
        token = extract_bearer(scope["headers"])
        if token is None:
            raise TokenMissingError("bearer token required")
        return await self.runtime.validator.validate(token)

    def _authorize(self, principal: Principal, inspection: Inspection) -> None:
        """Deny the whole request if any one ``tools/call`` in it is denied."""
        if not inspection.tool_calls:
            return
        policy = self.runtime.current_policy()
        for tool in inspection.tool_calls:
            decision = decide(policy, tool, principal.scopes)
            if not decision.allowed:
                raise InsufficientScopeError(
                    "tool not permitted" if not decision.required else "insufficient scope for tool",
                    tool=tool,
                    required_scopes=decision.required,
                )

    async def _refuse(
        self, exc: AuthSecError, inspection: Inspection, principal: Principal | None, send: Send
    ) -> None:
        scopes: Sequence[str] = ()
        if isinstance(exc, InsufficientScopeError):
            held = principal.scopes if principal is not None else ()
            scopes = step_up_scopes(self.runtime.current_policy(), exc.required_scopes, held)
            logger.info("denied tools/call %r: %s", exc.tool[:64], exc.description)
        elif exc.status_code == 401:
            scopes = self.runtime.advertised_scopes()
        if exc.status_code >= 500:
            logger.warning("refused request with %d: %s", exc.status_code, exc)
        answer = error_answer(
            exc,
            metadata_url=self.runtime.metadata_url,
            scopes=scopes,
            jsonrpc=inspection.is_jsonrpc,
            request_id=inspection.request_id,
        )
        await answer.send(send)

    async def _dispatch(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, principal: Principal
    ) -> None:
        state = dict(scope.get("state") or {})
        state[STATE_KEY] = principal
        inner_scope = {**scope, "state": state}
        token = bind_principal(principal)
        try:
            await self.app(inner_scope, _replay(body, receive), send)
        finally:
            unbind_principal(token)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body (None if the client left), or `RequestTooLargeError` past ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidRequestError("bad content-length") from None
            if declared > limit:
                raise RequestTooLargeError("request body too large")
        elif name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            raise UnsupportedEncodingError("content-encoding not supported")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError("request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
