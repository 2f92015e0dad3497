"""RBAC checks, local and without network calls beyond the issuer's JWKS.

`AuthzClient` verifies a token against the issuer's keys and answers permission checks;
claim paths point at where the issuer puts roles and permissions (here Keycloak-style).
Run: `.venv/bin/python examples/rbac_checks.py`.
"""

from __future__ import annotations

from authsec_sdk.authz import AuthzClient
from authsec_sdk.testing import LocalIssuer

RESOURCE_URI = "https://mcp.example.com/mcp"


def main() -> None:
    with LocalIssuer() as issuer:
        cfg = issuer.config(
            resource_uri=RESOURCE_URI,
            roles_claim="realm_access.roles",
            permissions_claim="authz.permissions",
        )
        claims = {
            "realm_access": {"roles": ["editor"]},
            "authz": {"permissions": ["document:read", "invoice:*"]},
            "scoped_permissions": [
                {"scope_type": "project", "scope_id": "proj-123", "permissions": ["document:write"]}
            ],
        }
        client = AuthzClient(issuer.mint(subject="alice", audience=RESOURCE_URI, claims=claims), cfg)
        checks = {
            "document:read": client.check_permission("document", "read"),
            "document:write": client.check_permission("document", "write"),
            "invoice:pay (by invoice:*)": client.check_permission("invoice", "pay"),
            "document:write in proj-123": client.check_permission_scoped(
                "document", "write", scope_type="project", scope_id="proj-123"
            ),
            "document:write in proj-9": client.check_permission_scoped(
                "document", "write", scope_type="project", scope_id="proj-9"
            ),
        }
        for check, allowed in checks.items():
            print(f"{check:30} {'allowed' if allowed else 'denied'}")


if __name__ == "__main__":
    main()
