"""The one error outbound authentication raises."""

from __future__ import annotations

from typing import Literal

#: Why no token could be sent: there is no request to act for, its token has expired, the
#: authorization server refused, could not be reached or answered nonsense, or the setup is wrong.
Reason = Literal["no_request", "inbound_expired", "refused", "unavailable", "misconfigured"]


class OutboundAuthError(Exception):
    """No token could be obtained, so nothing was sent. ``str(exc)`` names why and is safe to
    log (never a token or secret); ``reason`` says it for code, and ``error`` is the
    authorization server's RFC 6749 ``error`` code when it gave one."""

    def __init__(self, message: str, *, reason: Reason, error: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.error = error
