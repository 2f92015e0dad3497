"""The ``Origin`` check: the Streamable HTTP transport's DNS-rebinding defence (MCP F1).

A page on an attacker's domain that rebinds its name to a local MCP server still sends its own
``Origin``, so refusing unknown origins stops it. Clients that are not browsers send no
``Origin`` and are not affected.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def origin_allowed(headers: Iterable[tuple[bytes, bytes]], allowed: Collection[str]) -> bool:
    """False only when an allow-list is set and an ``Origin`` header is not on it.

    Every ``Origin`` header must match, so a second header cannot smuggle a foreign origin
    past a check that reads only the first.
    """
    if not allowed:
        return True
    return all(value.decode("latin-1") in allowed for name, value in headers if name == b"origin")
