"""The 4.x decorator API, running on the runtime: ``protected_by_AuthSec``, ``mcp_tool``,
``run_mcp_server_with_oauth`` and ``create_mcp_app``.

Tools written for 4.x keep their shape; what changed is where they are guarded. Every
declared requirement is enforced by `mount_mcp`'s middleware before the tool runs, from the
bearer token of each request: the in-band login tools and session ids are gone.
"""

from .app import create_mcp_app, run_mcp_server_with_oauth
from .decorators import mcp_tool, protected_by_AuthSec
from .tool import LegacySession

__all__ = ["LegacySession", "create_mcp_app", "mcp_tool", "protected_by_AuthSec", "run_mcp_server_with_oauth"]
