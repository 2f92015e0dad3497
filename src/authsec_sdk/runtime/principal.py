"""The authenticated caller, as the handler sees it."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn


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

    @property
    def client_id(self) -> str:
        """The OAuth client the token was issued to (``client_id``, else ``azp``), or ""."""
        value = self.claims.get("client_id") or self.claims.get("azp")
        return value if isinstance(value, str) else ""

    def has_any_scope(self, scopes: Iterable[str]) -> bool:
        """True when the token carries at least one of ``scopes``."""
        held = set(self.scopes)
        return any(s in held for s in scopes)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("authsec_principal", default=None)


def principal_from_context() -> Principal | None:
    """The principal of the request being handled, or None outside one."""
    return _current.get()


def bind_principal(principal: Principal) -> contextvars.Token[Principal | None]:
    """Make ``principal`` current; pass the result to `unbind_principal` when the request ends."""
    return _current.set(principal)


def unbind_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)
