"""Worker processes for the fleet tests: the same app (`fleet_app`) in separate uvicorn processes
on their own loopback ports, sharing one Redis, started and stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis_peer import free_port

from authsec_sdk.testing import LocalIssuer

#: The public URL every worker serves, as behind one load balancer: tokens' audience.
RESOURCE = "http://localhost:8000/mcp"
_TESTS = Path(__file__).parent


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    base: str

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.base}/health").json()
        return answer


def issuer_env(issuer: LocalIssuer) -> dict[str, str]:
    """The ``AUTHSEC_*`` variables pointing a worker at ``issuer`` (introspection only)."""
    return {
        "AUTHSEC_ISSUER": issuer.issuer,
        "AUTHSEC_INTROSPECTION_URL": issuer.introspection_url,
        "AUTHSEC_INTROSPECTION_CLIENT_ID": issuer.client_id,
        "AUTHSEC_INTROSPECTION_CLIENT_SECRET": issuer.client_secret,
        "AUTHSEC_RESOURCE_URI": RESOURCE,
        "AUTHSEC_HTTP_TIMEOUT": "2",
    }


@contextmanager
def workers(*envs: Mapping[str, str]) -> Iterator[list[Worker]]:
    """One uvicorn process serving `fleet_app` per ``env`` (added to ours), started side by
    side as ``--workers N`` starts them; yields once all serve."""
    started: list[Worker] = []
    try:
        for env in envs:
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", "fleet_app:create_app", "--factory"]
            command += ["--app-dir", str(_TESTS), "--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen([*command, "--log-level", "warning"], env={**os.environ, **env})
            started.append(Worker(process, f"http://127.0.0.1:{port}"))
        for running in started:
            _wait_until_serving(running)
        yield started
    finally:
        for running in started:
            running.process.terminate()
        for running in started:
            running.process.wait(timeout=10)


def _wait_until_serving(running: Worker) -> None:
    deadline = time.monotonic() + 30
    while True:
        if running.process.poll() is not None:
            raise RuntimeError("the worker exited at startup (see its log above)")
        try:
            if httpx.get(f"{running.base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not start in time")
        time.sleep(0.05)
