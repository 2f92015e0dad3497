"""Server-sent events (the MCP event-stream answers), read the way a client reads them.

One reading serves both the ``tools/list`` filter, which rewrites a stream event by event,
and the manifest handshake, which reads whole answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

#: An event ends with an empty line; a line ends with CRLF, LF or CR (a lone CR at the end
#: of a chunk is taken as a line end: at worst the next event starts with an empty line).
_EVENT_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
LINE_END = re.compile(rb"\r\n|\n|\r")


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete events at the front of ``buffer`` (each with its end), and the incomplete rest."""
    events: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(buffer):
        events.append(buffer[start : match.end()])
        start = match.end()
    return events, buffer[start:]


def event_data(lines: Sequence[bytes]) -> bytes | None:
    """The ``data`` of one event's lines, joined by newlines; None when it has no ``data``."""
    data = [line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:")]
    return b"\n".join(data) if data else None


def sse_data(body: bytes) -> Iterator[bytes]:
    """The ``data`` of each event in a whole event-stream body, the last one even unterminated."""
    events, rest = split_events(body)
    for event in (*events, rest):
        data = event_data(LINE_END.split(event))
        if data is not None:
            yield data
