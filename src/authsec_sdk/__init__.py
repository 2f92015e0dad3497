"""authsec-sdk: OAuth 2.0 protection for Python MCP servers.

The runtime API lives in `authsec_sdk.runtime`.
"""

__version__ = "4.3.0"
