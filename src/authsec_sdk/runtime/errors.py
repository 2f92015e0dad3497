"""Error types, each knowing the HTTP status and OAuth error code it turns into.

`mount_mcp` converts them into responses; they are public so custom middleware can raise
and map them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence


class AuthSecError(Exception):
    """Base class. ``description`` is safe to send to the client; ``str(exc)`` is for logs."""

    status_code: int = 500
    error: str = "server_error"
    #: The JSON-RPC error code of the answer when the request was JSON-RPC.
    jsonrpc_code: int = -32000
    #: Whether the answer carries a ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3).
    challenges: bool = False

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description


class InvalidRequestError(AuthSecError):
    """The request is malformed (RFC 6750 ``invalid_request``): e.g. two Authorization headers."""

    status_code = 400
    error = "invalid_request"
    jsonrpc_code = -32600
    challenges = True


class MalformedMessageError(InvalidRequestError):
    """The body is not a JSON-RPC request we accept (e.g. an ``id`` that is not a string or an
    integer). Not a credentials problem, so no challenge."""

    challenges = False


class UnreadableBodyError(MalformedMessageError):
    """The body is not JSON we can read without ambiguity (JSON-RPC parse error)."""

    jsonrpc_code = -32700


class HeaderMismatchError(MalformedMessageError):
    """``Mcp-Method`` / ``Mcp-Name`` disagree with the body (MCP 2026-07-28): the two could be
    routed or judged differently, so the request is refused before any policy decision."""

    jsonrpc_code = -32020


class TokenMissingError(AuthSecError):
    """No bearer token: answered with a bare challenge and no error code (RFC 6750 §3.1)."""

    status_code = 401
    error = ""
    jsonrpc_code = -32001
    challenges = True


class TokenInvalidError(AuthSecError):
    """Signature, claims or audience failed."""

    status_code = 401
    error = "invalid_token"
    jsonrpc_code = -32001
    challenges = True


class TokenInactiveError(TokenInvalidError):
    """Introspection answered ``active`` other than ``true``."""


class InsufficientScopeError(AuthSecError):
    """The token lacks every scope that would allow the tool: a broader token would cure it.

    ``required_scopes`` are the scopes any one of which allows the call; ``scope`` is what the
    challenge asks the client to get (by default the same).
    """

    status_code = 403
    error = "insufficient_scope"
    jsonrpc_code = -32003
    challenges = True

    def __init__(
        self,
        description: str = "",
        *,
        tool: str = "",
        required_scopes: Sequence[str] = (),
        scope: Sequence[str] | None = None,
    ) -> None:
        super().__init__(description)
        self.tool = tool
        self.required_scopes = tuple(required_scopes)
        self.scope = self.required_scopes if scope is None else tuple(scope)


class PolicyUnavailableError(AuthSecError):
    """The scope matrix cannot be had, so no tool call can be judged: fail closed."""

    status_code = 503
    error = "policy_unavailable"
    jsonrpc_code = -32002


class PolicyIncompleteError(PolicyUnavailableError):
    """The backend says the policy is incomplete (``policy_complete: false``): deny every call."""

    error = "policy_incomplete"

    def __init__(self, state: str = "", reason: str = "") -> None:
        super().__init__(f"state={state}" + (f": {reason}" if reason else ""))
        self.state = state
        self.reason = reason


class NotStartedError(AuthSecError):
    """A request arrived before the application's startup finished (or after its shutdown):
    nothing can be validated yet, so it fails closed."""

    status_code = 503
    error = "temporarily_unavailable"
    jsonrpc_code = -32002

    def __init__(self, description: str = "not started") -> None:
        super().__init__(description)


class IssuerUnavailableError(AuthSecError):
    """The issuer (JWKS or introspection) could not be reached or answered garbage."""

    status_code = 503
    error = "temporarily_unavailable"
    jsonrpc_code = -32002


class RequestTooLargeError(AuthSecError):
    """The body is larger than ``Config.max_body_bytes``."""

    status_code = 413
    error = "invalid_request"
    jsonrpc_code = -32600


class UnsupportedEncodingError(AuthSecError):
    """A compressed body cannot be inspected, so it is refused rather than passed on unread."""

    status_code = 415
    error = "invalid_request"
    jsonrpc_code = -32600


class RequestTimeoutError(AuthSecError):
    """The body did not arrive within ``Config.body_read_timeout``: the request is dropped."""

    status_code = 408
    error = "invalid_request"


class SessionNotFoundError(AuthSecError):
    """The request names a session its principal did not create: answered as an unknown session."""

    status_code = 404
    error = "session_not_found"
    jsonrpc_code = -32600


class ForbiddenError(AuthSecError):
    """A refusal that no extra scope can cure (e.g. a disallowed Origin): no step-up hint."""

    status_code = 403
    error = "forbidden"
    jsonrpc_code = -32003


class ToolNotPermittedError(ForbiddenError):
    """A ``tools/call`` of a tool the policy does not list (or cannot name): no scope would allow
    it, so the answer carries no ``insufficient_scope`` and clients do not re-authorize in a loop."""

    def __init__(self, description: str = "tool not permitted", *, tool: str = "") -> None:
        super().__init__(description)
        self.tool = tool


class RequirementNotMetError(ToolNotPermittedError):
    """A ``tools/call`` whose declared roles, groups, resources or permissions the caller
    lacks. No scope would cure it, so, like `ToolNotPermittedError`, it carries no
    ``insufficient_scope``. ``unmet`` names the conditions that failed (``role 'admin'``):
    any one of them would do, or every one when ``require_all``."""

    def __init__(self, unmet: Sequence[str], *, tool: str = "", require_all: bool = False) -> None:
        self.unmet = tuple(unmet)
        self.require_all = require_all
        which = "all of" if require_all else "one of"
        super().__init__(f"tool {tool!r} requires {which}: {', '.join(self.unmet)}", tool=tool)


class RateLimitedError(AuthSecError):
    """The caller spent its quota of calls (``Config.rate_limits``): 429 until the window ends.

    ``headers`` are the ``RateLimit-Policy`` and ``RateLimit`` fields of the answer;
    ``retry_after`` the whole seconds until the quota is back.
    """

    status_code = 429
    error = "rate_limited"
    jsonrpc_code = -32004

    def __init__(
        self,
        description: str = "rate limit exceeded",
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        retry_after: int = 1,
    ) -> None:
        super().__init__(description)
        self.headers = tuple(headers)
        self.retry_after = retry_after


class RateLimitUnavailableError(AuthSecError):
    """The shared rate-limit counters cannot be read and ``rate_limit_on_store_error`` is
    ``deny``: limited calls are refused rather than let through uncounted."""

    status_code = 503
    error = "temporarily_unavailable"
    jsonrpc_code = -32002
