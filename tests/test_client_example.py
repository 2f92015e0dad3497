"""The outbound-auth example runs as shipped and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "call_downstream.py"


@pytest.mark.usefixtures("anyio_backend")  # starts real servers: not part of the pure loop
def test_the_example_calls_the_calendar_as_each_caller() -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("   -> alice's day: 10:00 design review, 15:00 dentist (") for line in lines)
    assert any(line.startswith("   -> bob's day: 09:00 stand-up (") for line in lines)
    assert "obtained by local-resource-server" in run.stdout
    assert any("could not call the calendar as you" in line and "invalid_grant" in line for line in lines)
