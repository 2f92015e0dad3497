"""Reading a ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3, RFC 9728 §5.1).

The header comes from the server being called, so it is read defensively: bounded in size,
only the Bearer challenge's own parameters, first occurrence of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Longer header values are not read at all.
MAX_HEADER_CHARS = 8192

_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')
_SCHEME = re.compile(r"(?:^|,)\s*bearer(?:\s+|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Challenge:
    """What a Bearer challenge asks for: its ``error``, the ``scope`` to get, and where the
    protected resource's metadata is."""

    error: str = ""
    scopes: tuple[str, ...] = ()
    resource_metadata: str | None = None


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None or match.end() == position:
            break  # another scheme, or something unreadable: the Bearer parameters end here
        name, raw = match.group(1).lower(), match.group(2)
        value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        params.setdefault(name, value)
        position = match.end()
    return params


def bearer_challenge(values: Iterable[str]) -> Challenge | None:
    """The first Bearer challenge among the ``WWW-Authenticate`` header ``values``, or None."""
    for value in values:
        if len(value) > MAX_HEADER_CHARS:
            continue
        scheme = _SCHEME.search(value)
        if scheme is None:
            continue
        params = _params(value[scheme.end() :])
        return Challenge(
            error=params.get("error", ""),
            scopes=tuple(params.get("scope", "").split()),
            resource_metadata=params.get("resource_metadata") or None,
        )
    return None
