"""The local issuer's authorization-server face: RFC 8414 metadata and a ``client_credentials``
token endpoint, so that real OAuth clients (the ``mcp`` SDK's provider among them) can go the
whole way from our 401 to a token, and from our 403 to a token with more scope.

Each registered client has the scopes it may be granted. A token request gets the requested
scopes it may have (all of them when it asks for none; RFC 6749 §3.3 lets a server grant less
than asked), and its RFC 8707 ``resource`` becomes the token's ``aud``. Widening a client's
scopes with `AuthorizationServer.allow` plays the part of an administrator's approval, which
is what turns a step-up request into a broader token.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from .issuer import LocalIssuer

METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_METADATA_PATH = "/.well-known/openid-configuration"
TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Lifetime of the access tokens the endpoint issues, in seconds.
TOKEN_LIFETIME = 300


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str = field(repr=False)
    #: Scopes this client may be granted.
    scopes: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class TokenRequest:
    """What a client asked the token endpoint for (never its secret), for tests to inspect."""

    client_id: str
    scope: str | None
    resources: tuple[str, ...]
    granted: str


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class AuthorizationServer:
    """RFC 8414 metadata and a ``client_credentials`` token endpoint for ``issuer``."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self._issuer = issuer
        self._lock = threading.Lock()
        self._clients: dict[str, RegisteredClient] = {}
        #: Every token request answered with a token, oldest first.
        self.token_requests: list[TokenRequest] = []

    def reset(self) -> None:
        """Back to a fresh server's state: no registered clients, no token requests."""
        with self._lock:
            self._clients = {}
            self.token_requests = []

    def routes(self) -> list[BaseRoute]:
        return [
            Route(METADATA_PATH, self._metadata, methods=["GET"]),
            Route(OPENID_METADATA_PATH, self._openid_metadata, methods=["GET"]),
            Route(TOKEN_PATH, self._token, methods=["POST"]),
            Route(AUTHORIZE_PATH, self._authorize, methods=["GET", "POST"]),
        ]

    @property
    def token_endpoint(self) -> str:
        return f"{self._issuer.url}{TOKEN_PATH}"

    def register_client(
        self, client_id: str, *, scopes: Iterable[str] = (), client_secret: str | None = None
    ) -> RegisteredClient:
        """Register (or replace) a confidential client allowed ``scopes``."""
        client = RegisteredClient(client_id, client_secret or secrets.token_urlsafe(24), set(scopes))
        with self._lock:
            self._clients[client_id] = client
        return client

    def allow(self, client_id: str, scopes: Iterable[str]) -> None:
        """Let ``client_id`` be granted ``scopes`` too, as an administrator's approval would."""
        with self._lock:
            self._clients[client_id].scopes.update(scopes)

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 document. Only the client-credentials grant is offered, so no response
        types; the authorization endpoint exists because RFC 8414 (and the SDK) require one."""
        base = self._issuer.url
        with self._lock:
            scopes = sorted({s for c in self._clients.values() for s in c.scopes})
        document: dict[str, Any] = {
            "issuer": self._issuer.issuer,
            "authorization_endpoint": f"{base}{AUTHORIZE_PATH}",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self._issuer.jwks_url,
            "introspection_endpoint": self._issuer.introspection_url,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        }
        if scopes:
            document["scopes_supported"] = scopes
        return document

    def grant(self, client: RegisteredClient, scope: str | None, resources: Iterable[str]) -> dict[str, Any]:
        """The token response for an authenticated ``client`` (raises `OAuthError`)."""
        audience = list(resources)
        for resource in audience:
            parts = urlsplit(resource)
            if not parts.scheme or not parts.netloc or parts.fragment:
                raise OAuthError("invalid_target", "resource must be an absolute URI without a fragment")
        with self._lock:
            allowed = set(client.scopes)
        requested = scope.split() if scope is not None else sorted(allowed)
        granted = [s for s in dict.fromkeys(requested) if s in allowed]
        if requested and not granted:
            raise OAuthError("invalid_scope", "none of the requested scopes may be granted to this client")
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
            raise OAuthError("invalid_client", "client authentication required", 401)
        with self._lock:
            client = self._clients.get(client_id)
        expected = client.client_secret if client is not None else secrets.token_urlsafe(24)
        if not hmac.compare_digest(secret.encode(), expected.encode()) or client is None:
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
        return JSONResponse(
            {"error": "unsupported_response_type", "error_description": "only client_credentials is offered"},
            status_code=400,
        )

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        try:
            client = self.authenticate(request.headers.get("authorization", ""), fields)
            if fields.get("grant_type") != "client_credentials":
                raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
            resources = [v for k, v in form.multi_items() if k == "resource" and isinstance(v, str)]
            answer = self.grant(client, fields.get("scope"), resources)
        except OAuthError as exc:
            headers = {"WWW-Authenticate": "Basic"} if exc.status == 401 else {}
            body = {"error": exc.error, "error_description": exc.description}
            return JSONResponse(
                body, status_code=exc.status, headers={**headers, "Cache-Control": "no-store"}
            )
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
