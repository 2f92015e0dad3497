"""The ASGI middleware that guards one MCP endpoint.

Pure ASGI with no request objects on the hot path. Order of checks: ``Origin`` (403) and a
CORS preflight from a listed origin; authentication from the headers alone (400/401), so an
unauthenticated caller never makes us read, buffer or parse a body; then the body, read under
a size cap (413) and a deadline (408); its JSON (400); the ``Mcp-Method`` / ``Mcp-Name``
headers against it (400); session ownership (404); then the tool policy (403/503); the
caller's rate limits (429); then the handler with the body replayed byte for byte. Every
decision is made before the handler runs, so a refusal is always an HTTP status, never an
event after a 200. The handler's ``send`` is passed through untouched unless its answer must
be watched (CORS headers, a session being created or ended, a ``tools/list`` to filter, a
token that expires), and even then each message goes out as soon as it can: streams are
never buffered whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AuthSecError,
    ForbiddenError,
    HeaderMismatchError,
    InsufficientScopeError,
    InvalidRequestError,
    MalformedMessageError,
    PolicyUnavailableError,
    RequestTimeoutError,
    RequestTooLargeError,
    RequirementNotMetError,
    SessionNotFoundError,
    TokenInvalidError,
    TokenMissingError,
    ToolNotPermittedError,
    UnreadableBodyError,
    UnsupportedEncodingError,
)
from ..inbound import bind_inbound, unbind_inbound
from ..logsafe import RateLimitedLog, shown
from ..policy import advertisable, challenge_scopes, judge_calls, tool_scopes
from ..principal import Principal, bind_principal, unbind_principal
from ..tokens import extract_bearer
from .headers import first_header
from .jsonrpc import EMPTY, TOOLS_LIST, BodyParseError, Inspection, InvalidMessageError, inspect_body
from .mcp_headers import McpHeaders, agrees_with_body, read_mcp_headers
from .origin import OriginCheck, is_preflight, preflight_answer, with_cors
from .responses import error_answer, session_not_found_answer
from .sdk_user import SdkUsers
from .sessions import SessionOwners, SessionRequest, owner_of, session_id_of, watch_session
from .tools_filter import Keep, ToolsListFilter

if TYPE_CHECKING:
    from ..service import Runtime

logger = logging.getLogger("authsec.middleware")

STATE_KEY = "authsec_principal"

#: Denials are a client's to trigger at will: logged, but never as a flood.
_denials = RateLimitedLog(logger)


class AuthSecMiddleware:
    """Authenticate every HTTP request and authorize every ``tools/call`` before ``app`` sees it."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        #: Owners of the MCP sessions created through this endpoint.
        self.sessions = SessionOwners(runtime.cfg.max_tracked_sessions)
        #: What a 401 asks for when no tool is named in the headers.
        self._baseline = advertisable(runtime.cfg.baseline_scopes)
        self._sdk_users = SdkUsers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        origin = OriginCheck(headers, self.runtime.cfg.allowed_origins)
        if origin.cors_origin is not None:
            if is_preflight(scope["method"], headers):
                await preflight_answer(origin.cors_origin).send(send)
                return
            send = with_cors(send, origin.cors_origin)
        mcp = read_mcp_headers(headers)
        try:
            if not origin.allowed:
                raise ForbiddenError("origin not allowed")
            principal = await self._authenticate(headers)
        except AuthSecError as exc:
            # Any body is left unread (the server discards it as it arrives); a JSON-RPC error
            # for a JSON post answers with id null, as for a request whose id was not parsed.
            jsonrpc = _posts_json(scope["method"], headers)
            await self._refuse(exc, send, jsonrpc=jsonrpc, scopes=self._scopes_to_ask(exc, mcp))
            return
        try:
            body = await self._read_body(headers, receive)
        except AuthSecError as exc:
            await self._refuse(exc, send, jsonrpc=_posts_json(scope["method"], headers))
            return
        if body is None:
            return  # the client went away before sending its body
        inspection = EMPTY
        try:
            inspection = _inspect(body)
            if not agrees_with_body(mcp, inspection):
                raise HeaderMismatchError("Mcp-Method or Mcp-Name header does not match the body")
            session = self._session_request(scope, principal)
            keep = self._authorize(principal, inspection, mcp)
            if self.runtime.limiter is not None and inspection.tool_calls:
                await self.runtime.limiter.check(principal, inspection.tool_calls)
        except AuthSecError as exc:
            # A body we could not accept as JSON-RPC still gets a JSON-RPC error (id null).
            jsonrpc = inspection.is_jsonrpc or isinstance(exc, MalformedMessageError)
            await self._refuse(exc, send, jsonrpc=jsonrpc, request_id=inspection.request_id)
            return
        send = watch_session(session, self.sessions, send)
        if keep is not None:
            send = ToolsListFilter(send, inspection.tools_list_ids, keep, self.runtime.cfg.max_body_bytes)
            # A compressed answer could not be filtered, so ask the handler for a plain one.
            scope = {**scope, "headers": [h for h in headers if h[0] != b"accept-encoding"]}
        await self._dispatch(scope, body, receive, send, principal)

    async def _authenticate(self, headers: Sequence[tuple[bytes, bytes]]) -> Principal:
        token = extract_bearer(headers)
        if token is None:
            raise TokenMissingError("bearer token required")
        return await self.runtime.validator.validate(token)

    async def _read_body(self, headers: Sequence[tuple[bytes, bytes]], receive: Receive) -> bytes | None:
        """The whole body (None if the client left), within the size cap and the deadline."""
        cfg = self.runtime.cfg
        try:
            async with _deadline(cfg.body_read_timeout):
                return await _receive_body(headers, receive, cfg.max_body_bytes)
        except TimeoutError:
            raise RequestTimeoutError("request body not received in time") from None

    def _session_request(self, scope: Scope, principal: Principal) -> SessionRequest:
        """The request's session, refused (as unknown) when ``principal`` did not create it."""
        owner = owner_of(principal)
        session_id = session_id_of(scope["headers"])
        if session_id is not None and not self.sessions.admits(session_id, owner):
            raise SessionNotFoundError("session not found")
        return SessionRequest(session_id, owner, scope["method"] == "DELETE")

    def _authorize(self, principal: Principal, inspection: Inspection, mcp: McpHeaders) -> Keep | None:
        """Deny the whole request if any one ``tools/call`` in it is denied.

        Returns how to filter the request's ``tools/list`` answers, or None to leave them be.
        """
        filters = self.runtime.cfg.filter_tools_list and TOOLS_LIST in inspection.methods
        if not inspection.tool_calls and not filters:
            return None
        try:
            policy = self.runtime.policy.current()
        except PolicyUnavailableError:
            if inspection.tool_calls:
                raise
            return _callable_by_nobody  # without a policy no call would pass, so none is listed
        requirements = self.runtime.requirements
        verdict = judge_calls(policy, requirements, inspection.tool_calls, principal)
        if verdict.unmet:
            raise RequirementNotMetError(verdict.unmet, tool=verdict.tool, require_all=verdict.require_all)
        if not verdict.allowed and not verdict.curable:
            raise ToolNotPermittedError(tool=verdict.tool)
        if not verdict.allowed:
            raise InsufficientScopeError(
                "insufficient scope for tool",
                tool=verdict.tool,
                required_scopes=verdict.required,
                scope=challenge_scopes(
                    policy, verdict.required, principal.scopes, accumulating=mcp.client_accumulates_scopes
                ),
            )
        if not filters or (policy.open and not requirements):
            return None
        return lambda tool: judge_calls(policy, requirements, (tool,), principal).allowed

    def _scopes_to_ask(self, exc: AuthSecError, mcp: McpHeaders) -> Sequence[str]:
        """What a 401 asks for: the scopes of the tool a ``tools/call`` names in its headers,
        else the configured baseline. Least privilege: never everything the server knows."""
        if exc.status_code != 401:
            return ()
        tool = mcp.called_tool
        if tool is not None:
            try:
                needed = tool_scopes(self.runtime.policy.current(), tool)
            except PolicyUnavailableError:
                needed = ()
            if needed:
                return needed
        return self._baseline

    async def _refuse(
        self,
        exc: AuthSecError,
        send: Send,
        *,
        jsonrpc: bool = False,
        request_id: str | int | None = None,
        scopes: Sequence[str] = (),
    ) -> None:
        if isinstance(exc, SessionNotFoundError):
            await session_not_found_answer().send(send)
            return
        if isinstance(exc, (InsufficientScopeError, ToolNotPermittedError)):
            _denials.log(logging.INFO, "denied tools/call %s: %s", shown(exc.tool), exc.description)
        if exc.status_code >= 500:
            # The failing source logs its outage once; one line per refused request would flood.
            logger.debug("refused request with %d: %s", exc.status_code, exc)
        answer = error_answer(
            exc,
            metadata_url=self.runtime.metadata_url,
            scopes=scopes,
            jsonrpc=jsonrpc,
            request_id=request_id,
        )
        await answer.send(send)

    async def _dispatch(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, principal: Principal
    ) -> None:
        state = dict(scope.get("state") or {})
        state[STATE_KEY] = principal
        inner_scope = {**scope, "state": state}
        user = self._sdk_users(principal)
        if user is not None:
            inner_scope["user"] = user
        token = bind_principal(principal)
        inbound = bind_inbound(scope["headers"], principal, self.runtime.cfg)
        try:
            expires_at = principal.expires_at if self.runtime.cfg.close_streams_on_token_expiry else None
            if expires_at is None:
                await self.app(inner_scope, _replay(body, receive), send)
            else:
                await self._run_until(expires_at, inner_scope, _replay(body, receive), send)
        finally:
            unbind_inbound(inbound)
            unbind_principal(token)

    async def _run_until(self, expires_at: float, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler, cancelling it when the token expires, and end its answer cleanly.

        An answer already under way is closed; one not yet begun becomes a 401, as the same
        request would get if it arrived now.
        """
        response = _ResponseState(send)
        with anyio.move_on_after(max(0.0, expires_at - time.time())) as expiry:
            await self.app(scope, receive, response)
        if not expiry.cancelled_caught or response.finished:
            return
        if response.started:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            expired = TokenInvalidError("token expired")
            await self._refuse(expired, send, scopes=self._baseline)


def _deadline(seconds: float) -> AbstractAsyncContextManager[object]:
    """A deadline raising `TimeoutError`: asyncio's own where asyncio runs (every request sets
    one, and it costs half of anyio's portable one), anyio's on any other event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _portable_deadline(seconds)
    return asyncio.timeout(seconds)


@asynccontextmanager
async def _portable_deadline(seconds: float) -> AsyncIterator[None]:
    with anyio.fail_after(seconds):
        yield


def _posts_json(method: str, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """A POST of JSON: a JSON-RPC message, as far as the headers tell."""
    content_type = first_header(headers, b"content-type") or b""
    return method == "POST" and content_type.split(b";")[0].strip().lower() == b"application/json"


def _inspect(body: bytes) -> Inspection:
    """`inspect_body`, its failures as the refusals they become."""
    try:
        return inspect_body(body)
    except BodyParseError:
        raise UnreadableBodyError("Parse error") from None
    except InvalidMessageError as exc:
        raise MalformedMessageError(str(exc)) from None


def _callable_by_nobody(tool: str) -> bool:
    return False


class _ResponseState:
    """A ``send`` that remembers how far the answer got."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.finished = False

    async def __call__(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True


async def _receive_body(headers: Sequence[tuple[bytes, bytes]], receive: Receive, limit: int) -> bytes | None:
    """The whole body (None if the client left), or `RequestTooLargeError` past ``limit`` bytes."""
    for name, value in headers:
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
