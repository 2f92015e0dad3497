"""The authsec command's parts in process: the login store, the doctor's pure judgements,
rendering, and the paths the subprocess tests leave out (refusals, missing extra)."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click import unstyle
from click.testing import CliRunner
from helpers import Protected, protected_app
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from notes_mcp import notes_env

from authsec_sdk.cli.app import cli
from authsec_sdk.cli.discovery import Probe, discover
from authsec_sdk.cli.doctor import judge_challenge, judge_introspection, judge_issuer_metadata, judge_keys
from authsec_sdk.cli.mcp_calls import CallFailed, LoginAuth, list_tools
from authsec_sdk.cli.output import Status, mark, progress
from authsec_sdk.cli.render import expiry
from authsec_sdk.cli.store import Login, LoginStore, StoreError, config_home
from authsec_sdk.client.challenge import Challenge
from authsec_sdk.client.errors import OutboundAuthError
from authsec_sdk.runtime.config import Config
from authsec_sdk.runtime.errors import TokenInvalidError
from authsec_sdk.testing import LocalIssuer

RESOURCE = "https://mcp.example.com/mcp"
CFG = Config(issuer="https://issuer.example", jwks_url="https://issuer.example/jwks", resource_uri=RESOURCE)


def a_login(resource: str = RESOURCE, **changes: object) -> Login:
    values: dict[str, object] = {
        "resource": resource,
        "authorization_server": "https://issuer.example",
        "token_endpoint": "https://issuer.example/token",
        "revocation_endpoint": None,
        "grant": "client_credentials",
        "client_id": "agent",
        "client_secret": "s3cret",
        "access_token": "the-token",
        "expires_at": 2_000_000_000.0,
        "scopes": ("notes:read",),
        "subject": "agent",
    }
    values.update(changes)
    return Login(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the login store
def test_store_round_trip_in_private_files(tmp_path: Path) -> None:
    store = LoginStore(tmp_path / "authsec")
    path = store.save(a_login())
    assert store.load(RESOURCE) == a_login()
    assert store.load("https://other.example/mcp") is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.save(a_login("https://a.example/mcp"))
    assert [login.resource for login in store.all()] == ["https://a.example/mcp", RESOURCE]
    assert store.delete(RESOURCE) and not store.delete(RESOURCE)
    assert "s3cret" not in repr(a_login()) and "the-token" not in repr(a_login())


def test_store_tightens_a_directory_others_could_read(tmp_path: Path) -> None:
    (tmp_path / "authsec" / "logins").mkdir(parents=True, mode=0o755)
    (tmp_path / "authsec" / "logins").chmod(0o755)
    LoginStore(tmp_path / "authsec").save(a_login())
    assert stat.S_IMODE((tmp_path / "authsec" / "logins").stat().st_mode) == 0o700


def test_store_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    store = LoginStore(tmp_path)
    store.save(a_login()).chmod(0o644)
    with pytest.raises(StoreError, match="readable by other users"):
        store.load(RESOURCE)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a login record"),
        ('{"resource": "x"}', "authorization_server is missing"),
        (json.dumps({**a_login().to_json(), "subject": 5}), "subject is not a string"),
        (json.dumps({**a_login().to_json(), "expires_at": "soon"}), "expires_at is not a number"),
        (json.dumps({**a_login().to_json(), "scopes": "a b"}), "scopes is not a list of strings"),
        (json.dumps(a_login("https://other.example/mcp").to_json()), "holds another resource's login"),
    ],
)
def test_store_refuses_malformed_records(tmp_path: Path, content: str, why: str) -> None:
    store = LoginStore(tmp_path)
    path = store.save(a_login())
    path.write_text(content)
    with pytest.raises(StoreError, match=why):
        store.load(RESOURCE)


def test_config_home_follows_xdg_when_absolute(tmp_path: Path) -> None:
    assert config_home({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path
    assert config_home({"XDG_CONFIG_HOME": "relative/dir"}) == Path.home() / ".config"
    assert config_home({}) == Path.home() / ".config"


# ---------------------------------------------------------------------- doctor judgements
def test_challenge_judgements() -> None:
    expected = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    good = Challenge(scopes=("notes:read",), resource_metadata=expected)
    assert [c.status for c in judge_challenge(Probe(401, (), good), expected)] == [Status.OK]
    assert judge_challenge(Probe(200, (), None), expected)[0].detail == (
        "a request without a token got HTTP 200, not 401"
    )
    assert judge_challenge(Probe(401, ('Basic realm="x"',), None), expected)[0].detail == (
        "401 without a Bearer challenge (WWW-Authenticate: ['Basic realm=\"x\"'])"
    )
    moved = Challenge(resource_metadata="https://elsewhere.example/md")
    assert "not 'https://mcp.example.com" in judge_challenge(Probe(401, (), moved), expected)[0].detail
    errored = Challenge(error="invalid_token", resource_metadata=expected)
    assert judge_challenge(Probe(401, (), errored), expected)[0].status is Status.FAIL
    bare = judge_challenge(Probe(401, (), Challenge(resource_metadata=expected)), expected)
    assert [(c.name, c.status) for c in bare] == [
        ("401 challenge", Status.OK),
        ("baseline scopes", Status.WARN),
    ]


def test_issuer_metadata_judgements() -> None:
    check, _ = judge_issuer_metadata(CFG, None, ["GET x: HTTP 404"])
    assert check.status is Status.WARN  # the server does not need it
    discovering = Config(issuer="https://issuer.example", discover_endpoints=True, resource_uri=RESOURCE)
    check, _ = judge_issuer_metadata(discovering, None, ["GET x: HTTP 404"])
    assert check.status is Status.FAIL and check.detail == "unreadable: GET x: HTTP 404"
    document = {"issuer": "https://issuer.example", "jwks_uri": "https://issuer.example/keys"}
    check, resolved = judge_issuer_metadata(discovering, ("https://issuer.example/md", document), [])
    assert check.status is Status.OK and resolved.jwks_url == "https://issuer.example/keys"
    check, _ = judge_issuer_metadata(CFG, ("https://issuer.example/md", {"issuer": 5}), [])
    assert check.status is Status.FAIL and check.fix == "fix the issuer's metadata"


def test_key_and_introspection_judgements() -> None:
    (empty,) = judge_keys((), [])
    assert empty.status is Status.FAIL and empty.detail == "the JWKS holds no usable key"
    (down,) = judge_keys(None, ["JWKS fetch failed (HTTP 503); no keys to serve until it recovers"])
    assert down.status is Status.FAIL and "HTTP 503" in down.detail
    odd = judge_introspection(TokenInvalidError("introspection refused the token"), {}, jwt=False)
    assert odd.status is Status.WARN


# ---------------------------------------------------------------------- rendering
def test_expiry_in_words() -> None:
    assert expiry(None) == "no expiry"
    assert expiry(1000 + 250, now=1000) == "in 4m 10s"
    assert expiry(1000 + 7300, now=1000) == "in 2h 1m"
    assert expiry(1000 - 5, now=1000) == "expired 5s ago"


def test_marks_fall_back_to_ascii() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert unstyle(mark(Status.OK, ascii_out)) == "+" and unstyle(mark(Status.FAIL, ascii_out)) == "x"
    assert unstyle(mark(Status.OK, io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))) == "✓"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_spins_only_on_a_terminal() -> None:
    terminal, piped = _Terminal(), io.StringIO()
    with progress("waiting", terminal), progress("waiting", piped):
        pass
    assert terminal.getvalue().startswith("\r| waiting") and terminal.getvalue().endswith("\r\x1b[2K")
    assert piped.getvalue() == ""


def test_main_without_the_extra_says_how_to_install() -> None:
    hide_click = "import sys; sys.modules['click'] = None; from authsec_sdk.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", hide_click], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr == "the authsec command needs the cli extra: pip install 'authsec-sdk[cli]'\n"


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    commands = ["doctor"], ["token", "inspect"], ["login"], ["status"], ["logout"], ["tools"], ["call"]
    for command in commands:
        result = runner.invoke(cli, [*command, "--help"])
        assert result.exit_code == 0, command
        example = result.output.split("Example:\n", 1)[1].splitlines()[0]
        assert f"authsec {' '.join(command)}" in example, result.output
        assert "Exit codes:\n    0  success\n" in result.output and "--json" in result.output
    for group in ([], ["token"]):
        example = runner.invoke(cli, [*group, "--help"]).output.split("Example:\n", 1)[1].splitlines()[0]
        assert f"authsec {' '.join(group)}" in example


# ---------------------------------------------------------------------- refusals, in process
def test_logout_without_a_revocation_endpoint_deletes(tmp_path: Path) -> None:
    LoginStore(tmp_path / "authsec").save(a_login())
    result = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path)}).invoke(cli, ["logout"])
    assert result.exit_code == 0
    assert result.stdout == f"✓ {RESOURCE}: deleted (no revocation endpoint)\n"
    assert LoginStore(tmp_path / "authsec").all() == []


def test_login_with_a_wrong_secret_fails(issuer: LocalIssuer, notes_app: Protected, tmp_path: Path) -> None:
    issuer.authorization.register_client("agent", scopes=["notes:read"])
    env = {"XDG_CONFIG_HOME": str(tmp_path), "AUTHSEC_CLIENT_SECRET": "wrong"}
    result = CliRunner(env=env).invoke(cli, ["login", notes_app.url, "--client-id", "agent"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"authsec: login failed: token endpoint {issuer.url}/oauth/token refused: invalid_client\n"
    )
    assert not (tmp_path / "authsec").exists()


@pytest.mark.anyio
async def test_discovery_refuses_a_server_that_asks_for_no_token(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(OutboundAuthError, match="answered HTTP 405 without a token, not 401"):
        await discover(http, issuer.jwks_url, within=5)


@pytest.mark.anyio
async def test_a_refused_environment_token_is_reported(issuer: LocalIssuer, notes_app: Protected) -> None:
    stale = issuer.mint(subject="ci-job", scopes=["notes:read"], audience="https://other.example/mcp")
    auth = LoginAuth(login=None, store=None, fixed=stale, step_up=False)
    with pytest.raises(CallFailed) as info:
        await list_tools(notes_app.url, auth)
    assert info.value.refused is not None
    assert str(info.value) == "the server refused AUTHSEC_ACCESS_TOKEN (401)"
    assert auth.refusal is not None and auth.refusal.error == "invalid_token"
    with pytest.raises(ValueError, match="a login or a fixed token"):
        LoginAuth(login=None, store=None, fixed=None, step_up=False)


def test_inspect_with_an_unusable_config_is_a_usage_error(issuer: LocalIssuer) -> None:
    env = {**notes_env(issuer, RESOURCE), "AUTHSEC_POLICY_MODE": "sometimes"}
    result = CliRunner(env=env).invoke(cli, ["token", "inspect", "abc"])
    assert result.exit_code == 2
    assert "AUTHSEC_POLICY_MODE has an invalid value" in result.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("why", ["expired", "revoked"])
async def test_a_stored_login_is_renewed_by_its_grant(
    issuer: LocalIssuer, notes_app: Protected, tmp_path: Path, why: str
) -> None:
    """An expired login gets a new token before the request; a refused one (401) after it."""
    agent = issuer.authorization.register_client("agent", scopes=["notes:read"])
    old = issuer.mint(subject="agent", scopes=["notes:read"], audience=notes_app.url)
    if why == "revoked":
        issuer.revoke(old)
    store = LoginStore(tmp_path)
    expires_at = time.time() - 10 if why == "expired" else time.time() + 300
    login = a_login(
        notes_app.url,
        token_endpoint=issuer.authorization.token_endpoint,
        client_secret=agent.client_secret,
        access_token=old,
        expires_at=expires_at,
    )
    store.save(login)
    auth = LoginAuth(login=login, store=store, fixed=None, step_up=False)
    assert "read" in [tool["name"] for tool in await list_tools(notes_app.url, auth)]
    (request,) = issuer.authorization.token_requests
    assert request.resources == (notes_app.url,) and request.scope == "notes:read"
    renewed = store.load(notes_app.url)
    assert renewed is not None and renewed.access_token not in (old, "")
    assert renewed.expires_at is not None and renewed.expires_at > time.time()


def test_an_environment_token_is_never_stepped_up(issuer: LocalIssuer, notes_app: Protected) -> None:
    token = issuer.mint(subject="ci-job", scopes=["notes:read"], audience=notes_app.url)
    runner = CliRunner(env={"AUTHSEC_ACCESS_TOKEN": token})
    result = runner.invoke(cli, ["call", notes_app.url, "wipe", "--step-up"])
    assert result.exit_code == 3
    assert result.stdout == (
        "✗ 403 insufficient_scope: needs any one of notes:admin; AUTHSEC_ACCESS_TOKEN is used as it "
        "is: get a token with them, or unset it and log in\n"
    )
    assert issuer.authorization.token_requests == []
    allowed = runner.invoke(cli, ["call", notes_app.url, "whoami"])
    assert (allowed.exit_code, allowed.stdout) == (0, "ci-job\n")


def test_inspect_refuses_a_malformed_token_as_the_middleware_does() -> None:
    env = {
        "AUTHSEC_ISSUER": "https://issuer.example",
        "AUTHSEC_JWKS_URL": "https://issuer.example/jwks",
        "AUTHSEC_RESOURCE_URI": RESOURCE,
        "AUTHSEC_TOOL_SCOPES": '{"read": ["notes:read"]}',
    }
    result = CliRunner(env=env).invoke(
        cli, ["token", "inspect", "-", "--tool", "read", "--json"], input="a b\n"
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["jwt"] is False and report["claims"] is None
    assert report["validation"]["status"] == 400
    assert report["validation"]["reason"] == "invalid_request: malformed bearer token"
    assert report["call"]["status"] == 400


def test_human_output_of_a_login_session(issuer: LocalIssuer, notes_app: Protected, tmp_path: Path) -> None:
    """What a person sees: login (with --show-token), tools, a step-up the server does not grant,
    one it grants, and logout."""
    agent = issuer.authorization.register_client("agent", scopes=["notes:read"])
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path), "AUTHSEC_CLIENT_SECRET": agent.client_secret})
    login = runner.invoke(cli, ["login", notes_app.url, "--client-id", "agent", "--show-token"])
    assert login.exit_code == 0, login.output
    first, token = login.stdout.splitlines()
    assert first.startswith(f"✓ logged in to {notes_app.url} as agent (scopes notes:read, expires in 4m")
    assert issuer.introspection_answer(token)["sub"] == "agent"

    listed = runner.invoke(cli, ["tools", notes_app.url])
    assert listed.stdout.splitlines()[:2] == ["whoami", "read"]

    refused = runner.invoke(cli, ["call", notes_app.url, "wipe", "--step-up"])
    assert refused.exit_code == 3
    assert refused.stdout == (
        "✗ 403 insufficient_scope: needs any one of notes:admin (after step-up to notes:read notes:admin: "
        "the authorization server did not grant them)\n"
    )
    issuer.authorization.allow("agent", ["notes:admin"])
    wiped = runner.invoke(cli, ["call", notes_app.url, "wipe", "--step-up"])
    assert (wiped.exit_code, wiped.stdout) == (0, "wiped\n")
    assert wiped.stderr == "re-authorized for scopes notes:read notes:admin\n"

    assert runner.invoke(cli, ["logout"]).stdout == f"✓ {notes_app.url}: revoked and deleted\n"
    assert runner.invoke(cli, ["logout"]).stdout == "no stored logins\n"
    gone = runner.invoke(cli, ["logout", notes_app.url])
    assert (gone.exit_code, gone.stderr) == (3, f"authsec: not logged in to {notes_app.url}\n")


def test_a_failed_revocation_still_deletes_the_login(issuer: LocalIssuer, tmp_path: Path) -> None:
    store = LoginStore(tmp_path / "authsec")
    store.save(a_login(revocation_endpoint=issuer.jwks_url))  # answers a POST with 405
    result = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path)}).invoke(cli, ["logout", "--json"])
    assert result.exit_code == 1
    (outcome,) = json.loads(result.stdout)["logged_out"]
    assert outcome == {
        "resource": RESOURCE,
        "revoked": False,
        "error": f"revocation at {issuer.jwks_url} failed: HTTP 405",
    }
    assert store.all() == []


def test_status_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path), "AUTHSEC_ACCESS_TOKEN": "t"})
    assert runner.invoke(cli, ["status"]).stdout == (
        "AUTHSEC_ACCESS_TOKEN is set: it is used as it is for every server\n"
        "no stored logins (authsec login MCP_URL ...)\n"
    )
    LoginStore(tmp_path / "authsec").save(a_login()).chmod(0o640)
    unusable = runner.invoke(cli, ["status"])
    assert unusable.exit_code == 2 and "readable by other users" in unusable.stderr
    for arguments, why in (("{", "not JSON"), ("[1]", "must be a JSON object")):
        bad = runner.invoke(cli, ["call", RESOURCE, "read", "--args", arguments])
        assert bad.exit_code == 2 and why in bad.stderr
    empty = runner.invoke(cli, ["token", "inspect", "-"], input="")
    assert (empty.exit_code, empty.stderr) == (2, "authsec: no token on standard input\n")


def test_inspect_an_opaque_token_by_introspection(issuer: LocalIssuer, notes_app: Protected) -> None:
    env = notes_env(issuer, notes_app.url, AUTHSEC_VALIDATION_MODE="jwt_or_introspect")
    token = issuer.mint_opaque(subject="bob", scopes=["notes:admin"], audience=notes_app.url)
    result = CliRunner(env=env).invoke(cli, ["token", "inspect", token, "--tool", "wipe"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["opaque token (not a JWT): only introspection can explain it", "✓ token: 200 valid"]
    assert lines[2].startswith("    subject bob, client -, scopes notes:admin, expires in 4m")
    assert lines[3] == "✓ tools/call wipe: 200 allowed"


def test_inspect_judges_with_the_remote_policy(issuer: LocalIssuer) -> None:
    env = notes_env(issuer, RESOURCE, AUTHSEC_RESOURCE_SERVER_ID=issuer.backend.resource_server_id)
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=RESOURCE)
    runner = CliRunner(env=env)
    issuer.backend.set_policy(tools={"search": ["notes:read"]})  # the backend's map, not tool_scopes
    allowed = runner.invoke(cli, ["token", "inspect", token, "--tool", "search"])
    assert (allowed.exit_code, allowed.stdout.splitlines()[-1]) == (0, "✓ tools/call search: 200 allowed")
    unmapped = runner.invoke(cli, ["token", "inspect", token, "--tool", "read", "--json"])
    assert json.loads(unmapped.stdout)["call"]["reason"] == (
        "tool not permitted: 'read' is not in the policy, so no scope allows it"
    )
    issuer.backend.set_policy(state="needs_setup", policy_complete=False)
    incomplete = runner.invoke(cli, ["token", "inspect", token, "--tool", "search", "--json"])
    assert incomplete.exit_code == 1
    assert json.loads(incomplete.stdout)["call"]["status"] == 503
    assert json.loads(incomplete.stdout)["call"]["reason"] == "policy_incomplete: state=needs_setup"


def test_an_env_file_is_read_as_the_server_would(issuer: LocalIssuer, tmp_path: Path) -> None:
    """``--env-file`` values win over the environment's; the rest still comes from it."""
    values = notes_env(issuer, RESOURCE)
    env_file = tmp_path / "server.env"
    env_file.write_text(
        "# the deployment's file\n"
        + "".join(f"{name}={value!r}\n" for name, value in values.items() if name != "AUTHSEC_ISSUER")
        + "AUTHSEC_INTROSPECTION_CLIENT_SECRET=from-the-file\n"
    )
    shell = {"AUTHSEC_ISSUER": issuer.issuer, "AUTHSEC_INTROSPECTION_CLIENT_SECRET": issuer.client_secret}
    result = CliRunner(env=shell).invoke(cli, ["doctor", "--env-file", str(env_file), "--json"])
    assert result.exit_code == 1
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["config"]["status"] == "ok"
    assert checks["introspection"]["detail"] == "credentials rejected (HTTP 401 invalid_client)"


def test_no_mcp_server_at_the_url_is_a_failure_not_a_refusal(issuer: LocalIssuer) -> None:
    result = CliRunner(env={"AUTHSEC_ACCESS_TOKEN": "t"}).invoke(
        cli, ["tools", f"{issuer.url}/mcp", "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "Not Found", "refused": False, "missing_scopes": []}


def test_a_tool_error_is_exit_1(issuer: LocalIssuer) -> None:
    server = MCPServer("failing")

    @server.tool()
    def broken() -> str:
        raise ToolError("the disk is full")

    @server.tool()
    def count() -> dict[str, int]:
        return {"notes": 3}

    with protected_app(issuer, server, tool_scopes={"broken": [], "count": []}) as app:
        token = issuer.mint(subject="alice", audience=app.url)
        runner = CliRunner(env={"AUTHSEC_ACCESS_TOKEN": token})
        failed = runner.invoke(cli, ["call", app.url, "broken"])
        assert failed.exit_code == 1
        assert "the disk is full" in failed.stdout and failed.stdout.endswith(
            "✗ the tool reported an error\n"
        )
        counted = runner.invoke(cli, ["call", app.url, "count", "--json"])
        assert counted.exit_code == 0
        assert json.loads(counted.stdout)["structured_content"] == {"notes": 3}
