"""The local AuthSec backend: what its SDK endpoints answer, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authsec_sdk.testing import LocalIssuer


def policy_url(issuer: LocalIssuer, rsid: str | None = None) -> str:
    return f"{issuer.url}/authsec/resource-servers/{rsid or issuer.backend.resource_server_id}/sdk-policy"


def manifest_url(issuer: LocalIssuer) -> str:
    return f"{issuer.url}/authsec/resource-servers/{issuer.backend.resource_server_id}/sdk-manifest"


def creds(issuer: LocalIssuer) -> tuple[str, str]:
    return (issuer.client_id, issuer.client_secret)


def test_policy_document_in_both_shapes(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["r"]}, public_tools=["ping"], scopes_supported=["r", "w"], reason="")
    body = httpx.get(policy_url(issuer), auth=creds(issuer)).json()
    assert body == {
        "state": "ready",
        "policy_complete": True,
        "reason": "",
        "generation": 2,
        "scopes_supported": ["r", "w"],
        "tool_policy": [
            {"name": "ping", "is_public": True, "required_scopes": []},
            {"name": "read", "is_public": False, "required_scopes": ["r"]},
        ],
    }
    backend.set_policy(shape="old")
    assert httpx.get(policy_url(issuer), auth=creds(issuer)).json() == {"tools": {"ping": [], "read": ["r"]}}
    assert backend.policy.generation == 3 and backend.policy_requests == 2


def test_set_policy_keeps_a_given_generation(issuer: LocalIssuer) -> None:
    assert (
        issuer.backend.set_policy(generation=42, state="needs_setup", policy_complete=False).generation == 42
    )


@pytest.mark.parametrize(
    "auth", [None, ("local-resource-server", "wrong"), ("someone-else", "x")], ids=["none", "secret", "user"]
)
def test_both_endpoints_require_the_client_credentials(issuer: LocalIssuer, auth: Any) -> None:
    assert httpx.get(policy_url(issuer), auth=auth).status_code == 401
    assert httpx.put(manifest_url(issuer), json={"tools": []}, auth=auth).status_code == 401
    assert issuer.backend.manifests == []


def test_unknown_resource_server_is_404(issuer: LocalIssuer) -> None:
    assert httpx.get(policy_url(issuer, "another-rs"), auth=creds(issuer)).status_code == 404


@pytest.mark.parametrize(("fault", "status"), [("down", 503), ("http_500", 500)])
def test_policy_faults(issuer: LocalIssuer, fault: Any, status: int) -> None:
    issuer.backend.policy_fault = fault
    assert httpx.get(policy_url(issuer), auth=creds(issuer)).status_code == status


def test_malformed_fault_answers_broken_json(issuer: LocalIssuer) -> None:
    issuer.backend.policy_fault = "malformed"
    response = httpx.get(policy_url(issuer), auth=creds(issuer))
    with pytest.raises(ValueError):
        response.json()


def test_manifest_is_kept_and_counted(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    assert backend.published_tools is None
    tools = [
        {"name": "read", "description": "Read", "input_schema": {"type": "object"}, "suggested_scopes": ["r"]}
    ]
    response = httpx.put(manifest_url(issuer), json={"tools": tools}, auth=creds(issuer))
    assert response.status_code == 200 and response.json() == {"accepted": 1}
    assert backend.published_tools == tools and backend.manifest_requests == 1


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"tools": {}},
        {"tools": [{"description": "no name"}]},
        {"tools": [{"name": "t", "inputSchema": {}}]},
    ],
)
def test_manifest_payload_is_validated(issuer: LocalIssuer, body: Any) -> None:
    response = httpx.put(manifest_url(issuer), json=body, auth=creds(issuer))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert issuer.backend.manifests == []


def test_manifest_fault(issuer: LocalIssuer) -> None:
    issuer.backend.manifest_fault = "down"
    assert httpx.put(manifest_url(issuer), json={"tools": []}, auth=creds(issuer)).status_code == 503
    assert issuer.backend.manifests == [] and issuer.backend.manifest_requests == 1
