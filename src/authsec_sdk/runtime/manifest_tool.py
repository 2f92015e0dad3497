"""`ManifestTool`: one entry of the tool inventory sent to the AuthSec backend, and the checks
that turn a provider's or a handler's listing into such entries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .backend import BackendError


class ManifestError(Exception):
    """The inventory could not be read or sent; the message says why (never credentials)."""


@dataclass(frozen=True)
class ManifestTool:
    name: str
    title: str | None = None
    description: str | None = None
    input_schema: Mapping[str, Any] | None = None
    annotations: Mapping[str, Any] | None = None
    suggested_scopes: Sequence[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire shape: absent optional fields are left out, not sent as null."""
        out: dict[str, Any] = {"name": self.name}
        for key in ("title", "description", "input_schema", "annotations"):
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        if self.suggested_scopes is not None:
            out["suggested_scopes"] = list(self.suggested_scopes)
        return out


_TOOL_FIELDS = frozenset(f.name for f in dataclasses.fields(ManifestTool))


def tool_from_provider(entry: Any, index: int) -> ManifestTool:
    """A provider entry: a `ManifestTool`, or a dict of its fields."""
    if isinstance(entry, ManifestTool):
        return _checked(entry, index)
    if not isinstance(entry, Mapping):
        raise ManifestError(f"inventory entry {index} must be a ManifestTool or a dict")
    unknown = sorted(set(entry) - _TOOL_FIELDS)
    if unknown:
        raise ManifestError(
            f"inventory entry {index} has unknown fields {unknown}; use {sorted(_TOOL_FIELDS)}"
        )
    return _checked(ManifestTool(**entry), index)


def tool_from_listing(entry: Any, index: int) -> ManifestTool:
    """A tool from an MCP ``tools/list`` answer (camelCase ``inputSchema``)."""
    if not isinstance(entry, Mapping):
        raise ManifestError(f"tools/list entry {index} is not an object")
    return _checked(
        ManifestTool(
            name=entry.get("name"),  # type: ignore[arg-type]  # checked just below
            title=entry.get("title"),
            description=entry.get("description"),
            input_schema=entry.get("inputSchema"),
            annotations=entry.get("annotations"),
        ),
        index,
    )


def _checked(tool: ManifestTool, index: int) -> ManifestTool:
    """``tool`` when every field has the type the wire contract needs."""
    where = f"inventory entry {index}"
    if not isinstance(tool.name, str) or not tool.name:
        raise ManifestError(f"{where} needs a non-empty string 'name'")
    for key in ("title", "description"):
        if not isinstance(getattr(tool, key), str | None):
            raise ManifestError(f"{where} ({tool.name}): {key} must be a string")
    for key in ("input_schema", "annotations"):
        if not isinstance(getattr(tool, key), Mapping | None):
            raise ManifestError(f"{where} ({tool.name}): {key} must be an object")
    scopes = tool.suggested_scopes
    if scopes is not None and (isinstance(scopes, str) or not all(isinstance(s, str) and s for s in scopes)):
        raise ManifestError(f"{where} ({tool.name}): suggested_scopes must be a list of scope strings")
    return tool


def unique(tools: list[ManifestTool]) -> list[ManifestTool]:
    names = [tool.name for tool in tools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"the inventory lists tools more than once: {duplicates}")
    return tools


def describe(exc: Exception) -> str:
    """``exc`` for a log line: errors whose text is log-safe by design as they are, others with their type."""
    return str(exc) if isinstance(exc, ManifestError | BackendError) else f"{type(exc).__name__}: {exc}"
