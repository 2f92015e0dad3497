"""Where roles, groups and permissions sit in a token's claims, and how they are read (pure).

Issuers put them in different places (Keycloak: ``realm_access.roles``), so each is found by
a dotted path (`ClaimPaths`). Whatever a token carries there is hostile: values of the wrong
shape are ignored, never guessed at, so a malformed claim can only grant less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The action of a permission that grants every action on its resource.
ANY_ACTION = "*"


@dataclass(frozen=True)
class ClaimPaths:
    """Dotted claim paths (``a.b`` is ``claims["a"]["b"]``) of what RBAC checks read."""

    roles: str = "roles"
    groups: str = "groups"
    permissions: str = "permissions"
    #: A list of ``{"scope_type", "scope_id", "permissions": [...]}`` objects.
    scoped_permissions: str = "scoped_permissions"


DEFAULT_CLAIM_PATHS = ClaimPaths()


def claim_path_problem(name: str, path: object) -> str | None:
    """Why ``path`` cannot be a dotted claim path, or None."""
    if not isinstance(path, str) or not path:
        return f"{name} must be a non-empty dotted claim path, got {path!r}"
    if any(not part or part != part.strip() or not part.isprintable() for part in path.split(".")):
        return f"{name} must be names joined by single dots, without spaces, got {path!r}"
    return None


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``, or None when any step is missing or not an object."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def strings_at(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    """The non-empty strings at ``path``: a list of them, or one space-delimited string."""
    return _strings(claim_at(claims, path))


def parse_permission(permission: str) -> tuple[str, str] | None:
    """``resource:action`` as its two halves (split at the last colon), or None if malformed."""
    resource, colon, action = permission.rpartition(":")
    if not colon or not resource or not action:
        return None
    return resource, action


def permissions_at(claims: Mapping[str, Any], path: str) -> frozenset[tuple[str, str]]:
    """The well-formed ``resource:action`` pairs at ``path``; malformed entries are dropped."""
    return _permissions(claim_at(claims, path))


def scoped_permissions_at(
    claims: Mapping[str, Any], path: str
) -> Mapping[tuple[str, str], frozenset[tuple[str, str]]]:
    """``(scope_type, scope_id)`` -> permissions granted there; malformed entries are dropped."""
    entries = claim_at(claims, path)
    found: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
    if not isinstance(entries, list):
        return found
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        scope_type, scope_id = entry.get("scope_type"), entry.get("scope_id")
        if not (isinstance(scope_type, str) and scope_type and isinstance(scope_id, str) and scope_id):
            continue
        key = (scope_type, scope_id)
        found[key] = found.get(key, frozenset()) | _permissions(entry.get("permissions"))
    return found


def grants(held: frozenset[tuple[str, str]], resource: str, action: str) -> bool:
    """Whether ``held`` allows ``action`` on ``resource``: exactly, or by ``resource:*``."""
    return (resource, action) in held or (resource, ANY_ACTION) in held


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(s for s in value if isinstance(s, str) and s)
    return frozenset()


def _permissions(value: Any) -> frozenset[tuple[str, str]]:
    return frozenset(pair for s in _strings(value) if (pair := parse_permission(s)) is not None)
