"""The local issuer's authorization-server face: RFC 8414 metadata, a token endpoint and RFC
7009 revocation, so that real OAuth clients (the ``mcp`` SDK's provider, `authsec_sdk.client`)
can go the whole way from our 401 to a token, and from our 403 to a token with more scope.

Each registered client has the scopes it may be granted and the grants it may use:

- ``client_credentials`` (every client by default): the requested scopes it may have (all of
  them when it asks for none; RFC 6749 §3.3 lets a server grant less than asked), and its RFC
  8707 ``resource`` becomes the token's ``aud``. Widening a client's scopes with
  `AuthorizationServer.allow` plays the part of an administrator's approval, which is what
  turns a step-up request into a broader token.
- ``refresh_token``: `AuthorizationServer.sign_in` plays a user signing in through the client
  and hands out an access and a refresh token. Every refresh rotates the refresh token; one
  presented again after it was used revokes its whole family (theft detection).
- ``authorization_code`` with PKCE (S256 only; see `authorization_code`): the authorization
  endpoint signs in `AuthorizationServer.approve_as` at once and redirects to the client's
  loopback listener; the code is redeemed for an access token and, when the client may
  refresh, a refresh token. Public clients (``register_client(..., public=True)``) redeem
  codes and refresh without a secret.
- RFC 8693 token exchange, only for the audiences `AuthorizationServer.allow_exchange` lists
  for that client, and only of an active access token from this issuer: the new token keeps
  the subject, names the exchanging client in ``act``, and never outlives the one exchanged.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .authorization_code import (
    AUTHORIZATION_CODE,
    CODE_LIFETIME,
    AuthorizationCodes,
    CodeRefusedError,
    IssuedCode,
    is_loopback_redirect,
)

if TYPE_CHECKING:
    from .issuer import LocalIssuer

METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_METADATA_PATH = "/.well-known/openid-configuration"
TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"
REVOKE_PATH = "/oauth/revoke"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Lifetime of the access tokens the endpoint issues, in seconds.
TOKEN_LIFETIME = 300


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str = field(repr=False)
    #: Scopes this client may be granted.
    scopes: set[str] = field(default_factory=set)
    #: Grants this client may use at the token endpoint.
    grant_types: set[str] = field(default_factory=lambda: {CLIENT_CREDENTIALS})
    #: Audiences (or RFC 8707 resources) this client may exchange tokens for.
    exchange_audiences: set[str] = field(default_factory=set)
    #: A public client (a CLI, a desktop app) has no secret; it proves itself with PKCE.
    public: bool = False


@dataclass
class _RefreshRecord:
    """One refresh token: whose grant it continues, and whether it was used or revoked."""

    client_id: str
    subject: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    family: str
    spent: bool = False


@dataclass(frozen=True)
class TokenRequest:
    """What a client asked the token endpoint for (never its secret), for tests to inspect."""

    client_id: str
    scope: str | None
    resources: tuple[str, ...]
    granted: str
    grant_type: str = CLIENT_CREDENTIALS
    #: Whose token it is: the client's own, or the user's (refresh, exchange).
    subject: str = ""


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class AuthorizationServer:
    """RFC 8414 metadata, a token endpoint and RFC 7009 revocation for ``issuer``."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self._issuer = issuer
        self._lock = threading.Lock()
        self._clients: dict[str, RegisteredClient] = {}
        self._refresh_tokens: dict[str, _RefreshRecord] = {}
        #: Refresh-token families revoked, and the access tokens each family was issued.
        self._revoked_families: set[str] = set()
        self._family_access: dict[str, list[str]] = {}
        #: Every token request answered with a token, oldest first.
        self.token_requests: list[TokenRequest] = []
        #: Every token the revocation endpoint was asked to revoke, by an authenticated client.
        self.revocations: list[str] = []
        #: The user the authorization endpoint signs in (and approves for) at once.
        self.approve_as = "user-1"
        self._codes = AuthorizationCodes()

    def reset(self) -> None:
        """Back to a fresh server's state: no registered clients, refresh tokens, token
        requests or revocations."""
        with self._lock:
            self._clients = {}
            self._refresh_tokens = {}
            self._revoked_families = set()
            self._family_access = {}
            self.token_requests = []
            self.revocations = []
            self.approve_as = "user-1"
        self._codes.clear()

    def routes(self) -> list[BaseRoute]:
        return [
            Route(METADATA_PATH, self._metadata, methods=["GET"]),
            Route(OPENID_METADATA_PATH, self._openid_metadata, methods=["GET"]),
            Route(TOKEN_PATH, self._token, methods=["POST"]),
            Route(AUTHORIZE_PATH, self._authorize, methods=["GET", "POST"]),
            Route(REVOKE_PATH, self._revoke, methods=["POST"]),
        ]

    @property
    def token_endpoint(self) -> str:
        return f"{self._issuer.url}{TOKEN_PATH}"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self._issuer.url}{REVOKE_PATH}"

    def register_client(
        self,
        client_id: str,
        *,
        scopes: Iterable[str] = (),
        client_secret: str | None = None,
        grant_types: Iterable[str] = (CLIENT_CREDENTIALS,),
        public: bool = False,
    ) -> RegisteredClient:
        """Register (or replace) a client allowed ``scopes`` and ``grant_types``: confidential,
        or ``public`` (no secret; only the code and refresh grants make sense for it)."""
        secret = "" if public else client_secret or secrets.token_urlsafe(24)
        client = RegisteredClient(client_id, secret, set(scopes), set(grant_types), public=public)
        with self._lock:
            self._clients[client_id] = client
        return client

    def allow_exchange(self, client_id: str, audiences: Iterable[str]) -> None:
        """Let ``client_id`` exchange tokens (RFC 8693) for ``audiences``: the exchange policy."""
        with self._lock:
            client = self._clients[client_id]
            client.grant_types.add(TOKEN_EXCHANGE)
            client.exchange_audiences.update(audiences)

    def sign_in(
        self,
        client_id: str,
        *,
        subject: str,
        scopes: Iterable[str] = (),
        resource: str | None = None,
        expires_in: float = TOKEN_LIFETIME,
    ) -> dict[str, Any]:
        """The token response a user ``subject`` signing in through ``client_id`` would get: an
        access token (for ``resource``, living ``expires_in`` seconds; refreshed ones live
        `TOKEN_LIFETIME`) and a refresh token. The client must be registered with the refresh
        grant."""
        with self._lock:
            client = self._clients[client_id]
        if REFRESH_TOKEN not in client.grant_types:
            raise ValueError(f"client {client_id!r} is not registered for the refresh_token grant")
        resources = (resource,) if resource is not None else ()
        record = _RefreshRecord(client_id, subject, tuple(scopes), resources, uuid.uuid4().hex)
        return self._refreshable_answer(record, record.scopes, resources, expires_in)

    def allow(self, client_id: str, scopes: Iterable[str]) -> None:
        """Let ``client_id`` be granted ``scopes`` too, as an administrator's approval would."""
        with self._lock:
            self._clients[client_id].scopes.update(scopes)

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 document: the grants (and response types) the registered clients may use."""
        base = self._issuer.url
        with self._lock:
            scopes = sorted({s for c in self._clients.values() for s in c.scopes})
            grants = {g for c in self._clients.values() for g in c.grant_types} - {CLIENT_CREDENTIALS}
            public = any(c.public for c in self._clients.values())
        document: dict[str, Any] = {
            "issuer": self._issuer.issuer,
            "authorization_endpoint": f"{base}{AUTHORIZE_PATH}",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self._issuer.jwks_url,
            "introspection_endpoint": self._issuer.introspection_url,
            "grant_types_supported": [CLIENT_CREDENTIALS, *sorted(grants)],
            "response_types_supported": ["code"] if AUTHORIZATION_CODE in grants else [],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [*AUTH_METHODS, *(["none"] if public else [])],
            "revocation_endpoint": self.revocation_endpoint,
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        }
        if scopes:
            document["scopes_supported"] = scopes
        return document

    def grant(self, client: RegisteredClient, scope: str | None, resources: Iterable[str]) -> dict[str, Any]:
        """The token response for an authenticated ``client`` (raises `OAuthError`)."""
        audience = list(resources)
        _check_resources(audience)
        granted = self._granted_scopes(client, scope)
        token = self._issuer.mint(
            subject=client.client_id,
            scopes=granted,
            audience=(audience[0] if len(audience) == 1 else audience) if audience else None,
            expires_in=TOKEN_LIFETIME,
            claims={"client_id": client.client_id},
        )
        with self._lock:
            self.token_requests.append(
                TokenRequest(client.client_id, scope, tuple(audience), " ".join(granted))
            )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(granted),
        }

    def _granted_scopes(self, client: RegisteredClient, scope: str | None) -> list[str]:
        """The requested scopes ``client`` may have (all it may have when it asks for none)."""
        with self._lock:
            allowed = set(client.scopes)
        requested = scope.split() if scope is not None else sorted(allowed)
        granted = [s for s in dict.fromkeys(requested) if s in allowed]
        if requested and not granted:
            raise OAuthError("invalid_scope", "none of the requested scopes may be granted to this client")
        return granted

    def _refreshable_answer(
        self,
        record: _RefreshRecord,
        scopes: Iterable[str],
        resources: tuple[str, ...],
        expires_in: float = TOKEN_LIFETIME,
    ) -> dict[str, Any]:
        """A new access token and a new refresh token continuing ``record``'s grant."""
        granted = list(scopes)
        token = self._issuer.mint(
            subject=record.subject,
            scopes=granted,
            audience=(resources[0] if len(resources) == 1 else list(resources)) if resources else None,
            expires_in=expires_in,
            claims={"client_id": record.client_id},
        )
        refresh = secrets.token_urlsafe(32)
        successor = _RefreshRecord(
            record.client_id, record.subject, record.scopes, record.resources, record.family
        )
        with self._lock:
            self._refresh_tokens[refresh] = successor
            self._family_access.setdefault(record.family, []).append(token)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
            "scope": " ".join(granted),
        }

    def refresh(
        self, client: RegisteredClient, refresh_token: str, scope: str | None, resources: list[str]
    ) -> dict[str, Any]:
        """RFC 6749 §6 with rotation: the token is spent, a new one comes with the answer. A
        refused request leaves it unspent; one presented again after use revokes its grant."""
        scopes = scope.split() if scope is not None else None
        with self._lock:
            record = self._refresh_tokens.get(refresh_token)
            if record is None or record.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown or foreign refresh token")
            replayed = record.spent
            if not replayed and record.family not in self._revoked_families:
                if scopes is not None and not set(scopes) <= set(record.scopes):
                    raise OAuthError("invalid_scope", "a refresh cannot widen the scope of the grant")
                if not set(resources) <= set(record.resources):
                    raise OAuthError("invalid_target", "a refresh cannot move the grant to another resource")
            record.spent = True
        if replayed:
            self._revoke_family(record.family)
            raise OAuthError("invalid_grant", "refresh token already used: its grant is revoked")
        if record.family in self._revoked_families:
            raise OAuthError("invalid_grant", "refresh token revoked")
        scopes = list(record.scopes) if scopes is None else scopes
        answer = self._refreshable_answer(record, scopes, tuple(resources) or record.resources)
        with self._lock:
            self.token_requests.append(
                TokenRequest(
                    client.client_id, scope, tuple(resources), answer["scope"], REFRESH_TOKEN, record.subject
                )
            )
        return answer

    def _revoke_family(self, family: str) -> None:
        with self._lock:
            self._revoked_families.add(family)
            issued = list(self._family_access.get(family, ()))
        for token in issued:
            self._issuer.revoke(token)

    def exchange(
        self, client: RegisteredClient, fields: Mapping[str, str], targets: list[str]
    ) -> dict[str, Any]:
        """RFC 8693: a token for ``targets`` with the subject of the active ``subject_token``."""
        if fields.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", "subject_token_type must be an access token")
        if fields.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", "only access tokens are issued")
        if not targets:
            raise OAuthError("invalid_request", "audience or resource is required")
        with self._lock:
            permitted = set(client.exchange_audiences)
        if not set(targets) <= permitted:
            raise OAuthError("invalid_target", "this client may not exchange tokens for that audience")
        subject = self._issuer.introspection_answer(fields.get("subject_token", ""))
        if not subject.get("active") or subject.get("iss") != self._issuer.issuer:
            raise OAuthError("invalid_grant", "subject_token is not an active token of this issuer")
        scope = fields.get("scope")
        granted = self._granted_scopes(client, scope)
        lifetime = min(TOKEN_LIFETIME, float(subject["exp"]) - time.time())
        token = self._issuer.mint(
            subject=str(subject["sub"]),
            scopes=granted,
            audience=targets[0] if len(targets) == 1 else targets,
            expires_in=lifetime,
            claims={"client_id": client.client_id, "act": {"sub": client.client_id}},
        )
        with self._lock:
            self.token_requests.append(
                TokenRequest(
                    client.client_id,
                    scope,
                    tuple(targets),
                    " ".join(granted),
                    TOKEN_EXCHANGE,
                    str(subject["sub"]),
                )
            )
        return {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "scope": " ".join(granted),
        }

    def revoke(self, client: RegisteredClient, token: str) -> None:
        """RFC 7009 §2.1: a refresh token revokes its whole grant; an access token, itself.
        Unknown tokens are ignored; another client's token is refused."""
        with self._lock:
            record = self._refresh_tokens.get(token)
        if record is not None:
            if record.client_id != client.client_id:
                raise OAuthError("unauthorized_client", "the token was issued to another client")
            self._revoke_family(record.family)
        else:
            claims = self._issuer.introspection_answer(token)
            if claims.get("active") and claims.get("client_id") != client.client_id:
                raise OAuthError("unauthorized_client", "the token was issued to another client")
            self._issuer.revoke(token)
        with self._lock:
            self.revocations.append(token)

    def authenticate(self, authorization: str, form: dict[str, str]) -> RegisteredClient:
        """The client from HTTP Basic or from ``client_id`` / ``client_secret`` in the form."""
        scheme, _, value = authorization.partition(" ")
        posted = "client_secret" in form
        if scheme.lower() == "basic":
            if posted:
                raise OAuthError("invalid_request", "use one client authentication method")
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            client_id, secret = unquote(user), unquote(password)  # RFC 6749 §2.3.1 form-encoding
        elif posted:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            with self._lock:
                public = self._clients.get(form.get("client_id", ""))
            if public is None or not public.public:
                raise OAuthError("invalid_client", "client authentication required", 401)
            return public
        with self._lock:
            client = self._clients.get(client_id)
        expected = client.client_secret if client is not None else secrets.token_urlsafe(24)
        if not hmac.compare_digest(secret.encode(), expected.encode()) or client is None or client.public:
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
        return client

    # ------------------------------------------------------------------ HTTP
    async def _metadata(self, request: Request) -> Response:
        broken = await self._issuer.apply_fault(self._issuer.faults.metadata)
        return broken or JSONResponse(self.metadata())

    async def _openid_metadata(self, request: Request) -> Response:
        """The same document where OpenID Connect Discovery looks for it."""
        broken = await self._issuer.apply_fault(self._issuer.faults.openid_metadata)
        return broken or JSONResponse(self.metadata())

    async def _authorize(self, request: Request) -> Response:
        """Approve at once and redirect with a code; errors about the client or the redirect URI
        are answered here (never redirected to an unchecked URI), the others at the redirect."""
        query = request.query_params
        with self._lock:
            client = self._clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or AUTHORIZATION_CODE not in client.grant_types:
            return _oauth_error(
                OAuthError("unauthorized_client", "unknown client, or not allowed this grant")
            )
        if not is_loopback_redirect(redirect_uri):
            return _oauth_error(OAuthError("invalid_request", "redirect_uri must be an http loopback URI"))
        state = query.get("state")
        try:
            if query.get("response_type") != "code":
                raise OAuthError("unsupported_response_type", "only response_type=code is supported")
            challenge = query.get("code_challenge", "")
            if query.get("code_challenge_method") != "S256" or not challenge:
                raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
            resources = tuple(query.getlist("resource"))
            _check_resources(resources)
            scopes = tuple(self._granted_scopes(client, query.get("scope")))
        except OAuthError as exc:
            return _redirect(redirect_uri, {"error": exc.error, "error_description": exc.description}, state)
        record = IssuedCode(
            client.client_id,
            redirect_uri,
            challenge,
            self.approve_as,
            scopes,
            resources,
            time.time() + CODE_LIFETIME,
        )
        return _redirect(redirect_uri, {"code": self._codes.issue(record), "iss": self._issuer.issuer}, state)

    def redeem_code(self, client: RegisteredClient, fields: Mapping[str, str]) -> dict[str, Any]:
        """The token response for an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        try:
            record = self._codes.redeem(
                fields.get("code", ""),
                client_id=client.client_id,
                redirect_uri=fields.get("redirect_uri", ""),
                verifier=fields.get("code_verifier", ""),
                now=time.time(),
            )
        except CodeRefusedError as exc:
            raise OAuthError("invalid_grant", str(exc)) from None
        grant = _RefreshRecord(
            client.client_id, record.subject, record.scopes, record.resources, uuid.uuid4().hex
        )
        answer = self._refreshable_answer(grant, record.scopes, record.resources)
        if REFRESH_TOKEN not in client.grant_types:
            answer.pop("refresh_token")
        with self._lock:
            self.token_requests.append(
                TokenRequest(
                    client.client_id,
                    " ".join(record.scopes),
                    record.resources,
                    answer["scope"],
                    AUTHORIZATION_CODE,
                    record.subject,
                )
            )
        return answer

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        resources = [v for k, v in form.multi_items() if k == "resource" and isinstance(v, str)]
        try:
            client = self.authenticate(request.headers.get("authorization", ""), fields)
            grant_type = fields.get("grant_type", "")
            if grant_type not in (CLIENT_CREDENTIALS, AUTHORIZATION_CODE, REFRESH_TOKEN, TOKEN_EXCHANGE):
                raise OAuthError(
                    "unsupported_grant_type",
                    f"supported: {CLIENT_CREDENTIALS}, {AUTHORIZATION_CODE}, {REFRESH_TOKEN}, token exchange",
                )
            if grant_type not in client.grant_types:
                raise OAuthError("unauthorized_client", "this client may not use this grant")
            if grant_type == CLIENT_CREDENTIALS:
                answer = self.grant(client, fields.get("scope"), resources)
            elif grant_type == AUTHORIZATION_CODE:
                answer = self.redeem_code(client, fields)
            elif grant_type == REFRESH_TOKEN:
                answer = self.refresh(client, fields.get("refresh_token", ""), fields.get("scope"), resources)
            else:
                audiences = [v for k, v in form.multi_items() if k == "audience" and isinstance(v, str)]
                answer = self.exchange(client, fields, [*audiences, *resources])
        except OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _revoke(self, request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        try:
            client = self.authenticate(request.headers.get("authorization", ""), fields)
            token = fields.get("token", "")
            if not token:
                raise OAuthError("invalid_request", "token is required")
            self.revoke(client, token)
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(status_code=200)


def _check_resources(resources: Iterable[str]) -> None:
    """RFC 8707 §2: each ``resource`` an absolute URI without a fragment."""
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise OAuthError("invalid_target", "resource must be an absolute URI without a fragment")


def _redirect(redirect_uri: str, params: Mapping[str, str], state: str | None) -> Response:
    """A 302 to ``redirect_uri`` with ``params`` (and ``state``) added to its query."""
    query = urlencode({**params, **({"state": state} if state is not None else {})})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)


def _oauth_error(exc: OAuthError) -> Response:
    headers = {"WWW-Authenticate": "Basic"} if exc.status == 401 else {}
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status, headers={**headers, "Cache-Control": "no-store"})
