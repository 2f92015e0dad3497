"""What every auth model shares: put a bearer token on each request, and on a 401 get
another token once and send the request again.

The classes are ``httpx.Auth`` for calling services and, when the ``mcp`` extra is installed,
``httpx2.Auth`` too, so the same object plugs into the official MCP client
(``create_mcp_http_client(auth=...)``). Tokens are fetched by the auth object itself, never
through the client it is plugged into, so it works with either.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import AsyncGenerator, Generator
from typing import Any, Protocol, TypeVar

import httpx

try:
    from httpx2 import Auth as _McpTransportAuth
except ImportError:  # pragma: no cover - the mcp extra is not installed

    class _McpTransportAuth:  # type: ignore[no-redef]
        """Stands in for ``httpx2.Auth`` when the ``mcp`` extra is not installed."""


class Message(Protocol):
    """What the auth flow touches of an httpx or httpx2 request or response."""

    @property
    def headers(self) -> Any: ...


class Answer(Message, Protocol):
    @property
    def status_code(self) -> int: ...


R = TypeVar("R", bound=Message)


def set_bearer(request: Message, token: str) -> None:
    request.headers["Authorization"] = f"Bearer {token}"


class OutboundAuth(httpx.Auth, _McpTransportAuth, metaclass=ABCMeta):
    """A bearer token on every request; after a 401 one new token and one retry, and after a
    403 whatever `step_up` decides (by default nothing)."""

    #: A request retried is sent again whole, so its body is read first.
    requires_request_body = True

    @abstractmethod
    async def access_token(self) -> str | None:
        """The token to send now, None to send none yet (raises `OutboundAuthError` when a
        token is needed and none can be had)."""

    @abstractmethod
    async def renew(self, rejected: str | None, response: Answer) -> str:
        """A token to replace ``rejected``, which ``response`` (a 401) refused."""

    async def step_up(self, held: str | None, response: Answer) -> str | None:
        """A token with more scope after ``response`` (a 403), or None to accept the refusal."""
        return None

    async def async_auth_flow(self, request: R) -> AsyncGenerator[R, Answer]:
        token = await self.access_token()
        if token is not None:
            set_bearer(request, token)
        response = yield request
        if response.status_code == 401:
            token = await self.renew(token, response)
            set_bearer(request, token)
            response = yield request
        if response.status_code == 403:
            broader = await self.step_up(token, response)
            if broader is not None:
                set_bearer(request, broader)
                yield request

    def sync_auth_flow(self, request: R) -> Generator[R, Any, None]:
        raise TypeError(f"{type(self).__name__} gets its tokens asynchronously: use an async client")
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    def auth_flow(self, request: R) -> Generator[R, Any, None]:
        return self.sync_auth_flow(request)
