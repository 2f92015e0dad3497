"""Putting values a peer or an attacker chose into log lines safely.

Such values (claims, key ids, an issuer's metadata) are shown only through `shown`:
truncated so that a huge value cannot bloat the logs, and quoted with `repr` so that a
CR/LF or a quote inside cannot forge a log line.
"""

from __future__ import annotations

#: Longest string, and most list items, `shown` writes.
MAX_CHARS = 100
MAX_ITEMS = 5


def shown(value: object) -> str:
    """``value`` for a log line: strings truncated and quoted, short lists of them, numbers
    of sane size, and for anything else only its type."""
    if isinstance(value, str):
        return repr(value[:MAX_CHARS]) + ("..." if len(value) > MAX_CHARS else "")
    if value is None or (isinstance(value, (int, float)) and abs(value) < 10**15):
        return repr(value)  # not a huge int: writing one out is slow, even refused
    if isinstance(value, list):
        items = [shown(item) for item in value[:MAX_ITEMS]]
        return "[" + ", ".join(items) + (", ..." if len(value) > MAX_ITEMS else "") + "]"
    return f"<{type(value).__name__}>"
