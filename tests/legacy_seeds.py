"""The 4.x tools from the AuthSec FAQ and the runtime contract's "Backward compatibility"
section, exactly as written there (so untyped): importing this module declares them."""

from authsec_sdk import mcp_tool, protected_by_AuthSec


@mcp_tool("public_info", description="Anyone can call this")
async def public_info(arguments: dict) -> list:
    return [{"type": "text", "text": "Public data"}]


@protected_by_AuthSec("private_data")
async def private_data(arguments: dict) -> list:
    return [{"type": "text", "text": "Authenticated data"}]


@protected_by_AuthSec("hello")
async def hello(arguments: dict) -> list:
    # arguments['_user_info'] is injected automatically after auth
    return [{"type": "text", "text": f"Hello, {arguments['_user_info']['email']}!"}]


@protected_by_AuthSec("list_repos", description="…")
async def list_repos(args, session):
    return [{"type": "text", "text": "…"}]
