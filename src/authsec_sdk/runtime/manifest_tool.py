"""`ManifestTool`: one entry of the tool inventory sent to the AuthSec backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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
