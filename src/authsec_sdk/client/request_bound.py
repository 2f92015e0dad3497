"""`RequestBoundAuth`: call another service as the caller of the request being handled.

MCP forbids passing the caller's token on. Instead it is exchanged (RFC 8693) for a token
meant for the downstream service alone, with the same subject. The identity is bound to the
request: without a current request, with an expired inbound token, or when the exchange is
refused, the call fails with `OutboundAuthError` and nothing is sent. It never falls back to
another identity and never sends the inbound token itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

import httpx

from ..runtime.inbound import Inbound, current_inbound
from .base import Answer, OutboundAuth
from .discovery import TokenEndpoints
from .errors import OutboundAuthError
from .grant_auth import DEFAULT_SKEW, DEFAULT_TIMEOUT, check_timing
from .slot import TokenSlot
from .token_endpoint import (
    ClientCredentials,
    Clock,
    IssuedToken,
    http_client,
    request_token,
    scope_params,
    scope_tuple,
    target_params,
)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: Callers whose exchanged tokens are kept; past this the least recently used is dropped.
DEFAULT_MAX_CACHED = 1000

#: Whose token a cached exchanged token stands for: issuer, subject and client.
_Caller = tuple[str, str, str]


class RequestBoundAuth(OutboundAuth):
    """Inside a request, exchange the caller's token for one for ``audience`` and send that.

    ``audience`` names the downstream service (sent as RFC 8707 ``resource`` when it is a URI,
    else as ``audience``); ``scopes`` narrows the exchanged token. The exchanging client is
    ``client_id`` / ``client_secret``, by default the protected endpoint's own credentials
    (``Config.introspection_client_id`` / ``introspection_client_secret``), and the token
    endpoint is ``token_endpoint`` or discovered from the endpoint's issuer. Exchanged tokens
    are cached per caller (issuer, subject, client) until ``skew`` seconds before they expire.
    """

    def __init__(
        self,
        audience: str,
        scopes: Iterable[str] | None = None,
        token_endpoint: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        skew: float = DEFAULT_SKEW,
        clock: Clock = time.time,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_cached: int = DEFAULT_MAX_CACHED,
    ) -> None:
        if not audience:
            raise ValueError("audience is required: the service the exchanged token is for")
        if (client_id is None) != (client_secret is None):
            raise ValueError("client_id and client_secret go together")
        if max_cached < 1:
            raise ValueError("max_cached must be at least 1")
        check_timing(skew, timeout)
        self._audience = audience
        self._scopes = scope_tuple(scopes)
        self._client = ClientCredentials(client_id, client_secret) if client_id else None
        self._endpoints = TokenEndpoints(token_endpoint)
        self._skew = skew
        self._clock = clock
        self._http = http
        self._timeout = timeout
        self._max_cached = max_cached
        self._slots: OrderedDict[_Caller, TokenSlot] = OrderedDict()

    def _inbound(self) -> Inbound:
        """The request's validated token, if it is still valid: else no identity at all."""
        inbound = current_inbound()
        if inbound is None:
            raise OutboundAuthError(
                "no request is being handled: a request-bound identity exists only inside one",
                reason="no_request",
            )
        expires_at = inbound.principal.expires_at
        if expires_at is not None and self._clock() >= expires_at:
            raise OutboundAuthError("the inbound token has expired", reason="inbound_expired")
        return inbound

    def _slot(self, inbound: Inbound) -> TokenSlot:
        principal = inbound.principal
        caller = (principal.issuer, principal.subject, principal.client_id)
        slot = self._slots.get(caller)
        if slot is None:
            slot = self._slots[caller] = TokenSlot(self._clock, self._skew)
            while len(self._slots) > self._max_cached:
                self._slots.popitem(last=False)
        self._slots.move_to_end(caller)
        return slot

    def _exchanger(self, inbound: Inbound) -> ClientCredentials:
        if self._client is not None:
            return self._client
        cfg = inbound.cfg
        if not cfg.introspection_client_id or not cfg.introspection_client_secret:
            raise OutboundAuthError(
                "no client credentials for token exchange: pass client_id and client_secret, "
                "or configure the endpoint's introspection_client_id and introspection_client_secret",
                reason="misconfigured",
            )
        return ClientCredentials(cfg.introspection_client_id, cfg.introspection_client_secret)

    async def _exchange(self, inbound: Inbound) -> IssuedToken:
        client = self._exchanger(inbound)
        form = [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", inbound.token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            *target_params(self._audience),
            *scope_params(self._scopes),
        ]
        async with http_client(self._http) as http:
            endpoint = await self._endpoints.get(http, inbound.cfg.issuer, within=self._timeout)
            issued = await request_token(
                http, endpoint, form, client, within=self._timeout, clock=self._clock
            )
        if issued.access_token == inbound.token:
            raise OutboundAuthError(
                "the token endpoint handed back the inbound token itself", reason="refused"
            )
        return issued

    async def access_token(self) -> str:
        inbound = self._inbound()
        return (await self._slot(inbound).get(lambda: self._exchange(inbound))).access_token

    async def renew(self, rejected: str | None, response: Answer) -> str:
        inbound = self._inbound()
        return (await self._slot(inbound).replace(rejected, lambda: self._exchange(inbound))).access_token
