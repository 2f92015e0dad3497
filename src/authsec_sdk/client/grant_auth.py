"""An auth model that gets its tokens from one grant at one token endpoint and keeps the
current token in one `TokenSlot`: the shape of both `RuntimeCredentialAuth` and
`RefreshTokenAuth`."""

from __future__ import annotations

import httpx

from .base import Answer, OutboundAuth
from .discovery import TokenEndpoints
from .grants import Grant
from .slot import TokenSlot
from .token_endpoint import Clock, IssuedToken, http_client

#: Default seconds before expiry at which a token is renewed.
DEFAULT_SKEW = 30.0
#: Default bound on each call to the authorization server, in seconds.
DEFAULT_TIMEOUT = 10.0


def check_timing(skew: float, timeout: float) -> None:
    if not skew >= 0:
        raise ValueError("skew must be a number of seconds >= 0")
    if not timeout > 0:
        raise ValueError("timeout must be a number of seconds > 0")


class GrantAuth(OutboundAuth):
    """Tokens from ``grant``, asked for ``scopes`` and ``audience``, renewed ``skew`` seconds
    before they expire."""

    def __init__(
        self,
        grant: Grant,
        *,
        token_endpoint: str | None,
        issuer: str | None,
        audience: str | None,
        scopes: tuple[str, ...] | None,
        skew: float,
        clock: Clock,
        http: httpx.AsyncClient | None,
        timeout: float,
        initial: IssuedToken | None = None,
    ) -> None:
        if token_endpoint is None and issuer is None:
            raise ValueError("token_endpoint is required, or issuer to discover it from")
        check_timing(skew, timeout)
        self._grant = grant
        self._endpoints = TokenEndpoints(token_endpoint)
        self._issuer = issuer
        self._audience = audience
        self._scopes = scopes
        self._clock = clock
        self._http = http
        self._timeout = timeout
        self._slot = TokenSlot(clock, skew, initial)

    async def _fetch(self) -> IssuedToken:
        async with http_client(self._http) as http:
            endpoint = await self._endpoints.get(http, self._issuer, within=self._timeout)
            return await self._grant(
                http,
                endpoint,
                scopes=self._scopes,
                audience=self._audience,
                within=self._timeout,
                clock=self._clock,
            )

    async def access_token(self) -> str:
        return (await self._slot.get(self._fetch)).access_token

    async def renew(self, rejected: str | None, response: Answer) -> str:
        return (await self._slot.replace(rejected, self._fetch)).access_token
