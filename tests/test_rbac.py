"""RBAC on the principal (pure): roles, groups, permissions and scoped permissions read at
configurable claim paths; requirement decisions for every condition, any and all."""

from __future__ import annotations

from typing import Any

import pytest

from authsec_sdk.runtime import Config, from_env
from authsec_sdk.runtime.claim_paths import ClaimPaths
from authsec_sdk.runtime.policy import Requirement, judge_calls
from authsec_sdk.runtime.policy.requirements import check_requirement
from authsec_sdk.runtime.policy.rules import ToolPolicy
from authsec_sdk.runtime.principal import Principal
from authsec_sdk.runtime.tokens.claims import principal_from_claims

SCOPED = [
    {"scope_type": "project", "scope_id": "proj-123", "permissions": ["document:read", "invoice:*"]},
    {"scope_type": "project", "scope_id": "proj-9", "permissions": "document:write"},
    {"scope_type": "project", "permissions": ["document:delete"]},  # no scope_id: ignored
    "garbage",
]


DEFAULT = ClaimPaths()


def principal(claims: dict[str, Any], paths: ClaimPaths = DEFAULT, scopes: str = "") -> Principal:
    return principal_from_claims({"sub": "u", "scope": scopes, **claims}, claim_paths=paths)


def test_roles_groups_and_permissions_at_default_paths() -> None:
    p = principal(
        {
            "roles": ["admin", "", 7],
            "groups": "ops dev",
            "permissions": ["document:read", "report:*", "broken", ":x", "y:", 3],
            "scoped_permissions": SCOPED,
        }
    )
    assert p.roles == {"admin"} and p.has_role("admin") and not p.has_role("Admin")
    assert p.in_group("ops") and p.in_group("dev") and not p.in_group("ops dev")
    assert p.permissions == {("document", "read"), ("report", "*")}
    assert p.has_permission("document", "read") and not p.has_permission("document", "write")
    assert p.has_permission("report", "delete") and p.has_permission("report", "*")
    assert not p.has_permission("document", "*")  # asking for every action needs the wildcard grant
    assert p.has_resource("report") and not p.has_resource("invoice")


def test_scoped_permissions() -> None:
    p = principal({"permissions": ["document:delete"], "scoped_permissions": SCOPED})
    assert p.has_permission_scoped("document", "read", "project", "proj-123")
    assert p.has_permission_scoped("invoice", "pay", "project", "proj-123")
    assert p.has_permission_scoped("document", "write", "project", "proj-9")
    assert not p.has_permission_scoped("document", "write", "project", "proj-123")
    assert not p.has_permission_scoped("document", "read", "tenant", "proj-123")
    # A tenant-wide grant does not reach into a scope.
    assert not p.has_permission_scoped("document", "delete", "project", "proj-123")


def test_claim_paths_are_dotted() -> None:
    keycloak = ClaimPaths(roles="realm_access.roles", groups="ext.org.groups", permissions="authz.perms")
    claims = {
        "realm_access": {"roles": ["admin"]},
        "ext": {"org": {"groups": ["ops"]}},
        "authz": {"perms": ["document:read"]},
        "roles": ["not-this-one"],
    }
    p = principal(claims, keycloak)
    assert p.roles == {"admin"} and p.groups == {"ops"} and p.has_permission("document", "read")
    # A path through something that is not an object finds nothing rather than failing.
    assert principal({"realm_access": ["admin"]}, keycloak).roles == frozenset()
    assert principal({"realm_access": "x"}, keycloak).roles == frozenset()


def test_claim_paths_from_config_and_env() -> None:
    env = {
        "AUTHSEC_ISSUER": "https://issuer.example",
        "AUTHSEC_RESOURCE_URI": "https://mcp.example/mcp",
        "AUTHSEC_JWKS_URL": "https://issuer.example/jwks",
        "AUTHSEC_ROLES_CLAIM": "realm_access.roles",
        "AUTHSEC_GROUPS_CLAIM": "grp",
        "AUTHSEC_PERMISSIONS_CLAIM": "authz.permissions",
        "AUTHSEC_SCOPED_PERMISSIONS_CLAIM": "authz.scoped",
    }
    cfg = from_env(env)
    cfg.validate()
    assert cfg.claim_paths == ClaimPaths("realm_access.roles", "grp", "authz.permissions", "authz.scoped")
    assert Config().claim_paths == ClaimPaths()


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "a. b", "a.\nb", 3])
def test_bad_claim_paths_are_refused(bad: Any) -> None:
    cfg = Config(
        issuer="https://i.example", resource_uri="https://r.example/mcp", jwks_url="https://i.example/k"
    )
    with pytest.raises(ValueError, match="roles_claim must be"):
        Config(**{**cfg.__dict__, "roles_claim": bad}).validate()


# ---------------------------------------------------------------------- requirements
ADMIN_CLAIMS = {"roles": ["admin"], "groups": ["ops"], "permissions": ["invoice:read"]}
ADMIN = principal(ADMIN_CLAIMS, scopes="notes:read")


@pytest.mark.parametrize(
    ("requirement", "allowed"),
    [
        (Requirement(), True),
        (Requirement(roles=frozenset({"admin"})), True),
        (Requirement(roles=frozenset({"root", "admin"})), True),
        (Requirement(roles=frozenset({"root"})), False),
        (Requirement(groups=frozenset({"ops"})), True),
        (Requirement(groups=frozenset({"dev"})), False),
        (Requirement(resources=frozenset({"invoice"})), True),
        (Requirement(resources=frozenset({"document"})), False),
        (Requirement(permissions=frozenset({"invoice:read"})), True),
        (Requirement(permissions=frozenset({"invoice:pay"})), False),
        (Requirement(scopes=frozenset({"notes:read"})), True),
        (Requirement(roles=frozenset({"root"}), groups=frozenset({"ops"})), True),
        (Requirement(roles=frozenset({"root"}), groups=frozenset({"ops"}), require_all=True), False),
        (Requirement(roles=frozenset({"admin"}), resources=frozenset({"invoice"}), require_all=True), True),
        (Requirement(roles=frozenset({"admin", "root"}), require_all=True), False),
    ],
)
def test_each_condition_any_and_all(requirement: Requirement, allowed: bool) -> None:
    assert check_requirement(requirement, ADMIN).allowed is allowed


def test_what_a_failed_requirement_names() -> None:
    anyone = Requirement(roles=frozenset({"root"}), groups=frozenset({"dev"}))
    assert check_requirement(anyone, ADMIN).unmet == ("role 'root'", "group 'dev'")
    every = Requirement(
        roles=frozenset({"admin", "root"}), scopes=frozenset({"notes:write"}), require_all=True
    )
    verdict = check_requirement(every, ADMIN)
    assert verdict.unmet == ("role 'root'", "scope 'notes:write'") and verdict.missing_scopes == ()
    # Only scopes missing: curable by step-up, named as scopes.
    scopes = Requirement(scopes=frozenset({"notes:read", "notes:write"}), require_all=True)
    assert check_requirement(scopes, ADMIN).missing_scopes == ("notes:write",)
    either = Requirement(roles=frozenset({"root"}), scopes=frozenset({"notes:write"}))
    verdict = check_requirement(either, ADMIN)
    assert verdict.missing_scopes == ("notes:write",) and verdict.unmet == ()


def test_judge_calls_orders_refusals() -> None:
    policy = ToolPolicy.from_tool_scopes({"a": [], "b": ["notes:write"], "c": []})
    requirements = {
        "a": (Requirement(scopes=frozenset({"notes:admin"}), require_all=True),),
        "c": (Requirement(roles=frozenset({"root"})),),
    }
    assert judge_calls(policy, requirements, ["a", "b"], ADMIN).required == ("notes:write", "notes:admin")
    assert judge_calls(policy, requirements, ["a", "b"], ADMIN).curable
    incurable = judge_calls(policy, requirements, ["b", "c"], ADMIN)
    assert incurable.unmet == ("role 'root'",) and incurable.tool == "c" and not incurable.curable
    assert judge_calls(policy, requirements, ["c", "x"], ADMIN).tool == "x"  # not in the policy at all
    assert judge_calls(policy, {}, ["a", "c"], ADMIN).allowed
    # OPEN skips the scope policy, never the declared requirements.
    assert judge_calls(ToolPolicy(open=True), requirements, ["c"], ADMIN).unmet == ("role 'root'",)
