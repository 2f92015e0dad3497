"""Fixtures for the interop tests: panva's oidc-provider and the MCP Inspector, via Node.

Without Node.js the interop tests are skipped with one clear reason; with
``AUTHSEC_REQUIRE_INTEROP=1`` (as CI sets it) they fail instead. ``npm ci`` runs once per
lock file: node_modules keeps a stamp with the lock file's sha256.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.interop_peers import INTEROP_DIR, OidcProvider, npm_ci

REQUIRE_INTEROP = os.environ.get("AUTHSEC_REQUIRE_INTEROP") == "1"


def _missing_tool() -> str | None:
    """``node`` or ``npm`` when one is not on PATH, else None."""
    return next((tool for tool in ("node", "npm") if shutil.which(tool) is None), None)


def _skip_reason(missing: str) -> str:
    return (
        f"INTEROP TESTS SKIPPED: {missing} not found on PATH (install Node.js 20+ to run them against "
        "oidc-provider and the MCP Inspector; AUTHSEC_REQUIRE_INTEROP=1 makes this a failure)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Say it once, loudly, when the interop tests are about to be skipped."""
    missing = _missing_tool()
    if missing is None or REQUIRE_INTEROP:
        return
    if any(INTEROP_DIR in item.path.parents for item in items):
        warnings.warn(pytest.PytestWarning(_skip_reason(missing)), stacklevel=1)


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with tests/interop/node_modules installed from the lock file."""
    missing = _missing_tool()
    if missing is not None:
        if REQUIRE_INTEROP:
            pytest.fail(
                f"interop tests: {missing} not found on PATH and AUTHSEC_REQUIRE_INTEROP=1", pytrace=False
            )
        pytest.skip(_skip_reason(missing))
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node is not None and npm is not None
    npm_ci(npm)
    return node


@pytest.fixture(scope="session")
def provider(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One oidc-provider for the session, on a free 127.0.0.1 port."""
    log = tmp_path_factory.mktemp("oidc-provider") / "provider.log"
    running = OidcProvider(node, log).start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def own_provider(node: str, tmp_path: Path) -> Iterator[OidcProvider]:
    """A provider of the test's own, for tests that rotate its keys, stop or restart it."""
    running = OidcProvider(node, tmp_path / "provider.log").start()
    try:
        yield running
    finally:
        running.close()
