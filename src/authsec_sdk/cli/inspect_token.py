"""`authsec token inspect`: what the server would make of a token, and of a call with it.

The token goes through the runtime's own code: the bearer syntax check, the `TokenValidator`
of the configured validation mode, the policy source of the configured policy mode, and the
middleware's decision functions. The signature is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from ..runtime.config import Config
from ..runtime.errors import AuthSecError, PolicyUnavailableError
from ..runtime.issuer_client import issuer_client
from ..runtime.policy import advertisable, challenge_scopes, judge_calls, policy_source_for, tool_scopes
from ..runtime.policy.rules import ToolPolicy
from ..runtime.principal import Principal
from ..runtime.tokens import TokenValidator, extract_bearer
from ..runtime.tokens.discovery import discover_endpoints
from ..runtime.tokens.jwt_parse import JWTParseError, parse_jwt
from ..runtime.tokens.refusal import RefusedTokenError


@dataclass(frozen=True)
class Verdict:
    """What the middleware would answer: ``status`` 200, 400, 401, 403 or 503, and why."""

    status: int
    reason: str
    #: For 403 ``insufficient_scope``: scopes any one of which allows the call.
    required: tuple[str, ...] = ()
    #: What the challenge asks for: ``scope`` for 2026-07-28 clients and for 2025-11-25 ones.
    challenge: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.status == 200

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "required_scopes": list(self.required),
            "challenge_scope": {k: list(v) for k, v in self.challenge.items()},
        }


@dataclass(frozen=True)
class Report:
    """The token's parts (never its signature), its validation, and the call's verdict."""

    header: Mapping[str, Any] | None
    claims: Mapping[str, Any] | None
    validation: Verdict
    principal: Principal | None = None
    call: Verdict | None = None
    tool: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "jwt": self.header is not None,
            "header": self.header,
            "claims": self.claims,
            "validation": self.validation.to_json(),
        }
        if self.principal is not None:
            document["principal"] = {
                "subject": self.principal.subject,
                "issuer": self.principal.issuer,
                "audience": list(self.principal.audience),
                "scopes": list(self.principal.scopes),
                "client_id": self.principal.client_id,
                "expires_at": self.principal.expires_at,
            }
        if self.call is not None:
            document["tool"] = self.tool
            document["call"] = self.call.to_json()
        return document


def decoded(token: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """Header and claims of a JWT, unverified; (None, None) for an opaque token."""
    try:
        parsed = parse_jwt(token)
    except JWTParseError:
        return None, None
    return parsed.header, parsed.claims


def refusal(exc: AuthSecError) -> Verdict:
    """A validation error as the middleware's answer, with the log-only detail when there is one."""
    detail = f" ({exc.detail})" if isinstance(exc, RefusedTokenError) else ""
    code = f"{exc.error}: " if exc.error else ""
    return Verdict(exc.status_code, f"{code}{exc.description}{detail}")


def judge_call(policy: ToolPolicy, tool: str, principal: Principal) -> Verdict:
    """The middleware's decision on a ``tools/call`` of ``tool`` (pure). Conditions the
    server's code declares on its tools (roles, permissions) are not known here."""
    verdict = judge_calls(policy, {}, (tool,), principal)
    if verdict.allowed:
        return Verdict(200, "allowed")
    if not verdict.curable:
        return Verdict(403, f"tool not permitted: {tool!r} is not in the policy, so no scope allows it")
    asks = {
        "2026-07-28": challenge_scopes(policy, verdict.required, principal.scopes, accumulating=True),
        "2025-11-25": challenge_scopes(policy, verdict.required, principal.scopes, accumulating=False),
    }
    return Verdict(
        403,
        "insufficient_scope: the token holds none of the tool's scopes",
        required=verdict.required,
        challenge=asks,
    )


def unauthenticated_call(policy: ToolPolicy | None, tool: str, validation: Verdict, cfg: Config) -> Verdict:
    """The call's answer when the token itself is refused: the same status, and for a 401 the
    scopes its challenge asks for: the tool's when the request names it in its headers (as
    2026-07-28 clients do), else the baseline."""
    if validation.status != 401:
        return validation
    baseline = advertisable(cfg.baseline_scopes)
    named = (tool_scopes(policy, tool) if policy is not None else ()) or baseline
    return Verdict(401, validation.reason, challenge={"2026-07-28": named, "2025-11-25": baseline})


async def inspect_token(cfg: Config, token: str, tool: str | None) -> Report:
    """Validate ``token`` as the server configured by ``cfg`` would, and judge ``tool``."""
    header, claims = decoded(token)
    async with issuer_client(cfg) as http:  # the server's own client for its issuer
        principal: Principal | None = None
        try:
            extract_bearer([(b"authorization", b"Bearer " + token.encode("latin-1", "replace"))])
            resolved = await discover_endpoints(cfg, http)
            principal = await TokenValidator(resolved, http).validate(token)
            validation = Verdict(200, "valid")
        except AuthSecError as exc:
            validation = refusal(exc)
        except ValueError as exc:  # discovered metadata that does not fit: the server would not start
            validation = Verdict(503, f"the server would not start: {exc}")
        if tool is None:
            return Report(header, claims, validation, principal)
        policy, unavailable = await _current_policy(cfg, http)
    if principal is None:
        call = unauthenticated_call(policy, tool, validation, cfg)
    elif unavailable is not None:
        call = refusal(unavailable)
    else:
        assert policy is not None
        call = judge_call(policy, tool, principal)
    return Report(header, claims, validation, principal, call, tool)


async def _current_policy(
    cfg: Config, http: httpx.AsyncClient
) -> tuple[ToolPolicy | None, PolicyUnavailableError | None]:
    """The policy the server would judge with now: its source started once, as at startup."""
    source = policy_source_for(cfg)
    async with anyio.create_task_group() as group:
        try:
            await source.start(group, http)
            current: tuple[ToolPolicy | None, PolicyUnavailableError | None] = (source.current(), None)
        except PolicyUnavailableError as exc:
            current = (None, exc)
        group.cancel_scope.cancel()
    return current
