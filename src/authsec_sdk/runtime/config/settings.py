"""`Config` and its mode enums: everything the runtime needs, checked once by `validate()`."""

from __future__ import annotations

import enum
import importlib.util
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..claim_paths import ClaimPaths, claim_path_problem
from ..shared.limits import parse_rate_limits

if TYPE_CHECKING:
    from ..manifest_tool import ManifestTool

logger = logging.getLogger("authsec.config")

#: Asymmetric JWS algorithms the runtime can verify. HMAC and ``none`` are never accepted:
#: a resource server must not hold a secret that could also mint tokens (RFC 8725 §3.1-3.2).
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

_SHARED_CACHE_SCHEMES = frozenset({"redis", "rediss", "unix"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: RFC 3986 §2: unreserved, reserved and ``%`` (for percent-encoding); nothing else.
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")

ToolInventory = Sequence["ManifestTool | Mapping[str, Any]"]
ToolInventoryProvider = Callable[[], "ToolInventory | Awaitable[ToolInventory]"]


class PolicyMode(enum.StrEnum):
    """Where the tool-to-scope mapping comes from."""

    UNSET = ""
    REMOTE_REQUIRED = "remote_required"
    REMOTE_WITH_LOCAL_FALLBACK = "remote_with_local_fallback"
    LOCAL_ONLY = "local_only"
    OPEN = "open"


class ValidationMode(enum.StrEnum):
    """How each bearer token is verified."""

    UNSET = ""
    JWT_AND_INTROSPECT = "jwt_and_introspect"
    JWT_ONLY = "jwt_only"
    INTROSPECTION_ONLY = "introspection_only"
    JWT_OR_INTROSPECT = "jwt_or_introspect"


#: The validation modes that verify JWTs locally, and those that ask the issuer.
_NEEDS_JWKS = frozenset(
    {ValidationMode.JWT_ONLY, ValidationMode.JWT_OR_INTROSPECT, ValidationMode.JWT_AND_INTROSPECT}
)
_NEEDS_INTROSPECTION = frozenset(
    {ValidationMode.INTROSPECTION_ONLY, ValidationMode.JWT_OR_INTROSPECT, ValidationMode.JWT_AND_INTROSPECT}
)


@dataclass(frozen=True)
class Config:
    """Settings for one protected MCP endpoint.

    Frozen so that a running runtime can never see its settings change under it; use
    `dataclasses.replace` to derive a variant. Secrets are excluded from ``repr``.
    """

    issuer: str = ""
    authorization_server: str = ""
    jwks_url: str = ""
    introspection_url: str = ""
    introspection_client_id: str = ""
    introspection_client_secret: str = field(default="", repr=False)
    resource_server_id: str = ""
    resource_uri: str = ""
    resource_name: str = ""
    supported_scopes: Sequence[str] = ()
    policy_mode: PolicyMode = PolicyMode.UNSET
    validation_mode: ValidationMode = ValidationMode.UNSET
    publish_manifest: bool = False
    #: Local enforcement map: tool name -> scopes, any one of which allows the call.
    #: An empty list makes the tool public; a tool not listed is denied.
    tool_scopes: Mapping[str, Sequence[str]] | None = None
    tool_inventory_provider: ToolInventoryProvider | None = field(default=None, repr=False)
    tool_scope_suggestions: Mapping[str, Sequence[str]] | None = None
    scope_matrix_ttl: float = 300.0

    # Our additions; each has a safe default.
    #: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    clock_leeway: float = 60.0
    #: JWS algorithms accepted; a subset of `SUPPORTED_ALGORITHMS`.
    allowed_algorithms: Sequence[str] = ("RS256", "PS256", "ES256", "EdDSA")
    #: Further audience values accepted besides ``resource_uri``.
    audience_aliases: Sequence[str] = ()
    #: Require RFC 9068 access tokens: ``typ`` of ``at+jwt`` and its required claims.
    strict_rfc9068: bool = False
    #: Largest request body read for inspection; larger bodies get 413.
    max_body_bytes: int = 4 * 1024 * 1024
    #: Verified tokens kept in memory (never past their ``exp``).
    token_cache_size: int = 10_000
    #: Seconds an introspection answer may be reused; 0 asks the issuer on every request.
    introspection_cache_ttl: float = 0.0
    #: Seconds an inactive introspection answer is remembered (never an outage), so a flood
    #: of one revoked token costs one call per window; 0 asks every time.
    introspection_negative_ttl: float = 5.0
    #: Timeout in seconds for every call to the issuer and the AuthSec backend.
    http_timeout: float = 5.0
    #: Seconds a fetched JWKS is trusted before it is fetched again.
    jwks_cache_ttl: float = 3600.0
    #: Minimum seconds between JWKS fetches triggered by an unknown ``kid``.
    jwks_refetch_cooldown: float = 5.0
    #: Seconds the last good remote scope matrix may be served after fetches start failing.
    policy_max_staleness: float = 3600.0
    #: Browser origins allowed to call the endpoint; a request with another ``Origin`` gets
    #: 403 (DNS-rebinding defence). Empty: no check. Requests without ``Origin`` always pass.
    allowed_origins: Sequence[str] = ()
    #: Drop from ``tools/list`` answers the tools the caller may not call.
    filter_tools_list: bool = True
    #: End a request still streaming when its token's ``exp`` passes.
    close_streams_on_token_expiry: bool = False
    #: MCP sessions whose owner is remembered; past it the oldest are forgotten (then 404).
    max_tracked_sessions: int = 10_000
    #: Scopes a 401 challenge asks for when the request is not a ``tools/call`` whose tools
    #: are known from its headers. Empty: the challenge names no scope (least privilege).
    baseline_scopes: Sequence[str] = ()
    #: Seconds an authenticated request may take to deliver its body; past it, 408.
    body_read_timeout: float = 30.0
    #: Read ``jwks_url`` and ``introspection_url`` from the issuer's RFC 8414 / OpenID
    #: metadata at startup when they are not configured; its ``issuer`` must equal ours.
    discover_endpoints: bool = False
    #: Dotted claim paths the RBAC checks read (e.g. ``realm_access.roles`` for Keycloak).
    roles_claim: str = "roles"
    groups_claim: str = "groups"
    permissions_claim: str = "permissions"
    #: A list of ``{"scope_type", "scope_id", "permissions": [...]}`` objects.
    scoped_permissions_claim: str = "scoped_permissions"
    #: ``redis://``, ``rediss://`` or ``unix://`` URL of a Redis (or Valkey) shared by every
    #: worker and replica (extra ``redis``); empty: each process keeps its own state. May hold
    #: a password, so it is kept out of ``repr``.
    shared_cache_url: str = field(default="", repr=False)
    #: Per-caller limits on ``tools/call``: ``{"*": "120/minute", "delete_repo": "5/hour"}``.
    rate_limits: Mapping[str, str] | None = None
    #: What rate-limited calls get while the shared store is unavailable: "deny" (503) or "allow".
    rate_limit_on_store_error: str = "deny"

    # ------------------------------------------------------------------ derived values
    @property
    def effective_policy_mode(self) -> PolicyMode:
        """The policy mode after the seed's inference rules for `PolicyMode.UNSET`."""
        if self.policy_mode is not PolicyMode.UNSET:
            return self.policy_mode
        if self.resource_server_id:
            return PolicyMode.REMOTE_REQUIRED
        if self.tool_scopes is not None:
            return PolicyMode.LOCAL_ONLY
        return PolicyMode.OPEN

    @property
    def effective_validation_mode(self) -> ValidationMode:
        """The validation mode after inference: the strictest one the configured URLs allow."""
        if self.validation_mode is not ValidationMode.UNSET:
            return self.validation_mode
        if self.jwks_url and self.introspection_url:
            return ValidationMode.JWT_AND_INTROSPECT
        if self.jwks_url:
            return ValidationMode.JWT_ONLY
        if self.introspection_url:
            return ValidationMode.INTROSPECTION_ONLY
        return ValidationMode.UNSET

    @property
    def introspects(self) -> bool:
        """Whether validation asks the introspection endpoint (every mode but JWT_ONLY and unset)."""
        return self.effective_validation_mode not in (ValidationMode.JWT_ONLY, ValidationMode.UNSET)

    @property
    def effective_authorization_server(self) -> str:
        """The authorization server advertised and used for the backend; the issuer when unset."""
        return self.authorization_server or self.issuer

    @property
    def accepted_audiences(self) -> frozenset[str]:
        return frozenset((self.resource_uri, *self.audience_aliases))

    @property
    def claim_paths(self) -> ClaimPaths:
        return ClaimPaths(
            roles=self.roles_claim,
            groups=self.groups_claim,
            permissions=self.permissions_claim,
            scoped_permissions=self.scoped_permissions_claim,
        )

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise `ValueError` naming the first unusable setting.

        Called by `mount_mcp`, so a misconfigured app never starts serving.
        """
        problems = list(_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        if self.effective_policy_mode is PolicyMode.OPEN:
            logger.warning("policy mode OPEN: any valid token may call any tool; do not use in production")


def _problems(cfg: Config) -> Iterable[str]:
    yield from _url_problems(cfg)
    yield from _validation_problems(cfg)
    yield from _policy_problems(cfg)
    yield from _number_problems(cfg)
    bad_algs = sorted(set(cfg.allowed_algorithms) - SUPPORTED_ALGORITHMS)
    if bad_algs:
        yield (
            f"allowed_algorithms has unsupported values {bad_algs}; "
            f"choose from {sorted(SUPPORTED_ALGORITHMS)} (HMAC and 'none' are never accepted)"
        )
    if not cfg.allowed_algorithms:
        yield "allowed_algorithms must not be empty"
    for name in ("supported_scopes", "baseline_scopes"):
        if isinstance(getattr(cfg, name), str):
            yield f"{name} must be a list of scopes, not a string"
    yield from _transport_problems(cfg)
    for name in _CLAIM_PATH_FIELDS:
        problem = claim_path_problem(name, getattr(cfg, name))
        if problem is not None:
            yield problem
    yield from _shared_problems(cfg)
    for name, mapping in (
        ("tool_scopes", cfg.tool_scopes),
        ("tool_scope_suggestions", cfg.tool_scope_suggestions),
    ):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            yield f"{name} must be a mapping of tool name to a list of scopes"
            continue
        for tool, scopes in mapping.items():
            if not isinstance(tool, str) or not tool:
                yield f"{name} has a tool name that is not a non-empty string: {tool!r}"
            if isinstance(scopes, str) or not all(isinstance(s, str) and s for s in scopes):
                yield f"{name}[{tool!r}] must be a list of non-empty scope strings"


_CLAIM_PATH_FIELDS = ("roles_claim", "groups_claim", "permissions_claim", "scoped_permissions_claim")


def _url_problems(cfg: Config) -> Iterable[str]:
    if not cfg.issuer:
        yield "issuer is required"
    if not cfg.resource_uri:
        yield "resource_uri is required (the externally reachable URL of the MCP endpoint)"
    else:
        yield from _resource_uri_problems(cfg.resource_uri)
    for name in ("issuer", "authorization_server", "jwks_url", "introspection_url"):
        value = getattr(cfg, name)
        if not value:
            continue
        problem = _uri_character_problem(name, value)
        if problem is None and not _is_http_url(value):
            problem = f"{name} must be an absolute http(s) URL, got {value!r}"
        if problem is not None:
            yield problem


def _uri_character_problem(name: str, value: str) -> str | None:
    """What makes ``value`` unfit to be written into a URL or a header as it is, if anything.

    Checked on the raw string: `urlsplit` silently drops tabs, CR, LF and surrounding
    spaces, so a value that parses cleanly could still carry them into a header.
    """
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        return f"{name} must not contain whitespace or control characters, got {value!r}"
    if '"' in value or "\\" in value:
        return f"{name} must not contain quotes or backslashes, got {value!r}"
    if not _URI_CHARACTERS.fullmatch(value):
        return (
            f"{name} may contain only URI characters (RFC 3986: percent-encode the path, "
            f"punycode the host), got {value!r}"
        )
    return None


def _resource_uri_problems(uri: str) -> Iterable[str]:
    problem = _uri_character_problem("resource_uri", uri)
    if problem is not None:
        yield problem
        return
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        yield f"resource_uri must be an absolute https URL, got {uri!r}"
        return
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        yield "resource_uri must use https (http is allowed only for localhost)"
    if parts.fragment or "#" in uri:
        yield "resource_uri must not contain a fragment"
    if parts.query:
        yield "resource_uri must not contain a query"
    if parts.username is not None or parts.password is not None:
        yield "resource_uri must not contain user information (user:password@)"
    try:
        _ = parts.port
    except ValueError:
        yield f"resource_uri has an invalid port, got {uri!r}"
    if uri != canonical_resource_uri(uri):
        yield (
            f"resource_uri must be canonical (lowercase scheme and host, no trailing slash): "
            f"use {canonical_resource_uri(uri)!r}"
        )


def canonical_resource_uri(uri: str) -> str:
    """RFC 8707 canonical form: lowercase scheme and host, no trailing slash on the path."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    host = parts.hostname or ""
    if host:
        start = netloc.lower().find(host)
        netloc = netloc[:start] + host + netloc[start + len(host) :]
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{netloc}{path}"


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def endpoints_to_discover(cfg: Config) -> tuple[str, ...]:
    """The URL fields endpoint discovery fills: the missing ones the validation mode will use.

    A mode left unset uses the keys, and introspection when its credentials are configured
    (the inference then picks the strictest mode the URLs allow).
    """
    if cfg.discover_endpoints is not True:
        return ()
    mode = cfg.validation_mode
    has_credentials = bool(cfg.introspection_client_id and cfg.introspection_client_secret)
    wanted = {
        "jwks_url": mode in _NEEDS_JWKS or mode is ValidationMode.UNSET,
        "introspection_url": mode in _NEEDS_INTROSPECTION
        or (mode is ValidationMode.UNSET and has_credentials),
    }
    return tuple(name for name, needed in wanted.items() if needed and not getattr(cfg, name))


def endpoint_problems(cfg: Config) -> list[str]:
    """The problems of the issuer URLs and the validation mode alone: all that endpoint
    discovery changes, so all that must be checked again once it has run."""
    return [*_url_problems(cfg), *_validation_problems(cfg)]


def _validation_problems(cfg: Config) -> Iterable[str]:
    """With ``discover_endpoints`` a missing URL is no problem yet: startup reads it from the
    issuer's metadata and checks again (`endpoint_problems`)."""
    mode = cfg.effective_validation_mode
    discovering = cfg.discover_endpoints is True
    if mode is ValidationMode.UNSET and not discovering:
        yield "jwks_url or introspection_url is required to validate tokens"
        return
    if mode in _NEEDS_JWKS and not cfg.jwks_url and not discovering:
        yield f"validation mode {mode.name} requires jwks_url"
    if mode in _NEEDS_INTROSPECTION and not cfg.introspection_url and not discovering:
        yield f"validation mode {mode.name} requires introspection_url"
    will_introspect = cfg.introspection_url or (discovering and mode in _NEEDS_INTROSPECTION)
    if will_introspect and not (cfg.introspection_client_id and cfg.introspection_client_secret):
        yield "introspection client credentials are required"


def _policy_problems(cfg: Config) -> Iterable[str]:
    mode = cfg.effective_policy_mode
    if mode in (PolicyMode.REMOTE_REQUIRED, PolicyMode.REMOTE_WITH_LOCAL_FALLBACK):
        if not cfg.resource_server_id:
            yield f"policy mode {mode.name} requires resource_server_id"
        if not (cfg.introspection_client_id and cfg.introspection_client_secret):
            yield (
                f"policy mode {mode.name} requires introspection_client_id and "
                "introspection_client_secret (the backend's Basic credentials)"
            )
    if mode in (PolicyMode.REMOTE_WITH_LOCAL_FALLBACK, PolicyMode.LOCAL_ONLY) and cfg.tool_scopes is None:
        yield f"policy mode {mode.name} requires tool_scopes"
    if cfg.publish_manifest and not (
        cfg.resource_server_id and cfg.introspection_client_id and cfg.introspection_client_secret
    ):
        yield "publish_manifest requires resource_server_id and the introspection client credentials"


def _transport_problems(cfg: Config) -> Iterable[str]:
    if isinstance(cfg.allowed_origins, str):
        yield "allowed_origins must be a list of origins, not a string"
    else:
        for origin in cfg.allowed_origins:
            if not isinstance(origin, str) or origin != _origin_of(origin):
                yield f"allowed_origins entries must look like 'https://host[:port]', got {origin!r}"
    for name in ("filter_tools_list", "close_streams_on_token_expiry", "discover_endpoints"):
        if not isinstance(getattr(cfg, name), bool):
            yield f"{name} must be True or False"


def _shared_problems(cfg: Config) -> Iterable[str]:
    url = cfg.shared_cache_url
    if not isinstance(url, str):
        yield "shared_cache_url must be a string"
    elif url:
        scheme = urlsplit(url).scheme
        if scheme not in _SHARED_CACHE_SCHEMES:
            # The URL may carry a password: name its scheme only.
            yield f"shared_cache_url must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}"
        elif importlib.util.find_spec("redis") is None:
            yield "shared_cache_url needs the redis client: install authsec-sdk[redis]"
    if cfg.rate_limits is not None:
        try:
            parse_rate_limits(cfg.rate_limits)
        except ValueError as exc:
            yield f"rate_limits {exc}"
    if cfg.rate_limit_on_store_error not in ("allow", "deny"):
        yield f"rate_limit_on_store_error must be 'allow' or 'deny', got {cfg.rate_limit_on_store_error!r}"


def _origin_of(value: str) -> str:
    """``value`` as a browser would send it in ``Origin``: lowercase scheme and host, no path."""
    parts = urlsplit(value)
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port that is not a number
        return ""
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def _number_problems(cfg: Config) -> Iterable[str]:
    positive = (
        "scope_matrix_ttl",
        "max_body_bytes",
        "token_cache_size",
        "http_timeout",
        "jwks_cache_ttl",
        "policy_max_staleness",
        "max_tracked_sessions",
        "body_read_timeout",
    )
    for name in positive:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            yield f"{name} must be a positive number, got {value!r}"
    for name in (
        "clock_leeway",
        "introspection_cache_ttl",
        "introspection_negative_ttl",
        "jwks_refetch_cooldown",
    ):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            yield f"{name} must be zero or a positive number, got {value!r}"
    if isinstance(cfg.clock_leeway, (int, float)) and cfg.clock_leeway > 300:
        yield "clock_leeway must be at most 300 seconds"
