"""The validated inbound token of the request being handled, for outbound token exchange.

MCP forbids passing a received token on, yet a tool calling another service as its caller
needs that token as the ``subject_token`` of an RFC 8693 exchange. The middleware binds the
request's headers here for the duration of the handler; `authsec_sdk.client.RequestBoundAuth`
is the one reader (through `current_inbound`). The token is never put in ``request.state``,
the ``Principal`` or a log line, and the record's ``repr`` leaves it and the secrets out.
Binding costs one context-variable set per request; the token is read out only when asked for.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field

from .config import Config
from .principal import Principal
from .tokens import extract_bearer

_Bound = tuple[Sequence[tuple[bytes, bytes]], Principal, Config]


@dataclass(frozen=True)
class Inbound:
    """The request's token, who it names, and the endpoint's own config (issuer, credentials)."""

    token: str = field(repr=False)
    principal: Principal
    cfg: Config = field(repr=False)


_current: contextvars.ContextVar[_Bound | None] = contextvars.ContextVar("authsec_inbound", default=None)


def current_inbound() -> Inbound | None:
    """The inbound token of the request being handled, or None outside one.

    Meant for `authsec_sdk.client` alone: application code gets the `Principal`.
    """
    bound = _current.get()
    if bound is None:
        return None
    headers, principal, cfg = bound
    token = extract_bearer(headers)
    return Inbound(token, principal, cfg) if token is not None else None


def bind_inbound(
    headers: Sequence[tuple[bytes, bytes]], principal: Principal, cfg: Config
) -> contextvars.Token[_Bound | None]:
    """Make the request whose ``headers`` were authenticated as ``principal`` current; pass the
    result to `unbind_inbound` when the request ends."""
    return _current.set((headers, principal, cfg))


def unbind_inbound(token: contextvars.Token[_Bound | None]) -> None:
    _current.reset(token)
