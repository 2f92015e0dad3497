"""Pull the bearer token out of raw ASGI headers (RFC 6750 §2.1, OAuth 2.1 §5.1).

Works on the header pairs themselves so the middleware never builds a Request object
just to authenticate. The query string is never consulted: tokens in URLs leak into
logs and histories, so OAuth 2.1 forbids accepting them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import InvalidRequestError, TokenInvalidError

#: Larger tokens are refused before any parsing: no legitimate access token is this big,
#: and every later step (regex, base64, JSON) would otherwise scale with attacker input.
MAX_TOKEN_BYTES = 16 * 1024

_AUTHORIZATION = b"authorization"
_BEARER = b"bearer"
_TOKEN68 = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")


def extract_bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The bearer token, or None when the request carries no Bearer credentials.

    None (no Authorization header, or another scheme such as Basic) is answered with a
    bare challenge. A structurally broken Authorization header raises
    `InvalidRequestError` (400); an oversized token raises `TokenInvalidError` (401).
    """
    value: bytes | None = None
    for name, raw in headers:
        if name.lower() == _AUTHORIZATION:
            if value is not None:
                raise InvalidRequestError("multiple Authorization headers")
            value = raw
    if value is None:
        return None
    scheme, _, rest = value.partition(b" ")
    if scheme.lower() != _BEARER:
        return None
    token = rest.lstrip(b" ")
    if not token:
        raise InvalidRequestError("empty bearer token")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalidError("token too large")
    if _TOKEN68.fullmatch(token) is None:
        raise InvalidRequestError("malformed bearer token")
    return token.decode("ascii")
