"""The principal as the ``mcp`` SDK's ``AuthenticatedUser``, for ``scope["user"]``.

The SDK's session manager binds each session to the user that created it when
``scope["user"]`` is an ``AuthenticatedUser``; giving it one makes its own check agree with
ours. ``mcp`` is an optional dependency, so without it there is no user to build.
The token itself is never put there: handlers get the principal, not a credential they could
pass upstream.
"""

from __future__ import annotations

import functools
from typing import Any

from ..principal import Principal


@functools.cache
def _user_class() -> Any:
    try:
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken
    except ImportError:
        return None
    return AuthenticatedUser, AccessToken


class SdkUsers:
    """``AuthenticatedUser``s by principal, each built once.

    A repeat token brings back the same `Principal` object, so its user need not be built
    on every request. Each entry keeps its principal alive, so its ``id`` cannot be reused
    while the entry exists; past ``limit`` the oldest entries go first.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._built: dict[int, tuple[Principal, Any]] = {}
        self._limit = limit

    def __call__(self, principal: Principal) -> Any | None:
        """An ``AuthenticatedUser`` for ``principal``, or None when ``mcp`` is not installed."""
        entry = self._built.get(id(principal))
        if entry is not None and entry[0] is principal:
            return entry[1]
        user = _build(principal)
        if len(self._built) >= self._limit:
            del self._built[next(iter(self._built))]
        self._built[id(principal)] = (principal, user)
        return user


def _build(principal: Principal) -> Any | None:
    classes = _user_class()
    if classes is None:
        return None
    user_class, token_class = classes
    token = token_class(
        token="",
        client_id=principal.client_id,
        scopes=list(principal.scopes),
        expires_at=int(principal.expires_at) if principal.expires_at is not None else None,
        resource=principal.audience[0] if principal.audience else None,
        subject=principal.subject,
        claims={"iss": principal.issuer},
    )
    return user_class(token)
