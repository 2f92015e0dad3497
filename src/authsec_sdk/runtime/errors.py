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

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description


class InvalidRequestError(AuthSecError):
    """The request is malformed (RFC 6750 ``invalid_request``): e.g. two Authorization headers."""

    status_code = 400
    error = "invalid_request"


class TokenMissingError(AuthSecError):
    """No bearer token: answered with a bare challenge and no error code (RFC 6750 §3.1)."""

    status_code = 401
    error = ""


class TokenInvalidError(AuthSecError):
    """Signature, claims or audience failed."""

    status_code = 401
    error = "invalid_token"


class TokenInactiveError(TokenInvalidError):
    """Introspection answered ``active`` other than ``true``."""


class InsufficientScopeError(AuthSecError):
    """The token lacks every scope that would allow the tool (or the tool is not in the policy)."""

    status_code = 403
    error = "insufficient_scope"

    def __init__(self, description: str = "", *, tool: str = "", required_scopes: Sequence[str] = ()) -> None:
        super().__init__(description)
        self.tool = tool
        self.required_scopes = tuple(required_scopes)


class PolicyUnavailableError(AuthSecError):
    """The scope matrix cannot be had, so no tool call can be judged: fail closed."""

    status_code = 503
    error = "policy_unavailable"


class PolicyIncompleteError(PolicyUnavailableError):
    """The backend says the policy is incomplete (``policy_complete: false``): deny every call."""

    error = "policy_incomplete"

    def __init__(self, state: str = "", reason: str = "") -> None:
        super().__init__(f"state={state}" + (f": {reason}" if reason else ""))
        self.state = state
        self.reason = reason


class IssuerUnavailableError(AuthSecError):
    """The issuer (JWKS or introspection) could not be reached or answered garbage."""

    status_code = 503
    error = "temporarily_unavailable"


class RequestTooLargeError(AuthSecError):
    """The body is larger than ``Config.max_body_bytes``."""

    status_code = 413
    error = "invalid_request"


class UnsupportedEncodingError(AuthSecError):
    """A compressed body cannot be inspected, so it is refused rather than passed on unread."""

    status_code = 415
    error = "invalid_request"


class SessionNotFoundError(AuthSecError):
    """The request names a session its principal did not create: answered as an unknown session."""

    status_code = 404
    error = "session_not_found"


class ForbiddenError(AuthSecError):
    """A refusal that no extra scope can cure (e.g. a disallowed Origin): no step-up hint."""

    status_code = 403
    error = "forbidden"
