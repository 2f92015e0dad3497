"""One cached access token, renewed by one task at a time.

However many requests need a token at once, one of them asks the token endpoint and the
others wait for its answer; a token refused by the service is replaced once, not once per
request that saw it refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from .token_endpoint import Clock, IssuedToken

Fetch = Callable[[], Awaitable[IssuedToken]]


class TokenSlot:
    """The current token, or none; ``skew`` seconds before expiry it counts as gone."""

    def __init__(self, clock: Clock, skew: float, initial: IssuedToken | None = None) -> None:
        self._clock = clock
        self._skew = skew
        self._token = initial
        self._lock = anyio.Lock()

    @property
    def token(self) -> IssuedToken | None:
        """The token held, fresh or not."""
        return self._token

    def _fresh(self) -> IssuedToken | None:
        token = self._token
        return token if token is not None and token.usable(self._clock(), self._skew) else None

    async def get(self, fetch: Fetch) -> IssuedToken:
        """The fresh token, fetched first when there is none."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is None:
                self._token = None
                fresh = self._token = await fetch()
            return fresh

    async def replace(self, rejected: str | None, fetch: Fetch) -> IssuedToken:
        """A token other than ``rejected``: the one another task already fetched, or a new one."""
        async with self._lock:
            fresh = self._fresh()
            if fresh is None or fresh.access_token == rejected:
                self._token = None
                fresh = self._token = await fetch()
            return fresh
