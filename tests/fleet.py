"""The fleet tests' workers: `fleet_app` in uvicorn processes sharing one Redis, pointed at the
session's local issuer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import Worker
from authsec_sdk.testing.fleet import workers as worker_processes

#: The public URL every worker serves, as behind one load balancer: tokens' audience.
RESOURCE = "http://localhost:8000/mcp"


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
    """`fleet_app` in one process per ``envs`` entry."""
    with worker_processes("fleet_app:create_app", envs, app_dir=str(Path(__file__).parent)) as started:
        yield started


def url(worker: Worker) -> str:
    return f"{worker.base}/mcp"
