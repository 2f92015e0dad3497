"""A small, real OAuth issuer for development, the demo and tests.

It generates signing keys, serves them as a JWKS, answers RFC 7662 introspection behind
HTTP Basic, mints JWT and opaque access tokens with chosen claims, and can revoke tokens
and rotate keys. Everything goes over real HTTP on 127.0.0.1, so the runtime under test
talks to it exactly as it would to a production issuer.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..runtime.config import Config
from .authorization import AuthorizationServer
from .backend import LocalBackend
from .server import ServerThread

#: "http_400" answers ``400 invalid_request``; "invalid_client" answers ``400 invalid_client``,
#: as some servers refuse bad client credentials instead of RFC 7662's 401.
Fault = Literal["down", "slow", "http_500", "malformed", "http_400", "invalid_client"]

#: How long a "slow" endpoint waits before answering: longer than any sane client timeout.
SLOW_SECONDS = 3.0


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any
    published: bool = True

    def public_jwk(self) -> dict[str, Any]:
        impl: Any = {"EdDSA": OKPAlgorithm}.get(
            self.algorithm, RSAAlgorithm if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm
        )
        jwk: dict[str, Any] = json.loads(impl.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return jwk


def generate_key(algorithm: str = "RS256", kid: str | None = None, *, key_size: int = 2048) -> SigningKey:
    """A fresh signing key for ``algorithm`` (RS*, PS*, ES256 or EdDSA); ``key_size`` is for RSA only,
    so tests can make keys too weak to be accepted."""
    if algorithm.startswith(("RS", "PS")):
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    return SigningKey(kid=kid or uuid.uuid4().hex[:16], algorithm=algorithm, private_key=private)


@dataclass
class Faults:
    """Switches that make an endpoint misbehave, for failure tests. None means healthy."""

    jwks: Fault | None = None
    introspection: Fault | None = None
    #: The RFC 8414 and the OpenID Connect metadata documents.
    metadata: Fault | None = None
    openid_metadata: Fault | None = None


@dataclass
class _TokenRecord:
    claims: dict[str, Any]
    revoked: bool = False


@dataclass
class Counters:
    """How often each endpoint was hit: lets tests prove caching and rate limits."""

    jwks: int = 0
    introspection: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    #: The ``User-Agent`` of each introspection request: which HTTP client made it.
    introspection_clients: list[str] = field(default_factory=list)


class LocalIssuer:
    """A local authorization server. Use as a context manager, or call `start` / `stop`.

    ``client_id`` / ``client_secret`` are the introspection (and backend) credentials the
    protected resource must present.
    """

    def __init__(
        self,
        *,
        client_id: str = "local-resource-server",
        client_secret: str | None = None,
        algorithm: str = "RS256",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self._initial_secret = self.client_secret
        self.faults = Faults()
        #: False makes introspection answer JWTs with ``400 unsupported_token_type``, as
        #: issuers that introspect only their opaque tokens do (oidc-provider, for one).
        self.introspects_jwts = True
        #: Seconds the introspection endpoint takes to answer (a realistic, not failing, delay).
        self.introspection_delay = 0.0
        self.counters = Counters()
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = [generate_key(algorithm)]
        self._first_key = self._keys[0]
        #: Bumped by `stop` and `reset`: "slow" answers waiting since then end at once.
        self._slow_generation = 0
        self._extra_jwks: list[dict[str, Any]] = []
        self._tokens: dict[str, _TokenRecord] = {}
        self._server: ServerThread | None = None
        #: The AuthSec backend's SDK endpoints (policy and manifest), served on the same port.
        self.backend = LocalBackend(self)
        #: RFC 8414 metadata and the client-credentials token endpoint, on the same port.
        self.authorization = AuthorizationServer(self)
        self.app = Starlette(routes=self.routes())
        self._url = ""

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[BaseRoute]:
        """The issuer's HTTP routes; subclasses add theirs."""
        return [
            Route("/oauth/jwks", self._jwks, methods=["GET"]),
            Route("/oauth/introspect", self._introspect, methods=["POST"]),
            *self.backend.routes(),
            *self.authorization.routes(),
        ]

    def start(self) -> LocalIssuer:
        self._server = ServerThread(self.app).start()
        self._url = self._server.url
        return self

    def stop(self) -> None:
        self._slow_generation += 1
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the state of a fresh issuer, still serving on the same URL: healthy, zero
        counters, no tokens, only its first signing key (published again), no extra JWKs, the
        original client secret, no monkeypatched methods, the backend's defaults
        (`LocalBackend.reset`) and no registered clients. "slow" answers still pending end now.
        Lets one running issuer serve many tests."""
        self._slow_generation += 1
        for name in list(vars(self)):
            if callable(getattr(type(self), name, None)):
                delattr(self, name)  # a test's replacement for a method
        self.faults = Faults()
        self.introspects_jwts = True
        self.introspection_delay = 0.0
        self.counters = Counters()
        self.client_secret = self._initial_secret
        first = self._first_key
        with self._lock:
            self._keys = [SigningKey(first.kid, first.algorithm, first.private_key)]
            self._extra_jwks = []
            self._tokens = {}
        self.backend.reset()
        self.authorization.reset()

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("the issuer is not started")
        return self._url

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/oauth/jwks"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/oauth/introspect"

    def config_values(self) -> dict[str, str]:
        """The `Config` fields that point at this issuer."""
        return {
            "issuer": self.issuer,
            "authorization_server": self.issuer,
            "jwks_url": self.jwks_url,
            "introspection_url": self.introspection_url,
            "introspection_client_id": self.client_id,
            "introspection_client_secret": self.client_secret,
        }

    def config(self, **fields: Any) -> Config:
        """A `Config` pointing at this issuer, with ``fields`` (e.g. ``resource_uri``) set too."""
        return Config(**{**self.config_values(), **fields})

    # ------------------------------------------------------------------ keys
    @property
    def current_key(self) -> SigningKey:
        return self._keys[-1]

    def rotate_keys(self, *, keep_old: bool = True, algorithm: str | None = None) -> SigningKey:
        """Add a new signing key (used for new tokens). ``keep_old=False`` unpublishes the others."""
        new = generate_key(algorithm or self.current_key.algorithm)
        with self._lock:
            if not keep_old:
                for key in self._keys:
                    key.published = False
            self._keys.append(new)
        return new

    def publish_jwk(self, jwk: Mapping[str, Any]) -> None:
        """Publish ``jwk`` as it is in the JWKS, next to the issuer's own keys: for tests of keys
        a resource server must refuse (weak, symmetric, on the wrong curve)."""
        with self._lock:
            self._extra_jwks.append(dict(jwk))

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [*(k.public_jwk() for k in self._keys if k.published), *self._extra_jwks]}

    # ------------------------------------------------------------------ tokens
    def mint(
        self,
        *,
        subject: str = "user-1",
        scopes: Iterable[str] = (),
        audience: str | Sequence[str] | None = None,
        expires_in: float = 300,
        issuer: str | None = None,
        claims: Mapping[str, Any] | None = None,
        typ: str | None = "at+jwt",
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        omit: Iterable[str] = (),
    ) -> str:
        """A signed JWT access token. ``omit`` drops standard claims, for negative tests."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "exp": int(now + expires_in),
            "iat": now,
            "jti": uuid.uuid4().hex,
            "client_id": "local-client",
        }
        if audience is not None:
            body["aud"] = audience if isinstance(audience, str) else list(audience)
        scope_list = list(scopes)
        if scope_list:
            body["scope"] = " ".join(scope_list)
        body.update(claims or {})
        for name in omit:
            body.pop(name, None)
        signer = key or self.current_key
        header: dict[str, Any] = {"kid": signer.kid}
        if typ is not None:
            header["typ"] = typ
        header.update(headers or {})
        token = jwt.encode(body, signer.private_key, algorithm=signer.algorithm, headers=header)
        with self._lock:
            self._tokens[token] = _TokenRecord(claims=body)
        return token

    def mint_opaque(
        self,
        *,
        subject: str = "user-1",
        scopes: Iterable[str] = (),
        audience: str | Sequence[str] | None = None,
        expires_in: float = 300,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A random token only introspection can explain."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        # ``exp`` stays exact (RFC 7662 allows any NumericDate): truncated to whole seconds, a
        # token minted with expires_in=1 could be inactive at once, or outlive a test's wait.
        body: dict[str, Any] = {"iss": self.issuer, "sub": subject, "exp": now + expires_in, "iat": int(now)}
        if audience is not None:
            body["aud"] = audience
        scope_list = list(scopes)
        if scope_list:
            body["scope"] = " ".join(scope_list)
        body.update(claims or {})
        with self._lock:
            self._tokens[token] = _TokenRecord(claims=body)
        return token

    def revoke(self, token: str) -> None:
        """Introspection answers ``active: false`` for ``token`` from now on."""
        with self._lock:
            record = self._tokens.get(token)
            if record is not None:
                record.revoked = True

    def introspection_answer(self, token: str) -> dict[str, Any]:
        """What the introspection endpoint says about ``token`` (RFC 7662 §2.2)."""
        with self._lock:
            record = self._tokens.get(token)
        if record is None or record.revoked or record.claims.get("exp", 0) <= time.time():
            return {"active": False}
        answer = {"active": True, "token_type": "Bearer", **record.claims}
        return answer

    # ------------------------------------------------------------------ HTTP
    def check_basic_auth(self, request: Request) -> bool:
        """True when the request carries this issuer's client credentials."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.client_id) & hmac.compare_digest(password, self.client_secret)

    async def apply_fault(self, fault: Fault | None) -> Response | None:
        """The broken answer for ``fault``, or None to answer normally."""
        if fault is None:
            return None
        if fault == "slow":
            # Wait SLOW_SECONDS, or less when the issuer stops or is reset meanwhile, so that
            # no test's teardown waits for a hanging answer nobody reads any more.
            generation = self._slow_generation
            deadline = time.monotonic() + SLOW_SECONDS
            # polled: `stop` and `reset` run on other threads than this loop's
            while self._slow_generation == generation and time.monotonic() < deadline:  # noqa: ASYNC110
                await anyio.sleep(min(0.02, max(deadline - time.monotonic(), 0)))
            return None
        if fault == "down":
            return Response(status_code=503)
        if fault == "http_500":
            return Response("internal error", status_code=500)
        if fault in ("http_400", "invalid_client"):
            error = "invalid_request" if fault == "http_400" else "invalid_client"
            return JSONResponse({"error": error}, status_code=400)
        return Response("{not json", media_type="application/json")

    async def _jwks(self, request: Request) -> Response:
        self.counters.jwks += 1
        broken = await self.apply_fault(self.faults.jwks)
        return broken or JSONResponse(self.jwks())

    async def _introspect(self, request: Request) -> Response:
        self.counters.introspection += 1
        self.counters.introspection_clients.append(request.headers.get("user-agent", ""))
        await anyio.sleep(self.introspection_delay)
        broken = await self.apply_fault(self.faults.introspection)
        if broken is not None:
            return broken
        if not self.check_basic_auth(request):
            return JSONResponse(
                {"error": "invalid_client"}, status_code=401, headers={"WWW-Authenticate": "Basic"}
            )
        form = await request.form()
        token = form.get("token")
        if not isinstance(token, str) or not token:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if not self.introspects_jwts and token.count(".") == 2:
            return JSONResponse({"error": "unsupported_token_type"}, status_code=400)
        return JSONResponse(self.introspection_answer(token))
