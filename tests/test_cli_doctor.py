"""`authsec doctor` run as a user runs it, against the local issuer and a notes server over
real HTTP: all clear, then one cause of the troubleshooting table at a time, each failing with
its own line, its fix and exit code 1."""

from __future__ import annotations

import json

import pytest
from helpers import Protected, closed_port, run_cli
from notes_mcp import notes_env

from authsec_sdk.cli.doctor import Check, passed, run_doctor
from authsec_sdk.cli.output import Status
from authsec_sdk.testing import LocalIssuer, generate_key


def failed_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("✗")]


def test_doctor_passes_for_a_healthy_server(issuer: LocalIssuer, notes_app: Protected) -> None:
    issuer.publish_jwk(generate_key("RS256", "weak", key_size=1024).public_jwk())  # skipped, warned
    env = notes_env(issuer, notes_app.url, AUTHSEC_BASELINE_SCOPES="notes:read")
    result = run_cli("doctor", "--url", notes_app.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in (
        "config",
        "issuer metadata",
        "signing keys",
        "introspection",
        "introspection (JWT)",
        "policy",
        "server metadata",
        "401 challenge",
    ):
        assert any(line.startswith(f"✓ {name}: ") for line in lines), (name, result.stdout)
    assert f"✓ signing keys: 1 usable: {issuer.current_key.kid} (RS256)" in lines
    assert "! signing keys: JWKS key 'weak' is never used: RSA key of 1024 bits is too weak" in result.stdout
    assert lines[-1] == "all checks passed"
    assert result.stderr == ""  # no spinner when stderr is not a terminal, no stray logs
    assert issuer.client_secret not in result.stdout


def _doctor(env: dict[str, str], *args: str) -> tuple[int, list[str], str]:
    result = run_cli("doctor", *args, env=env)
    return result.returncode, failed_lines(result.stdout), result.stdout


def test_wrong_audience(issuer: LocalIssuer, notes_app: Protected) -> None:
    """The config's resource_uri is not the one the server publishes: tokens clients get for
    the server would be refused with 401 audience mismatch by a server so configured."""
    configured = f"{notes_app.base}/other"
    code, failed, out = _doctor(notes_env(issuer, configured), "--url", notes_app.url)
    assert code == 1
    assert failed == [
        f"✗ server metadata: {notes_app.base}/.well-known/oauth-protected-resource/mcp names resource "
        f"'{notes_app.url}' but AUTHSEC_RESOURCE_URI is '{configured}': tokens for one are refused by "
        "the other (401 audience mismatch)"
    ], out
    assert "    fix: use one resource_uri for the server and this config" in out


def test_issuer_with_a_trailing_slash(issuer: LocalIssuer) -> None:
    code, failed, out = _doctor(
        notes_env(issuer, "http://127.0.0.1:1/mcp", AUTHSEC_ISSUER=f"{issuer.issuer}/")
    )
    assert code == 1
    assert failed == [
        f"✗ issuer metadata: {issuer.url}/.well-known/oauth-authorization-server names issuer "
        f"'{issuer.issuer}' but AUTHSEC_ISSUER is '{issuer.issuer}/'"
    ], out
    assert f"    fix: set AUTHSEC_ISSUER to exactly '{issuer.issuer}' (tokens' iss must match it too)" in out


def test_wrong_introspection_secret(issuer: LocalIssuer) -> None:
    env = notes_env(issuer, "http://127.0.0.1:1/mcp", AUTHSEC_INTROSPECTION_CLIENT_SECRET="not-the-secret")
    code, failed, out = _doctor(env)
    assert code == 1
    assert failed == ["✗ introspection: credentials rejected (HTTP 401 invalid_client)"], out
    assert "    fix: fix AUTHSEC_INTROSPECTION_CLIENT_ID / AUTHSEC_INTROSPECTION_CLIENT_SECRET" in out
    assert "not-the-secret" not in out


def test_issuer_that_does_not_introspect_jwts(issuer: LocalIssuer) -> None:
    issuer.introspects_jwts = False
    code, failed, out = _doctor(notes_env(issuer, "http://127.0.0.1:1/mcp"))
    assert code == 1
    assert failed == [
        "✗ introspection (JWT): this issuer does not introspect JWT access tokens (it answered 400)"
    ], out
    assert "    fix: use AUTHSEC_VALIDATION_MODE=jwt_only or jwt_or_introspect" in out


def test_incomplete_policy(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(state="needs_setup", policy_complete=False, reason="inventory not scanned")
    env = notes_env(
        issuer, "http://127.0.0.1:1/mcp", AUTHSEC_RESOURCE_SERVER_ID=issuer.backend.resource_server_id
    )
    code, failed, out = _doctor(env)
    assert code == 1
    assert failed == [
        "✗ policy: policy incomplete: state=needs_setup, reason=inventory not scanned; "
        "every tools/call gets 503"
    ], out
    assert "    fix: trigger a scan of the tool inventory" in out


def test_unreachable_backend(issuer: LocalIssuer) -> None:
    backend = f"http://127.0.0.1:{closed_port()}"
    env = notes_env(
        issuer,
        "http://127.0.0.1:1/mcp",
        AUTHSEC_RESOURCE_SERVER_ID=issuer.backend.resource_server_id,
        AUTHSEC_AUTHORIZATION_SERVER=backend,
    )
    code, failed, out = _doctor(env)
    assert code == 1
    (line,) = failed
    policy_url = f"{backend}/authsec/resource-servers/{issuer.backend.resource_server_id}/sdk-policy"
    assert line.startswith(f"✗ policy: GET {policy_url}: "), out  # then how the transport failed
    assert "activate the resource server in the admin UI" in out


def test_unusable_config_skips_the_live_checks(issuer: LocalIssuer) -> None:
    env = notes_env(issuer, "http://127.0.0.1:1/mcp", AUTHSEC_INTROSPECTION_CLIENT_SECRET="")
    result = run_cli("doctor", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["checks"][0] == {
        "name": "config",
        "status": "fail",
        "detail": "introspection client credentials are required",
        "fix": "set the AUTHSEC_* variables it names",
    }
    assert report["checks"][1]["status"] == "skip"


# ---------------------------------------------------------------------- more causes, in process
def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.mark.anyio
async def test_peers_down_or_misnamed(issuer: LocalIssuer) -> None:
    env = notes_env(issuer, "http://127.0.0.1:1/mcp")
    issuer.faults.jwks = "down"
    issuer.faults.introspection = "http_500"
    issuer.faults.metadata = issuer.faults.openid_metadata = "down"
    found = _by_name(await run_doctor(env, None))
    assert found["issuer metadata"].status is Status.WARN  # endpoints are configured: not needed
    assert found["signing keys"].status is Status.FAIL
    assert found["signing keys"].detail == "JWKS fetch failed (HTTP 503); no keys to serve until it recovers"
    assert found["introspection"].detail == "unavailable (HTTP 500)"
    assert not passed(list(found.values()))


@pytest.mark.anyio
async def test_discovered_endpoints_and_open_and_remote_policies(issuer: LocalIssuer) -> None:
    discovering = {
        "AUTHSEC_ISSUER": issuer.issuer,
        "AUTHSEC_RESOURCE_URI": "http://127.0.0.1:1/mcp",
        "AUTHSEC_DISCOVER_ENDPOINTS": "true",
    }
    found = _by_name(await run_doctor(discovering, None))
    assert found["issuer metadata"].status is Status.OK
    assert found["signing keys"].status is Status.OK  # from the discovered jwks_uri
    assert found["policy"].detail == "OPEN: any valid token may call any tool (tests only)"
    issuer.backend.set_policy(tools={"read": ["notes:read"]}, public_tools=["whoami"])
    remote = notes_env(
        issuer, "http://127.0.0.1:1/mcp", AUTHSEC_RESOURCE_SERVER_ID=issuer.backend.resource_server_id
    )
    found = _by_name(await run_doctor(remote, None))
    assert found["policy"].detail == "complete (state=ready): 2 tools mapped"
    assert passed(list(found.values()))


@pytest.mark.anyio
async def test_server_checks_for_the_wrong_url(issuer: LocalIssuer, notes_app: Protected) -> None:
    env = notes_env(issuer, notes_app.url)
    elsewhere = f"{notes_app.base}/elsewhere"
    found = _by_name(await run_doctor(env, elsewhere))
    assert found["server metadata"].detail == (
        f"{notes_app.base}/.well-known/oauth-protected-resource/elsewhere: HTTP 404"
    )
    moved = _by_name(
        await run_doctor({**env, "AUTHSEC_AUTHORIZATION_SERVER": "https://as.example"}, notes_app.url)
    )
    assert moved["server metadata"].status is Status.FAIL
    assert moved["server metadata"].fix.startswith("set AUTHSEC_AUTHORIZATION_SERVER")
    down = f"http://127.0.0.1:{closed_port()}/mcp"
    found = _by_name(await run_doctor(notes_env(issuer, down), down))
    assert found["server metadata"].status is Status.FAIL
    assert found["401 challenge"].detail.startswith(f"POST {down}: ")
    assert found["401 challenge"].fix == "check the URL and that the server runs"


@pytest.mark.anyio
async def test_without_a_config_the_server_is_still_checked_as_a_client_sees_it(notes_app: Protected) -> None:
    checks = await run_doctor({}, notes_app.url)
    assert [(c.name, c.status) for c in checks] == [
        ("config", Status.FAIL),
        ("issuer, keys, policy", Status.SKIP),
        ("server metadata", Status.OK),
        ("401 challenge", Status.OK),
        ("baseline scopes", Status.WARN),
    ]
    assert checks[0].detail.startswith("issuer is required")
