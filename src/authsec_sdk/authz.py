"""RBAC checks, local and without network calls.

``check_permission`` and ``check_permission_scoped`` judge the principal of the request being
handled (inside a tool or handler served by `mount_mcp`); outside a request they raise
`NoPrincipalError`, never answer False, so a missing principal cannot pass for a denial a
caller might ignore. `AuthzClient` judges a token you hold, verified locally against the
issuer's JWKS by the runtime's own JWT path (no introspection).
"""

from __future__ import annotations

import dataclasses

import anyio
import anyio.lowlevel
import httpx

from .runtime.config import Config, ValidationMode
from .runtime.config.settings import endpoint_problems
from .runtime.principal import Principal, principal_from_context
from .runtime.tokens import TokenValidator

__all__ = ["AuthzClient", "NoPrincipalError", "check_permission", "check_permission_scoped"]


class NoPrincipalError(RuntimeError):
    """A check that needs the current request's principal ran outside a request."""


def check_permission(resource: str, action: str) -> bool:
    """Whether the current caller holds ``resource:action`` (or ``resource:*``) tenant-wide."""
    return _current("check_permission").has_permission(resource, action)


def check_permission_scoped(resource: str, action: str, scope_type: str, scope_id: str) -> bool:
    """Whether the current caller holds ``resource:action`` within one scope (a project,
    a sub-tenant); tenant-wide grants do not count there."""
    return _current("check_permission_scoped").has_permission_scoped(resource, action, scope_type, scope_id)


def _current(check: str) -> Principal:
    principal = principal_from_context()
    if principal is None:
        raise NoPrincipalError(
            f"{check} needs the principal of a request: call it inside a tool or handler served "
            "by mount_mcp, or use AuthzClient(token, config) with a token"
        )
    return principal


class AuthzClient:
    """Permission checks on ``token``, verified against ``config``'s issuer and JWKS.

    The token is verified once, on the first check (or `verify`): signature, issuer,
    audience (``config.resource_uri``) and lifetime, exactly as the middleware does with
    ``JWT_ONLY``. A token that fails raises `TokenInvalidError`; an unreachable JWKS raises
    `IssuerUnavailableError`. In async code, ``await client.verify()`` first: the checks are
    synchronous and will not block a running event loop on the JWKS fetch.
    """

    def __init__(self, token: str, config: Config) -> None:
        cfg = dataclasses.replace(config, validation_mode=ValidationMode.JWT_ONLY)
        problems = endpoint_problems(cfg)
        if problems:
            raise ValueError("AuthzClient: " + "; ".join(problems))
        if not cfg.resource_uri:
            raise ValueError("AuthzClient: resource_uri is required (tokens' aud must contain it)")
        self._token = token
        self._cfg = cfg
        self._principal: Principal | None = None

    async def verify(self) -> Principal:
        """The token's principal, verified on the first call."""
        if self._principal is None:
            async with httpx.AsyncClient(timeout=self._cfg.http_timeout, follow_redirects=False) as http:
                self._principal = await TokenValidator(self._cfg, http).validate(self._token)
        return self._principal

    def check_permission(self, resource: str, action: str) -> bool:
        return self._verified().has_permission(resource, action)

    def check_permission_scoped(self, resource: str, action: str, scope_type: str, scope_id: str) -> bool:
        return self._verified().has_permission_scoped(resource, action, scope_type, scope_id)

    def _verified(self) -> Principal:
        if self._principal is not None:
            return self._principal
        if _in_event_loop():
            raise RuntimeError(
                "AuthzClient: in async code, `await client.verify()` before checking; "
                "a check would otherwise block the event loop on the JWKS fetch"
            )
        return anyio.run(self.verify)


def _in_event_loop() -> bool:
    """Whether an event loop (asyncio or trio) runs in this thread."""
    try:
        anyio.lowlevel.current_token()
    except RuntimeError:  # anyio's NoEventLoopError is one
        return False
    return True
