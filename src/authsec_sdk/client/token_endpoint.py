"""One token request (RFC 6749 §3.2) and what its answer means.

Every grant the client package uses (client credentials, refresh, token exchange) posts a
form to the token endpoint and reads the same JSON answer; this module does both, with the
client authenticated by HTTP Basic (RFC 6749 §2.3.1) or, for public clients, ``client_id``
in the form. Failures become `OutboundAuthError` naming the endpoint and the OAuth error
code, never a token or secret.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx
import jwt

from ..runtime.tokens.bearer import MAX_TOKEN_BYTES
from ..runtime.upstream import UpstreamError, fetch_json
from .errors import OutboundAuthError

Clock = Callable[[], float]
Form = list[tuple[str, str]]

#: Longest ``expires_in`` believed (a year); anything longer is treated as unknown.
_MAX_LIFETIME = 365 * 24 * 3600


@dataclass(frozen=True)
class ClientCredentials:
    """An OAuth client: confidential with a secret, public without."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)

    def apply(self, form: Form) -> tuple[Form, httpx.Auth | None]:
        """The form and HTTP auth that authenticate this client."""
        if self.client_secret is None:
            return [*form, ("client_id", self.client_id)], None
        encoded = quote(self.client_id, safe=""), quote(self.client_secret, safe="")
        return form, httpx.BasicAuth(*encoded)


@dataclass(frozen=True)
class IssuedToken:
    """An access token and when to stop using it (epoch seconds; None: until refused)."""

    access_token: str = field(repr=False)
    expires_at: float | None
    issued_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()

    def usable(self, now: float, skew: float) -> bool:
        """Whether to send it at ``now``: until ``skew`` seconds before expiry, or half its
        lifetime before when that is shorter, so a short-lived token is still renewed early."""
        if self.expires_at is None:
            return True
        margin = skew
        if self.issued_at is not None:
            margin = min(skew, (self.expires_at - self.issued_at) / 2)
        return now < self.expires_at - margin


def target_params(audience: str | None) -> Form:
    """Where the token is to be used: RFC 8707 ``resource`` for an absolute URI, else the
    logical ``audience`` name (RFC 8693 §2.1)."""
    if audience is None:
        return []
    parts = urlsplit(audience)
    return [("resource" if parts.scheme and parts.netloc else "audience", audience)]


def scope_params(scopes: Sequence[str] | None) -> Form:
    return [("scope", " ".join(scopes))] if scopes else []


def scope_tuple(scopes: Iterable[str] | None) -> tuple[str, ...] | None:
    """``scopes`` checked (RFC 6749 §3.3: non-empty, no spaces or quotes), or None."""
    if scopes is None:
        return None
    if isinstance(scopes, str):
        raise ValueError("scopes must be a list of scope names, not one string")
    checked = tuple(scopes)
    for scope in checked:
        if not scope or any(c <= " " or c in '"\\' or c == "\x7f" for c in scope):
            raise ValueError(f"invalid scope name {scope[:100]!r}")
    return checked


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT, read without verification: only to know when to renew a token
    we hold, never to trust it. None for an opaque token or no usable ``exp``."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) and math.isfinite(exp) else None


@asynccontextmanager
async def http_client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """``given``, or a client for this one exchange of messages."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient() as client:
        yield client


async def request_token(
    http: httpx.AsyncClient,
    endpoint: str,
    form: Form,
    client: ClientCredentials | None,
    *,
    within: float,
    clock: Clock = time.time,
) -> IssuedToken:
    """POST ``form`` to ``endpoint`` as ``client``; the issued token, or `OutboundAuthError`."""
    body, auth = client.apply(form) if client is not None else (form, None)
    data: dict[str, list[str]] = {}
    for name, value in body:
        data.setdefault(name, []).append(value)
    try:
        answer = await fetch_json(http, "POST", endpoint, within=within, data=data, auth=auth)
    except UpstreamError as exc:
        if exc.error:
            raise OutboundAuthError(
                f"token endpoint {endpoint} refused: {exc.error}", reason="refused", error=exc.error
            ) from None
        raise OutboundAuthError(f"token endpoint {endpoint} failed: {exc}", reason="unavailable") from None
    return read_token_answer(answer, endpoint, issued_at=clock())


def read_token_answer(answer: object, endpoint: str, *, issued_at: float) -> IssuedToken:
    """RFC 6749 §5.1: a Bearer ``access_token``, optional ``expires_in``, ``refresh_token``,
    ``scope``. Anything malformed is refused rather than guessed at."""

    def bad(why: str) -> OutboundAuthError:
        return OutboundAuthError(f"token endpoint {endpoint} answered {why}", reason="unavailable")

    if not isinstance(answer, dict):
        raise bad("something that is not a JSON object")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES or not token.isascii():
        raise bad("no usable access_token")
    token_type = answer.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise bad("a token_type other than Bearer")
    refresh = answer.get("refresh_token")
    if refresh is not None and (
        not isinstance(refresh, str) or not refresh or len(refresh) > MAX_TOKEN_BYTES
    ):
        raise bad("an unusable refresh_token")
    scope = answer.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise bad("a scope that is not a string")
    lifetime = answer.get("expires_in")
    if lifetime is not None and (
        isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not lifetime > 0
    ):
        raise bad("an expires_in that is not a positive number")
    expires_at = None
    if lifetime is not None and lifetime <= _MAX_LIFETIME:
        expires_at = issued_at + lifetime
    elif lifetime is None:
        expires_at = jwt_expiry(token)
    return IssuedToken(token, expires_at, issued_at, refresh, tuple((scope or "").split()))
