"""authsec-sdk: OAuth 2.0 protection for Python MCP servers.

The runtime API lives in `authsec_sdk.runtime`; RBAC checks in `authsec_sdk.authz`. The 4.x
decorator API (``protected_by_AuthSec``, ``mcp_tool``, ``run_mcp_server_with_oauth``,
``create_mcp_app``) is importable from here too; it is loaded on first use, because it needs
the optional ``mcp`` package.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .legacy import create_mcp_app, mcp_tool, protected_by_AuthSec, run_mcp_server_with_oauth

__version__ = "4.3.0"

__all__ = ["__version__", "create_mcp_app", "mcp_tool", "protected_by_AuthSec", "run_mcp_server_with_oauth"]
_LEGACY = frozenset(__all__[1:])


def __getattr__(name: str) -> Any:
    if name in _LEGACY:
        from . import legacy

        return getattr(legacy, name)
    raise AttributeError(f"module 'authsec_sdk' has no attribute {name!r}")
