"""`Runtime`: the per-endpoint state that lives from application startup to shutdown.

It owns the pooled HTTP client, the token validator and the policy source, and runs the
startup work inside the application's lifespan. The middleware reads it on every request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from starlette.types import ASGIApp

from .config import Config
from .errors import NotStartedError, PolicyUnavailableError
from .issuer_client import aiohttp_form_post, issuer_client
from .manifest import publish_manifest
from .metadata import metadata_url
from .policy import PolicySource, Requirements, policy_source_for
from .policy.rules import advertisable, union_in_order
from .shared.manifest_once import ManifestOnce
from .shared.ratelimiter import RateLimiter
from .shared.store import SharedStore
from .tokens import TokenValidator
from .tokens.discovery import discover_endpoints

logger = logging.getLogger("authsec.runtime")


class Runtime:
    """Everything one protected endpoint needs at request time.

    ``handler`` is the user's MCP handler as plain ASGI; ``path`` is where it is mounted.
    ``handler_lifespan`` is entered at startup (e.g. an MCP SDK session manager's ``run()``).
    ``requirements`` are the tools' declared conditions the middleware enforces.
    """

    def __init__(
        self,
        cfg: Config,
        handler: ASGIApp,
        path: str,
        handler_lifespan: AbstractAsyncContextManager[Any] | None = None,
        requirements: Requirements | None = None,
    ) -> None:
        self.cfg = cfg
        self.handler = handler
        self.path = path
        self.metadata_url = metadata_url(cfg.resource_uri)
        #: The store shared with the other workers and replicas, when configured.
        self.shared = SharedStore(cfg) if cfg.shared_cache_url else None
        self.policy: PolicySource = policy_source_for(cfg, shared=self.shared)
        #: What tools declare beyond their scopes (roles, permissions, ...), by tool name.
        self.requirements: Requirements = requirements or {}
        self.limiter = RateLimiter(cfg, self.shared) if cfg.rate_limits else None
        self._handler_lifespan = handler_lifespan
        self._validator: TokenValidator | None = None

    @property
    def ready(self) -> bool:
        return self._validator is not None

    @property
    def validator(self) -> TokenValidator:
        if self._validator is None:
            raise NotStartedError()
        return self._validator

    def advertised_scopes(self) -> tuple[str, ...]:
        """Scopes for the metadata document and 401 challenges: the configured ones, then the policy's."""
        try:
            from_policy = self.policy.current().scopes_supported
        except PolicyUnavailableError:
            from_policy = ()
        return advertisable(union_in_order(self.cfg.supported_scopes, from_policy))

    def health(self) -> dict[str, Any]:
        """A snapshot for health checks: readiness, the policy source's state and, once running
        with introspection, the introspection endpoint's (``credentials_rejected`` names a
        cause no retry will cure); with a shared store its state, with rate limits where they
        are counted and what a store failure does to them."""
        health: dict[str, Any] = {"ready": self.ready, "policy": self.policy.status()}
        introspection = self._validator.introspection_status() if self._validator is not None else None
        if introspection is not None:
            health["introspection"] = introspection
        if self.shared is not None:
            health["shared_cache"] = self.shared.status()
        if self.limiter is not None:
            health["rate_limits"] = self.limiter.status()
        return health

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Startup and shutdown, entered from the application's lifespan.

        With ``discover_endpoints`` the issuer's metadata is read first. A startup refusal
        (e.g. REMOTE_REQUIRED without a policy, issuer metadata naming another issuer) is
        raised as itself, not wrapped in the task group's exception group, so the server log
        names the cause.
        """
        failure: Exception | None = None
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(issuer_client(self.cfg))
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            if self._handler_lifespan is not None:
                await stack.enter_async_context(self._handler_lifespan)
            try:
                endpoints = await discover_endpoints(self.cfg, http)
                introspection_post = (
                    await stack.enter_async_context(aiohttp_form_post(endpoints))
                    if endpoints.introspects
                    else None
                )
                validator = TokenValidator(
                    endpoints, http, shared=self.shared, introspection_post=introspection_post
                )
                if self.shared is not None:
                    await stack.enter_async_context(self.shared.connected(task_group))
                await self.policy.start(task_group, http)
            except Exception as exc:
                failure = exc
            else:
                self._validator = validator
                if self.cfg.publish_manifest:
                    once = ManifestOnce(self.shared) if self.shared is not None else None
                    task_group.start_soon(publish_manifest, self.cfg, self.handler, http, self.path, once)
                logger.info("protecting %s for %s", self.path, self.cfg.resource_uri)
                try:
                    yield
                finally:
                    self._validator = None
        if failure is not None:
            raise failure
