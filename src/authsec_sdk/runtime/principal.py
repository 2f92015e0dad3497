"""The authenticated caller, as the handler sees it."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

from .claim_paths import (
    DEFAULT_CLAIM_PATHS,
    ClaimPaths,
    grants,
    permissions_at,
    scoped_permissions_at,
    strings_at,
)


class Claims(dict[str, Any]):
    """The token's raw claims: a real ``dict`` (``json.dumps`` works) that refuses changes.

    A principal is shared by every request that presents the same token, so a handler that
    changed the claims would change them for the token's next requests too.
    """

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("token claims are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


@dataclass(frozen=True)
class Principal:
    """Who made the request, from a token that passed validation."""

    subject: str
    issuer: str
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    claims: Claims = field(repr=False)
    active: bool = True
    #: When the token stops being valid (epoch seconds), when known.
    expires_at: float | None = None
    #: Where the RBAC helpers find roles, groups and permissions (from the `Config`).
    claim_paths: ClaimPaths = field(default=DEFAULT_CLAIM_PATHS, repr=False, compare=False)

    @property
    def client_id(self) -> str:
        """The OAuth client the token was issued to (``client_id``, else ``azp``), or ""."""
        value = self.claims.get("client_id") or self.claims.get("azp")
        return value if isinstance(value, str) else ""

    def has_any_scope(self, scopes: Iterable[str]) -> bool:
        """True when the token carries at least one of ``scopes``."""
        held = set(self.scopes)
        return any(s in held for s in scopes)

    # RBAC, read from the claims at `claim_paths`. Read once per principal: a principal is
    # shared by every request presenting the same token.
    @cached_property
    def roles(self) -> frozenset[str]:
        return strings_at(self.claims, self.claim_paths.roles)

    @cached_property
    def groups(self) -> frozenset[str]:
        return strings_at(self.claims, self.claim_paths.groups)

    @cached_property
    def permissions(self) -> frozenset[tuple[str, str]]:
        """Tenant-wide ``(resource, action)`` grants; ``action`` may be ``*``."""
        return permissions_at(self.claims, self.claim_paths.permissions)

    @cached_property
    def scoped_permissions(self) -> Mapping[tuple[str, str], frozenset[tuple[str, str]]]:
        """``(scope_type, scope_id)`` -> the ``(resource, action)`` grants held there."""
        return scoped_permissions_at(self.claims, self.claim_paths.scoped_permissions)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def in_group(self, group: str) -> bool:
        return group in self.groups

    def has_permission(self, resource: str, action: str) -> bool:
        """True for ``resource:action`` or ``resource:*`` among the tenant-wide permissions."""
        return grants(self.permissions, resource, action)

    def has_permission_scoped(self, resource: str, action: str, scope_type: str, scope_id: str) -> bool:
        """True when the permission is granted within that scope (a project, a sub-tenant).

        Only the scope's own grants count: a tenant-wide permission does not reach into a
        scope, so a scoped check never passes on a grant that was not made for it.
        """
        held = self.scoped_permissions.get((scope_type, scope_id), frozenset())
        return grants(held, resource, action)

    def has_resource(self, resource: str) -> bool:
        """True when some tenant-wide permission names ``resource`` (any action)."""
        return any(held == resource for held, _ in self.permissions)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("authsec_principal", default=None)


def principal_from_context() -> Principal | None:
    """The principal of the request being handled, or None outside one."""
    return _current.get()


def bind_principal(principal: Principal) -> contextvars.Token[Principal | None]:
    """Make ``principal`` current; pass the result to `unbind_principal` when the request ends."""
    return _current.set(principal)


def unbind_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)
