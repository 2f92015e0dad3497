"""How results reach the user: exit codes, marked lines, JSON, and a progress line.

Human output goes to stdout; a progress spinner goes to stderr and only when stderr is a
terminal, so piped output and ``--json`` stay clean. Nothing here ever prints a token:
callers pass only what may be shown.
"""

from __future__ import annotations

import enum
import itertools
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

#: Exit codes, the same for every command (documented in ``--help`` and the README).
OK = 0
#: A check failed, a token was refused, a tool call failed, or a server could not be reached.
FAILED = 1
#: Bad arguments or an unusable configuration (click uses 2 for usage errors too).
USAGE = 2
#: No token to use (not logged in), or the server refused it: 401, or 403 without step-up.
NOT_AUTHORIZED = 3

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  a check failed, a token was refused, a call failed
  2  bad arguments or configuration
  3  not logged in, or the server refused the token"""


def epilog(example: str) -> str:
    """A command's help epilog: an example, kept as written, and the exit codes."""
    return f"\b\nExample:\n  {example}\n\n{EXIT_CODES_HELP}"


class Status(enum.StrEnum):
    """The outcome of one check or step."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


_MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}
_ASCII_MARKS = {Status.OK: "+", Status.WARN: "!", Status.FAIL: "x", Status.SKIP: "-"}
_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: None}


def mark(status: Status, stream: TextIO | None = None) -> str:
    """The status's mark, coloured (click drops colours when not on a terminal), in ASCII when
    the output's encoding has no check marks."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
        symbol = _MARKS[status]
    except (UnicodeEncodeError, LookupError):
        symbol = _ASCII_MARKS[status]
    return click.style(symbol, fg=_COLOURS[status], bold=True)


def line(status: Status, text: str, fix: str = "") -> None:
    """One marked line, and under it the fix when there is one."""
    click.echo(f"{mark(status)} {text}")
    if fix:
        click.echo(f"    fix: {fix}")


def emit_json(document: Any) -> None:
    """One JSON document on stdout, for machines."""
    click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


_FRAMES = "|/-\\"


@contextmanager
def progress(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block waits on the network; nothing at
    all unless stderr is a terminal. The line is cleared when the block ends."""
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    stop = threading.Event()

    def spin() -> None:
        for frame in itertools.cycle(_FRAMES):
            out.write(f"\r{frame} {message}")
            out.flush()
            if stop.wait(0.1):
                break

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
        out.write("\r\x1b[2K")
        out.flush()
