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


def sdk_user(principal: Principal) -> Any | None:
    """An ``AuthenticatedUser`` for ``principal``, or None when ``mcp`` is not installed."""
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
