"""`authsec tools` and `authsec call`: the official MCP client with the stored login's token.

`LoginAuth` puts the token on every request. A login that expired, or whose token the server
refuses (401), gets a new token the way it got the first, once, and keeps it. A 403
``insufficient_scope`` is remembered for the report; with step-up allowed the login is
re-authorized for the union of the scopes held and asked for, and the request retried.
``AUTHSEC_ACCESS_TOKEN`` is used as it is: never renewed, never stepped up.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ..client.base import Answer, OutboundAuth
from ..client.challenge import Challenge, bearer_challenge
from ..client.errors import OutboundAuthError
from ..client.token_endpoint import http_client
from .login import is_expired, reauthorize
from .store import Login, LoginStore

#: Seconds for each call to the authorization server.
AUTH_TIMEOUT = 10.0
#: Connect and read bounds for the MCP server (a tool may take a while to answer).
MCP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class LoginAuth(OutboundAuth):
    """The token for one server: a stored login's (renewed and stepped up as allowed), or a
    fixed one from the environment."""

    def __init__(
        self, *, login: Login | None, store: LoginStore | None, fixed: str | None, step_up: bool
    ) -> None:
        if (login is None) == (fixed is None):
            raise ValueError("give a login or a fixed token")
        self._login = login
        self._store = store
        self._fixed = fixed
        self._step_up = step_up
        #: One renewal at a time: concurrent refusals of one token renew it once.
        self._renewing = anyio.Lock()
        #: The last refusal's challenge (401 or 403), for the report.
        self.refusal: Challenge | None = None
        #: Scopes asked for by step-ups that were done.
        self.stepped_up: tuple[str, ...] | None = None

    @property
    def fixed_token(self) -> bool:
        """True when the token is the environment's, used as it is."""
        return self._fixed is not None

    @property
    def may_step_up(self) -> bool:
        return self._step_up and self._login is not None

    async def access_token(self) -> str:
        if self._fixed is not None:
            return self._fixed
        assert self._login is not None
        if is_expired(self._login, time.time()):
            async with self._renewing:
                if is_expired(self._login, time.time()):
                    await self._renew(self._login.scopes)
        return self._login.access_token

    async def renew(self, rejected: str | None, response: Answer) -> str:
        self.refusal = bearer_challenge(response.headers.get_list("www-authenticate"))
        if self._fixed is not None:
            raise OutboundAuthError("the server refused AUTHSEC_ACCESS_TOKEN (401)", reason="refused")
        assert self._login is not None
        async with self._renewing:
            if rejected == self._login.access_token:  # else another request renewed it meanwhile
                await self._renew(self._login.scopes)
        return self._login.access_token

    async def step_up(self, held: str | None, response: Answer) -> str | None:
        challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
        self.refusal = challenge
        if not self.may_step_up or self._login is None:
            return None
        if challenge is None or challenge.error != "insufficient_scope" or not challenge.scopes:
            return None
        async with self._renewing:
            if held == self._login.access_token:  # else another request stepped up meanwhile
                wanted = tuple(dict.fromkeys([*self._login.scopes, *challenge.scopes]))
                await self._renew(wanted)
                self.stepped_up = wanted
        return self._login.access_token

    async def _renew(self, scopes: Sequence[str]) -> None:
        assert self._login is not None
        async with http_client(None) as http:
            self._login = await reauthorize(http, self._login, scopes, within=AUTH_TIMEOUT)
        if self._store is not None:
            self._store.save(self._login)


@dataclass(frozen=True)
class Refused:
    """Why the server refused: its JSON-RPC error, and the challenge when there was one."""

    message: str
    data: Mapping[str, Any]
    challenge: Challenge | None

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        required = self.data.get("required_scopes")
        if isinstance(required, list) and all(isinstance(s, str) for s in required):
            return tuple(required)
        return self.challenge.scopes if self.challenge is not None else ()

    @property
    def error(self) -> str:
        code = self.data.get("error")
        return code if isinstance(code, str) else ""


class CallFailed(Exception):
    """The MCP exchange failed; ``refused`` is set when the server refused the token."""

    def __init__(self, message: str, refused: Refused | None = None) -> None:
        super().__init__(message)
        self.refused = refused


async def list_tools(url: str, auth: LoginAuth) -> list[dict[str, Any]]:
    """The tools the server lists for this token (the middleware hides those it may not call)."""
    async with _session(url, auth) as client:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += [{"name": t.name, "description": t.description or ""} for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                return tools


async def call_tool(url: str, auth: LoginAuth, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's answer as JSON: ``content``, ``structured_content`` and ``is_error``."""
    async with _session(url, auth) as client:
        result = await client.call_tool(name, dict(arguments))
    return result.model_dump(mode="json", include={"content", "structured_content", "is_error"})


@asynccontextmanager
async def _session(url: str, auth: LoginAuth) -> AsyncIterator[Client]:
    """An MCP client session over streamable HTTP with ``auth``; failures become `CallFailed`."""
    try:
        async with (
            httpx2.AsyncClient(auth=auth, timeout=MCP_TIMEOUT) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            yield client
    except Exception as exc:  # the transport's task group wraps what failed: find it
        failure = _failure(exc, auth)
        if failure is None:
            raise
        raise failure from None


def _failure(exc: BaseException, auth: LoginAuth) -> CallFailed | None:
    for leaf in _leaves(exc):
        if isinstance(leaf, CallFailed):
            return leaf
        if isinstance(leaf, OutboundAuthError):
            return CallFailed(str(leaf), Refused(str(leaf), {}, auth.refusal))
        if isinstance(leaf, MCPError):
            data = leaf.error.data if isinstance(leaf.error.data, dict) else {}
            refused = Refused(leaf.error.message, data, auth.refusal) if _is_refusal(data) else None
            return CallFailed(leaf.error.message, refused)
        if isinstance(leaf, (httpx2.HTTPError, OSError)):
            return CallFailed(f"{type(leaf).__name__}: {leaf}")
    return None


def _is_refusal(data: Mapping[str, Any]) -> bool:
    return data.get("error") in ("unauthorized", "invalid_token", "insufficient_scope", "forbidden")


def _leaves(exc: BaseException) -> list[BaseException]:
    nested = getattr(exc, "exceptions", None)
    if nested is None:
        return [exc]
    return [leaf for sub in nested for leaf in _leaves(sub)]
