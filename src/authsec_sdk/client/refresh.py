"""`RefreshTokenAuth`: a signed-in user's access token, kept alive by its refresh token."""

from __future__ import annotations

import time

import httpx

from .grant_auth import DEFAULT_SKEW, DEFAULT_TIMEOUT, GrantAuth
from .grants import OnRefresh, RefreshGrant
from .token_endpoint import ClientCredentials, Clock, IssuedToken, jwt_expiry


class RefreshTokenAuth(GrantAuth):
    """Sends ``access_token`` until it expires (``expires_at``, else the JWT's ``exp``, else
    until refused) or a 401 comes back, then refreshes it (RFC 6749 §6).

    A rotating server's new refresh token replaces the old one, and ``on_refresh(access,
    refresh)`` (sync or async) gets every new pair so the caller can persist it. ``client_id``
    (with ``client_secret`` for a confidential client) identifies the client to the token
    endpoint, which is ``token_endpoint`` or discovered from ``issuer``'s metadata.
    """

    def __init__(
        self,
        access_token: str,
        refresh_token: str,
        token_endpoint: str | None = None,
        on_refresh: OnRefresh | None = None,
        *,
        issuer: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_at: float | None = None,
        skew: float = DEFAULT_SKEW,
        clock: Clock = time.time,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        if client_secret is not None and not client_id:
            raise ValueError("client_secret needs client_id")
        client = ClientCredentials(client_id, client_secret) if client_id else None
        initial = IssuedToken(
            access_token, expires_at if expires_at is not None else jwt_expiry(access_token)
        )
        super().__init__(
            RefreshGrant(refresh_token, client, on_refresh),
            token_endpoint=token_endpoint,
            issuer=issuer,
            audience=None,
            scopes=None,
            skew=skew,
            clock=clock,
            http=http,
            timeout=timeout,
            initial=initial,
        )
