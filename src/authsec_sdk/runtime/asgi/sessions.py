"""MCP sessions bound to the principal that created them (MCP security best practices, G4).

A session id is a handle, not a credential: every request is authenticated on its own, and
a request naming a session that another principal (issuer, subject and client) created is answered
404, exactly as if the session did not exist, so ids cannot be probed across users.

The owner of a session is learnt from the ``mcp-session-id`` header of the response to the
request that created it (one that carried no session id), and forgotten when a DELETE for it
succeeds or the handler answers 404 for it. The map is bounded: past ``limit`` sessions the
oldest is forgotten, and a session id we do not know is refused (fail closed), so eviction
ends a session rather than opening it to anyone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

from starlette.types import Message, Send

from ..principal import Principal
from .headers import first_header

SESSION_HEADER = b"mcp-session-id"

#: Who may use a session: the principal's issuer, subject and client, as the SDK binds it too.
Owner = tuple[str, str, str]


def owner_of(principal: Principal) -> Owner:
    return (principal.issuer, principal.subject, principal.client_id)


def session_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The ``mcp-session-id`` header's value, if the message carries one."""
    value = first_header(headers, SESSION_HEADER)
    return None if value is None else value.decode("latin-1")


class SessionOwners:
    """Session id -> owner, oldest first, at most ``limit`` entries."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._owners: OrderedDict[str, Owner] = OrderedDict()

    def __len__(self) -> int:
        return len(self._owners)

    def admits(self, session_id: str, owner: Owner) -> bool:
        """True when ``owner`` created ``session_id``; unknown and foreign ids are both refused."""
        return self._owners.get(session_id) == owner

    def remember(self, session_id: str, owner: Owner) -> None:
        self._owners[session_id] = owner
        while len(self._owners) > self._limit:
            self._owners.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self._owners.pop(session_id, None)


class SessionRequest(NamedTuple):
    """What one request means for the owner map, decided before the handler runs."""

    #: The session the request names; None for a request that may create one.
    session_id: str | None
    owner: Owner
    is_delete: bool

    def settle(self, owners: SessionOwners, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Update ``owners`` from the response's status line and headers."""
        if self.session_id is None:
            created = session_id_of(headers)
            if created is not None and status < 400:
                owners.remember(created, self.owner)
        elif status == 404 or (self.is_delete and 200 <= status < 300):
            owners.forget(self.session_id)


def watch_session(request: SessionRequest, owners: SessionOwners, send: Send) -> Send:
    """A ``send`` that settles ``request`` when the response starts and passes everything on."""

    async def watching(message: Message) -> None:
        if message["type"] == "http.response.start":
            request.settle(owners, message["status"], message.get("headers", ()))
        await send(message)

    return watching
