"""Reading raw ASGI header pairs without building a request object."""

from __future__ import annotations

from collections.abc import Iterable


def first_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of the first header called ``name`` (lowercase, as ASGI gives it), or None."""
    return next((value for key, value in headers if key == name), None)
