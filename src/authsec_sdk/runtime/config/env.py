"""`from_env()`: a `Config` from ``AUTHSEC_*`` variables, for containers.

A variable that is present but unusable raises `ValueError` naming it; nothing falls back
silently to a default, because a typo in a security setting must not weaken it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from .settings import Config, PolicyMode, ValidationMode

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

#: Plain string variables and the `Config` field each fills.
_STRINGS: Mapping[str, str] = {
    "AUTHSEC_ISSUER": "issuer",
    "AUTHSEC_AUTHORIZATION_SERVER": "authorization_server",
    "AUTHSEC_JWKS_URL": "jwks_url",
    "AUTHSEC_INTROSPECTION_URL": "introspection_url",
    "AUTHSEC_INTROSPECTION_CLIENT_ID": "introspection_client_id",
    "AUTHSEC_INTROSPECTION_CLIENT_SECRET": "introspection_client_secret",
    "AUTHSEC_RESOURCE_URI": "resource_uri",
    "AUTHSEC_RESOURCE_NAME": "resource_name",
    "AUTHSEC_RESOURCE_SERVER_ID": "resource_server_id",
    "AUTHSEC_ROLES_CLAIM": "roles_claim",
    "AUTHSEC_GROUPS_CLAIM": "groups_claim",
    "AUTHSEC_PERMISSIONS_CLAIM": "permissions_claim",
    "AUTHSEC_SCOPED_PERMISSIONS_CLAIM": "scoped_permissions_claim",
    "AUTHSEC_SHARED_CACHE_URL": "shared_cache_url",
    "AUTHSEC_RATE_LIMIT_ON_STORE_ERROR": "rate_limit_on_store_error",
}


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def _scopes(raw: str) -> tuple[str, ...]:
    return tuple(raw.split())


def _number(raw: str) -> float:
    value = float(raw)
    if value != value:  # NaN
        raise ValueError("not a number")
    return value


def _integer(raw: str) -> int:
    return int(raw.strip())


def _tool_map(raw: str) -> dict[str, list[str]]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not all(
        isinstance(scopes, list) and all(isinstance(s, str) for s in scopes) for scopes in data.values()
    ):
        raise ValueError(
            'expected a JSON object of tool name to a list of scopes, e.g. {"echo": ["mcp:read"]}'
        )
    return data


def _rate_limits(raw: str) -> dict[str, str]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(limit, str) for limit in data.values()):
        raise ValueError('expected a JSON object of tool name (or "*") to a limit, e.g. {"*": "120/minute"}')
    return data


def _enum(kind: type[PolicyMode] | type[ValidationMode]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = raw.strip().lower()
        for member in kind:
            if member.value and member.value == value:
                return member
        choices = " | ".join(m.value for m in kind if m.value)
        raise ValueError(f"expected one of {choices}")

    return parse


#: Typed variables: name -> (Config field, parser).
_TYPED: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "AUTHSEC_SUPPORTED_SCOPES": ("supported_scopes", _scopes),
    "AUTHSEC_POLICY_MODE": ("policy_mode", _enum(PolicyMode)),
    "AUTHSEC_VALIDATION_MODE": ("validation_mode", _enum(ValidationMode)),
    "AUTHSEC_PUBLISH_MANIFEST": ("publish_manifest", _boolean),
    "AUTHSEC_TOOL_SCOPES": ("tool_scopes", _tool_map),
    "AUTHSEC_TOOL_SCOPE_SUGGESTIONS": ("tool_scope_suggestions", _tool_map),
    "AUTHSEC_SCOPE_MATRIX_TTL": ("scope_matrix_ttl", _number),
    "AUTHSEC_AUDIENCE_ALIASES": ("audience_aliases", _scopes),
    "AUTHSEC_ALLOWED_ALGORITHMS": ("allowed_algorithms", _scopes),
    "AUTHSEC_STRICT_RFC9068": ("strict_rfc9068", _boolean),
    "AUTHSEC_CLOCK_LEEWAY": ("clock_leeway", _number),
    "AUTHSEC_MAX_BODY_BYTES": ("max_body_bytes", _integer),
    "AUTHSEC_HTTP_TIMEOUT": ("http_timeout", _number),
    "AUTHSEC_INTROSPECTION_CACHE_TTL": ("introspection_cache_ttl", _number),
    "AUTHSEC_INTROSPECTION_NEGATIVE_TTL": ("introspection_negative_ttl", _number),
    "AUTHSEC_POLICY_MAX_STALENESS": ("policy_max_staleness", _number),
    "AUTHSEC_ALLOWED_ORIGINS": ("allowed_origins", _scopes),
    "AUTHSEC_FILTER_TOOLS_LIST": ("filter_tools_list", _boolean),
    "AUTHSEC_CLOSE_STREAMS_ON_TOKEN_EXPIRY": ("close_streams_on_token_expiry", _boolean),
    "AUTHSEC_MAX_TRACKED_SESSIONS": ("max_tracked_sessions", _integer),
    "AUTHSEC_TOKEN_CACHE_SIZE": ("token_cache_size", _integer),
    "AUTHSEC_JWKS_CACHE_TTL": ("jwks_cache_ttl", _number),
    "AUTHSEC_JWKS_REFETCH_COOLDOWN": ("jwks_refetch_cooldown", _number),
    "AUTHSEC_BASELINE_SCOPES": ("baseline_scopes", _scopes),
    "AUTHSEC_BODY_READ_TIMEOUT": ("body_read_timeout", _number),
    "AUTHSEC_DISCOVER_ENDPOINTS": ("discover_endpoints", _boolean),
    "AUTHSEC_RATE_LIMITS": ("rate_limits", _rate_limits),
}


def from_env(environ: Mapping[str, str] | None = None) -> Config:
    """Build a `Config` from ``AUTHSEC_*`` variables (``os.environ`` unless given).

    Unset or empty variables leave the field at its default. Call ``cfg.validate()`` (or let
    `mount_mcp` do it) to check the combination.
    """
    env = os.environ if environ is None else environ
    fields: dict[str, Any] = {}
    for name, field_name in _STRINGS.items():
        raw = env.get(name, "").strip()
        if raw:
            fields[field_name] = raw
    for name, (field_name, parse) in _TYPED.items():
        raw = env.get(name, "")
        if not raw.strip():
            continue
        try:
            fields[field_name] = parse(raw)
        except ValueError as exc:
            raise ValueError(f"{name} has an invalid value: {exc}") from None
    return Config(**fields)
