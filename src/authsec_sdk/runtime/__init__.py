"""The AuthSec runtime API: protect an MCP endpoint with `mount_mcp`. ``__all__`` is the public surface.

from authsec_sdk.runtime import Config, PolicyMode, ValidationMode, mount_mcp
"""

from .asgi.responses import error_answer
from .config import Config, PolicyMode, ValidationMode, from_env
from .errors import (
    AuthSecError,
    InsufficientScopeError,
    InvalidRequestError,
    IssuerUnavailableError,
    PolicyIncompleteError,
    PolicyUnavailableError,
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
    "Runtime",
    "TokenInactiveError",
    "TokenInvalidError",
    "ToolNotPermittedError",
    "ValidationMode",
    "error_answer",
    "from_env",
    "mount_mcp",
    "principal_from_context",
]
