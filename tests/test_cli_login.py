"""`authsec login`, `status`, `tools`, `call` and `logout` run as a user runs them, against the
local issuer's authorization server and a notes server over real HTTP, with the official MCP
client inside the command."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
from helpers import Protected, cli_process, run_cli
from notes_mcp import NOTES_SCOPES

from authsec_sdk.testing import LocalIssuer

CODE_GRANTS = ("authorization_code", "refresh_token")


def test_login_call_with_step_up_and_logout(
    issuer: LocalIssuer, notes_app: Protected, tmp_path: Path
) -> None:
    server = issuer.authorization
    agent = server.register_client("agent", scopes=["notes:read"])
    # The secret comes from the environment, not the command line others can see.
    env = {"XDG_CONFIG_HOME": str(tmp_path), "AUTHSEC_CLIENT_SECRET": agent.client_secret}

    login = run_cli("login", notes_app.url, "--client-id", "agent", "--json", env=env)
    assert login.returncode == 0, login.stdout + login.stderr
    summary = json.loads(login.stdout)
    (granted,) = server.token_requests
    assert granted.resources == (notes_app.url,) and granted.granted == "notes:read"
    assert summary["resource"] == notes_app.url and summary["subject"] == "agent"
    assert summary["scopes"] == ["notes:read"] and summary["revocable"] is True
    assert "access_token" not in summary and agent.client_secret not in login.stdout
    stored = Path(summary["stored"])
    assert stored.parent == tmp_path / "authsec" / "logins"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(stored.parent.parent.stat().st_mode) == 0o700
    first_token = json.loads(stored.read_text())["access_token"]

    status = run_cli("status", env=env)
    assert status.returncode == 0
    assert status.stdout.startswith(f"✓ {notes_app.url}  subject agent  scopes notes:read  expires in 4m")
    assert first_token not in status.stdout
    shown = run_cli("status", "--json", "--show-token", env=env)
    (listed,) = json.loads(shown.stdout)["logins"]
    assert listed["access_token"] == first_token and agent.client_secret not in shown.stdout

    denied = run_cli("call", notes_app.url, "wipe", env=env)
    assert denied.returncode == 3
    assert denied.stdout == (
        "✗ 403 insufficient_scope: needs any one of notes:admin; run again with --step-up to re-authorize "
        "for them\n"
    )

    server.allow("agent", ["notes:admin"])  # an administrator approves more
    stepped = run_cli("call", notes_app.url, "wipe", "--step-up", "--json", env=env)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    answer = json.loads(stepped.stdout)
    assert answer["content"][0]["text"] == "wiped" and answer["is_error"] is False
    assert answer["stepped_up"] == ["notes:read", "notes:admin"]
    latest = server.token_requests[-1]
    assert latest.scope == "notes:read notes:admin" and latest.resources == (notes_app.url,)
    kept = json.loads(stored.read_text())
    assert kept["scopes"] == ["notes:read", "notes:admin"]  # the broader token is kept

    logout = run_cli("logout", notes_app.url, env=env)
    assert logout.returncode == 0
    assert logout.stdout == f"✓ {notes_app.url}: revoked and deleted\n"
    assert server.revocations == [kept["access_token"]]
    assert issuer.introspection_answer(kept["access_token"]) == {"active": False}
    assert not stored.exists()
    assert run_cli("call", notes_app.url, "read", env=env).returncode == 3  # not logged in any more


def test_tools_with_a_token_from_the_environment(
    issuer: LocalIssuer, notes_app: Protected, tmp_path: Path
) -> None:
    token = issuer.mint(subject="ci-job", scopes=["notes:read"], audience=notes_app.url)
    env = {"XDG_CONFIG_HOME": str(tmp_path), "AUTHSEC_ACCESS_TOKEN": token}
    listed = run_cli("tools", notes_app.url, "--json", env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    names = [tool["name"] for tool in json.loads(listed.stdout)["tools"]]
    # The middleware lists only what the token may call: everything but the admin tool.
    assert sorted(names) == sorted(
        name for name, scopes in NOTES_SCOPES.items() if "notes:admin" not in scopes
    )
    assert issuer.authorization.token_requests == []  # used as it is: no login, no token request
    assert not (tmp_path / "authsec").exists()


def test_browser_login_through_the_loopback_redirect_then_refresh_and_logout(
    issuer: LocalIssuer, notes_app: Protected, tmp_path: Path
) -> None:
    """``login`` without a secret: the user's browser flow, driven here by an HTTP client doing
    what a browser does (open the URL, follow the redirect to the CLI's loopback listener)."""
    server = issuer.authorization
    server.register_client("my-cli", scopes=["notes:read"], grant_types=CODE_GRANTS, public=True)
    server.approve_as = "alice"
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with cli_process(
        "login", notes_app.url, "--client-id", "my-cli", "--no-browser", "--json", env=env
    ) as proc:
        assert proc.stderr is not None
        prompt = proc.stderr.readline()  # "Open this URL to log in: <url>"
        url = prompt.rsplit(" ", 1)[-1].strip()
        assert url.startswith(f"{issuer.url}/oauth/authorize?") and "code_challenge_method=S256" in url
        landed = httpx.get(url, follow_redirects=True)
        assert landed.status_code == 200 and "Login received" in landed.text
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    summary = json.loads(out)
    assert summary["subject"] == "alice" and summary["scopes"] == ["notes:read"]
    (redeemed,) = server.token_requests
    assert (redeemed.grant_type, redeemed.resources) == ("authorization_code", (notes_app.url,))
    stored = Path(summary["stored"])
    saved = json.loads(stored.read_text())
    assert saved["refresh_token"] and saved["client_secret"] is None

    # Expired: the next call renews it with the refresh token, without the user.
    stored.write_text(json.dumps({**saved, "expires_at": 1}))
    called = run_cli("call", notes_app.url, "read", env=env)
    assert called.returncode == 0, called.stdout + called.stderr
    assert [r.grant_type for r in server.token_requests] == ["authorization_code", "refresh_token"]
    renewed = json.loads(stored.read_text())
    assert renewed["refresh_token"] != saved["refresh_token"]  # rotated, and the new one kept

    assert run_cli("logout", notes_app.url, env=env).returncode == 0
    assert renewed["refresh_token"] in server.revocations  # the whole grant revoked first


def test_a_browser_login_with_a_forged_state_is_refused(
    issuer: LocalIssuer, notes_app: Protected, tmp_path: Path
) -> None:
    issuer.authorization.register_client(
        "my-cli", scopes=["notes:read"], grant_types=CODE_GRANTS, public=True
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with cli_process("login", notes_app.url, "--client-id", "my-cli", "--no-browser", env=env) as proc:
        assert proc.stderr is not None
        url = proc.stderr.readline().rsplit(" ", 1)[-1].strip()
        redirect = httpx.get(url).headers["location"]
        forged = redirect.replace("state=", "state=forged")
        httpx.get(forged)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "state is not ours" in err
    assert issuer.authorization.token_requests == []  # the code was never redeemed
    assert not list(tmp_path.rglob("*.json"))  # and nothing was stored
