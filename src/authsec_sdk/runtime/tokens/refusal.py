"""A refused token: a fixed description for the client, and for the log what exactly failed."""

from __future__ import annotations

from ..errors import TokenInvalidError


class RefusedTokenError(TokenInvalidError):
    """A `TokenInvalidError` that also says, for the log only, which values failed.

    ``description`` reaches the client's ``WWW-Authenticate`` header, so it is a fixed
    text; ``detail`` may quote the token's own values (always through `logsafe.shown`) and
    is only ever logged, rate-limited, by `TokenValidator`.
    """

    def __init__(self, description: str, detail: str) -> None:
        super().__init__(description)
        self.detail = detail
