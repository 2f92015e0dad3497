"""The validated inbound token of the request being handled, for outbound token exchange.

MCP forbids passing a received token on, yet a tool calling another service as its caller
needs that token as the ``subject_token`` of an RFC 8693 exchange. The middleware binds it
here for the duration of the handler; `authsec_sdk.client.RequestBoundAuth` is the one
reader (through `current_inbound`). It is never put in ``request.state``, the ``Principal``
or a log line, and the record's ``repr`` leaves the token and secrets out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field

from .config import Config
from .principal import Principal
from .tokens import extract_bearer


@dataclass(frozen=True)
class Inbound:
    """The request's token, who it names, and the endpoint's own config (issuer, credentials)."""

    token: str = field(repr=False)
    principal: Principal
    cfg: Config = field(repr=False)


_current: contextvars.ContextVar[Inbound | None] = contextvars.ContextVar("authsec_inbound", default=None)


def current_inbound() -> Inbound | None:
    """The inbound token of the request being handled, or None outside one.

    Meant for `authsec_sdk.client` alone: application code gets the `Principal`.
    """
    return _current.get()


def bind_inbound(
    headers: Iterable[tuple[bytes, bytes]], principal: Principal, cfg: Config
) -> contextvars.Token[Inbound | None]:
    """Make the bearer token in ``headers`` (already validated as ``principal``) current; pass
    the result to `unbind_inbound` when the request ends."""
    token = extract_bearer(headers)
    return _current.set(Inbound(token, principal, cfg) if token is not None else None)


def unbind_inbound(token: contextvars.Token[Inbound | None]) -> None:
    _current.reset(token)
