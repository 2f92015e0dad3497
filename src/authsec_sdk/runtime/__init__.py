"""The AuthSec runtime API: protect an MCP endpoint with `mount_mcp`. ``__all__`` is the public surface.

from authsec_sdk.runtime import Config, PolicyMode, ValidationMode, mount_mcp
"""

from .asgi.responses import error_answer
from .config import Config, PolicyMode, ValidationMode, from_env
from .declarations import permission_required, public, requires_scopes
from .errors import (
    AuthSecError,
    InsufficientScopeError,
    InvalidRequestError,
    IssuerUnavailableError,
    PolicyIncompleteError,
    PolicyUnavailableError,
    RateLimitedError,
    RequirementNotMetError,
    TokenInactiveError,
    TokenInvalidError,
    ToolNotPermittedError,
)
from .manifest_tool import ManifestTool
from .mount import mount_mcp
from .principal import Principal, principal_from_context
from .service import Runtime

__all__ = [
    "AuthSecError",
    "Config",
    "InsufficientScopeError",
    "InvalidRequestError",
    "IssuerUnavailableError",
    "ManifestTool",
    "PolicyIncompleteError",
    "PolicyMode",
    "PolicyUnavailableError",
    "Principal",
    "RateLimitedError",
    "RequirementNotMetError",
    "Runtime",
    "TokenInactiveError",
    "TokenInvalidError",
    "ToolNotPermittedError",
    "ValidationMode",
    "error_answer",
    "from_env",
    "mount_mcp",
    "permission_required",
    "principal_from_context",
    "public",
    "requires_scopes",
]
