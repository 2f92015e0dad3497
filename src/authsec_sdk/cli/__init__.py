"""The ``authsec`` command: diagnose a protected MCP server, explain a token, log in and call tools.

Installed with the ``cli`` extra (``pip install 'authsec-sdk[cli]'``). Without it, `main`
says how to install it and exits 2, rather than failing with an import error.
"""

from __future__ import annotations

import sys

#: What the ``cli`` extra brings that the package itself does not depend on.
_EXTRA_MODULES = frozenset({"click", "dotenv"})
INSTALL_HINT = "the authsec command needs the cli extra: pip install 'authsec-sdk[cli]'"


def main() -> None:
    """The console script's entry point."""
    try:
        from .app import cli
    except ModuleNotFoundError as exc:
        if exc.name not in _EXTRA_MODULES:
            raise
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2) from None

    cli(prog_name="authsec")
