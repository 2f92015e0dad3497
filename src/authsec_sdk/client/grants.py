"""The grants that turn credentials into access tokens: client credentials (RFC 6749 §4.4)
and refresh tokens (§6), with rotation: each answer's new refresh token replaces the old."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import httpx

from .errors import OutboundAuthError
from .token_endpoint import (
    ClientCredentials,
    Clock,
    IssuedToken,
    request_token,
    scope_params,
    target_params,
)

#: Called with each new (access token, refresh token) pair, so the caller can persist it.
OnRefresh = Callable[[str, str], Awaitable[None] | None]


class Grant(Protocol):
    async def __call__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        *,
        scopes: Sequence[str] | None,
        audience: str | None,
        within: float,
        clock: Clock,
    ) -> IssuedToken: ...


class ClientCredentialsGrant:
    """Tokens for the client itself, from its id and secret."""

    def __init__(self, client: ClientCredentials) -> None:
        self._client = client

    async def __call__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        *,
        scopes: Sequence[str] | None,
        audience: str | None,
        within: float,
        clock: Clock,
    ) -> IssuedToken:
        form = [("grant_type", "client_credentials"), *scope_params(scopes), *target_params(audience)]
        return await request_token(http, endpoint, form, self._client, within=within, clock=clock)


class RefreshGrant:
    """New access tokens from a refresh token, which the answer may rotate.

    Callers serialize uses (a `TokenSlot` does): two refreshes at once would present the same
    refresh token twice, which a rotating server treats as theft.
    """

    def __init__(
        self, refresh_token: str, client: ClientCredentials | None, on_refresh: OnRefresh | None
    ) -> None:
        if not refresh_token:
            raise ValueError("refresh_token is required")
        self._refresh_token = refresh_token
        self._client = client
        self._on_refresh = on_refresh

    async def __call__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        *,
        scopes: Sequence[str] | None,
        audience: str | None,
        within: float,
        clock: Clock,
    ) -> IssuedToken:
        form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self._refresh_token),
            *scope_params(scopes),
            *target_params(audience),
        ]
        issued = await request_token(http, endpoint, form, self._client, within=within, clock=clock)
        # Kept before the callback runs: the old one is spent once the server has rotated it.
        self._refresh_token = issued.refresh_token or self._refresh_token
        if self._on_refresh is not None:
            try:
                persisted = self._on_refresh(issued.access_token, self._refresh_token)
                if inspect.isawaitable(persisted):
                    await persisted
            except Exception as exc:
                raise OutboundAuthError(
                    f"on_refresh failed ({type(exc).__name__}): the new tokens may not be persisted",
                    reason="misconfigured",
                ) from exc
        return issued
