"""Getting, renewing and revoking a token for one MCP server.

A login method turns a `Target` (the `Discovered` server at login, the stored `Login` when
renewing) into an `IssuedToken`: client credentials here, the user's browser login in
`browser_login`. A login that brought a refresh token is renewed with it (`RefreshLogin`);
`revoke` revokes the refresh token first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import httpx

from ..client.errors import OutboundAuthError
from ..client.grants import ClientCredentialsGrant, Grant, RefreshGrant
from ..client.token_endpoint import ClientCredentials, IssuedToken
from ..runtime.tokens.jwt_parse import JWTParseError, parse_jwt
from ..runtime.upstream import UpstreamError, send
from .discovery import Discovered
from .store import Login

CLIENT_CREDENTIALS = "client_credentials"


class Target(Protocol):
    """Where a token is got and for what: a `Discovered` server at login, the stored `Login`
    when renewing."""

    @property
    def resource(self) -> str: ...

    @property
    def token_endpoint(self) -> str: ...


class LoginMethod(Protocol):
    """One way of getting a token for a resource from its authorization server."""

    @property
    def grant(self) -> str: ...

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str | None: ...

    async def obtain(
        self, http: httpx.AsyncClient, target: Target, scopes: Sequence[str], within: float
    ) -> IssuedToken: ...


@dataclass(frozen=True)
class ClientCredentialsLogin:
    """RFC 6749 §4.4: the client's own token, from its id and secret, for ``resource`` (RFC 8707)."""

    client_id: str
    client_secret: str = field(repr=False)
    grant: str = CLIENT_CREDENTIALS

    async def obtain(
        self, http: httpx.AsyncClient, target: Target, scopes: Sequence[str], within: float
    ) -> IssuedToken:
        grant = ClientCredentialsGrant(ClientCredentials(self.client_id, self.client_secret))
        return await _request(grant, http, target, scopes, within)


@dataclass(frozen=True)
class RefreshLogin:
    """RFC 6749 §6: a new token for a user's login from its refresh token, which the answer
    may rotate (`reauthorize` keeps the new one)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    refresh_token: str = field(repr=False)
    grant: str = "authorization_code"

    async def obtain(
        self, http: httpx.AsyncClient, target: Target, scopes: Sequence[str], within: float
    ) -> IssuedToken:
        grant = RefreshGrant(self.refresh_token, ClientCredentials(self.client_id, self.client_secret), None)
        return await _request(grant, http, target, scopes, within)


async def _request(
    grant: Grant, http: httpx.AsyncClient, target: Target, scopes: Sequence[str], within: float
) -> IssuedToken:
    """``grant`` at ``target``'s token endpoint, for its resource (RFC 8707)."""
    return await grant(
        http,
        target.token_endpoint,
        scopes=scopes or None,
        audience=target.resource,
        within=within,
        clock=time.time,
    )


def method_for(login: Login) -> LoginMethod | None:
    """How to get ``login``'s token again, or None when that needs the user."""
    if login.grant == CLIENT_CREDENTIALS and login.client_secret:
        return ClientCredentialsLogin(login.client_id, login.client_secret)
    if login.refresh_token:
        return RefreshLogin(login.client_id, login.client_secret, login.refresh_token, login.grant)
    return None


def subject_of(token: str) -> str | None:
    """The ``sub`` of a JWT, read without verification: only to list whose login it is."""
    try:
        subject = parse_jwt(token).claims.get("sub")
    except JWTParseError:
        return None
    return subject if isinstance(subject, str) else None


def record(
    discovered: Discovered, method: LoginMethod, issued: IssuedToken, requested: Sequence[str]
) -> Login:
    """The login to store after a successful ``method`` (an answer without ``scope`` granted
    what was requested, RFC 6749 §5.1)."""
    return Login(
        resource=discovered.resource,
        authorization_server=discovered.authorization_server,
        token_endpoint=discovered.token_endpoint,
        revocation_endpoint=discovered.revocation_endpoint,
        grant=method.grant,
        client_id=method.client_id,
        client_secret=method.client_secret,
        access_token=issued.access_token,
        expires_at=issued.expires_at,
        scopes=issued.scopes or tuple(requested),
        subject=subject_of(issued.access_token),
        refresh_token=issued.refresh_token,
    )


async def reauthorize(
    http: httpx.AsyncClient, login: Login, scopes: Sequence[str], *, within: float
) -> Login:
    """``login`` with a new token for ``scopes``, got the way the first one was. Raises
    `OutboundAuthError` when that is impossible without the user, or refused."""
    method = method_for(login)
    if method is None:
        raise OutboundAuthError(
            f"the {login.grant} login for {login.resource} cannot be renewed here: log in again",
            reason="misconfigured",
        )
    issued = await method.obtain(http, login, scopes, within)
    return replace(
        login,
        access_token=issued.access_token,
        expires_at=issued.expires_at,
        scopes=issued.scopes or tuple(scopes),
        subject=subject_of(issued.access_token) or login.subject,
        refresh_token=issued.refresh_token or login.refresh_token,
    )


def is_expired(login: Login, now: float, skew: float = 30.0) -> bool:
    """Whether to renew before use: ``skew`` seconds early, so the token does not expire in flight."""
    return login.expires_at is not None and now >= login.expires_at - skew


async def revoke(http: httpx.AsyncClient, login: Login, *, within: float) -> bool:
    """RFC 7009: revoke ``login``'s tokens when its authorization server has an endpoint for
    it (the refresh token first: it revokes the whole grant). False when there is none;
    `OutboundAuthError` when the server refused or could not be reached."""
    endpoint = login.revocation_endpoint
    if endpoint is None:
        return False
    client = ClientCredentials(login.client_id, login.client_secret)
    tokens = [(login.refresh_token, "refresh_token"), (login.access_token, "access_token")]
    for token, hint in tokens:
        if token is None:
            continue
        form, auth = client.apply([("token", token), ("token_type_hint", hint)])
        try:
            await send(http, "POST", endpoint, within=within, data=dict(form), auth=auth)
        except UpstreamError as exc:
            why = f"{exc} {exc.error}" if exc.error else str(exc)
            raise OutboundAuthError(f"revocation at {endpoint} failed: {why}", reason="unavailable") from None
    return True
