"""Bearer token validation: header parsing, JWT verification, introspection (RFC 6750/9068/7662)."""

from .bearer import extract_bearer
from .validator import TokenValidator

__all__ = ["TokenValidator", "extract_bearer"]
