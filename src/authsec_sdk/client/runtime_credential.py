"""`RuntimeCredentialAuth`: a long-running worker's own identity, from its client id and secret."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from .grant_auth import DEFAULT_SKEW, DEFAULT_TIMEOUT, GrantAuth
from .grants import ClientCredentialsGrant
from .token_endpoint import ClientCredentials, Clock, scope_tuple


class RuntimeCredentialAuth(GrantAuth):
    """Client credentials (RFC 6749 §4.4) for workers with no user behind them.

    Mints short-lived tokens for ``audience`` (RFC 8707 ``resource`` when it is a URI) with
    ``scopes``, reuses each until ``skew`` seconds before it expires, lets one task at a time
    ask for a new one, and after a 401 from the service asks once more and retries. The token
    endpoint is ``token_endpoint``, or discovered from ``issuer``'s metadata.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_endpoint: str | None = None,
        audience: str | None = None,
        scopes: Iterable[str] | None = None,
        *,
        issuer: str | None = None,
        skew: float = DEFAULT_SKEW,
        clock: Clock = time.time,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        super().__init__(
            ClientCredentialsGrant(ClientCredentials(client_id, client_secret)),
            token_endpoint=token_endpoint,
            issuer=issuer,
            audience=audience,
            scopes=scope_tuple(scopes),
            skew=skew,
            clock=clock,
            http=http,
            timeout=timeout,
        )
