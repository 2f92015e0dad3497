"""The ``authsec`` command line: each command parses its options, runs one module's function
and renders the result. Exit codes are in `output`."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import anyio
import click
import httpx

from ..client.errors import OutboundAuthError
from ..runtime.tokens.bearer import MAX_TOKEN_BYTES
from . import render
from .browser_login import BrowserLogin
from .discovery import discover
from .doctor import passed, run_doctor
from .inspect_token import inspect_token
from .login import ClientCredentialsLogin, LoginMethod, record, revoke
from .output import (
    FAILED,
    NOT_AUTHORIZED,
    OK,
    USAGE,
    Status,
    emit_json,
    epilog,
    line,
    progress,
)
from .settings import environment, load_config
from .store import Login, LoginStore, StoreError

if TYPE_CHECKING:  # the mcp client loads only for the commands that call a server
    from .mcp_calls import CallFailed, LoginAuth

T = TypeVar("T")

#: Seconds for each call the login makes.
LOGIN_TIMEOUT = 10.0
ENV_TOKEN = "AUTHSEC_ACCESS_TOKEN"

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
env_file_option = click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read AUTHSEC_* variables from this file too (its values win over the environment).",
)
show_token_option = click.option("--show-token", is_flag=True, help="Print the access token too.")


def _run(message: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` with a progress line on a terminal."""
    with progress(message):
        return anyio.run(work)


def _store() -> LoginStore:
    return LoginStore.for_user(os.environ)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"authsec: {message}", err=True)
    raise SystemExit(code)


@click.group(epilog=epilog("authsec doctor --url https://mcp.example.com/mcp"))
@click.version_option(package_name="authsec-sdk")
def cli() -> None:
    """Diagnose an MCP server protected by authsec-sdk, explain a token, log in and call tools."""
    # The runtime's own log lines are turned into results here; never let them spill raw.
    logging.getLogger("authsec").addHandler(logging.NullHandler())


@cli.command(
    short_help="Check the config, issuer, keys, policy and server.",
    epilog=epilog("authsec doctor --env-file .env --url https://mcp.example.com/mcp"),
)
@click.option("--url", "mcp_url", help="The MCP endpoint's public URL: check its metadata and 401 too.")
@env_file_option
@json_option
def doctor(mcp_url: str | None, env_file: Path | None, as_json: bool) -> None:
    """Check the server's configuration (AUTHSEC_* variables, as the server reads them) and the
    issuer, keys, introspection, policy and, with --url, the server itself. Exit 0 when every
    check passes, 1 otherwise."""
    environ = environment(env_file)
    results = _run("checking", lambda: run_doctor(environ, mcp_url))
    if as_json:
        emit_json({"passed": passed(results), "checks": [c.to_json() for c in results]})
    else:
        render.checks(results)
    raise SystemExit(OK if passed(results) else FAILED)


@cli.group(epilog=epilog('printf %s "$TOKEN" | authsec token inspect - --tool read_notes'))
def token() -> None:
    """Explain access tokens."""


def _read_token(given: str | None) -> str:
    if given is not None and given != "-":
        return given.strip()
    if sys.stdin.isatty():
        _fail("give a token, or pipe one in with '-' (keeps it out of your shell history)", USAGE)
    text = sys.stdin.read(MAX_TOKEN_BYTES + 2).strip()
    if not text:
        _fail("no token on standard input", USAGE)
    return text


@token.command(
    "inspect",
    short_help="Show a token and what the server would answer to it.",
    epilog=epilog('printf %s "$TOKEN" | authsec token inspect - --tool read_notes'),
)
@click.argument("token_text", metavar="[TOKEN | -]", required=False)
@click.option("--tool", help="Also say what a tools/call of this tool would get.")
@env_file_option
@json_option
def inspect_command(token_text: str | None, tool: str | None, env_file: Path | None, as_json: bool) -> None:
    """Show a token's header and claims (never its signature), verify it as the server
    configured by the AUTHSEC_* variables would, and with --tool say whether the middleware
    would allow the call, answer 401 and why, or 403 and the scopes to ask for. Exit 0 when the
    token (and the call) would pass, 1 otherwise."""
    text = _read_token(token_text)
    try:
        cfg = load_config(environment(env_file))
    except ValueError as exc:
        _fail(f"the AUTHSEC_* configuration is unusable: {exc}", USAGE)
    result = _run("verifying", lambda: inspect_token(cfg, text, tool))
    if as_json:
        emit_json(result.to_json())
    else:
        render.report(result)
    verdict = result.call if result.call is not None else result.validation
    raise SystemExit(OK if verdict.allowed else FAILED)


@cli.command(
    short_help="Get and store a token for an MCP server.",
    epilog=epilog(
        "authsec login https://mcp.example.com/mcp --client-id my-cli --no-browser\n"
        "  AUTHSEC_CLIENT_SECRET=... authsec login https://mcp.example.com/mcp --client-id agent"
    ),
)
@click.argument("mcp_url")
@click.option(
    "--client-id", envvar="AUTHSEC_CLIENT_ID", required=True, help="OAuth client id [AUTHSEC_CLIENT_ID]."
)
@click.option(
    "--client-secret",
    envvar="AUTHSEC_CLIENT_SECRET",
    help="OAuth client secret, for client credentials [AUTHSEC_CLIENT_SECRET; prefer it to the "
    "option, which others can see]. Without it you log in as yourself in the browser.",
)
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening the browser.")
@click.option(
    "--scope", "scopes", multiple=True, help="Scope to ask for (repeatable); default: what the 401 asks."
)
@show_token_option
@json_option
def login(
    mcp_url: str,
    client_id: str,
    client_secret: str | None,
    no_browser: bool,
    scopes: tuple[str, ...],
    show_token: bool,
    as_json: bool,
) -> None:
    """Discover what an MCP client discovers (the 401 challenge, the protected-resource
    metadata, the authorization server's metadata) and get a token for MCP_URL: with client
    credentials when a secret is given, else as yourself through the browser (authorization
    code with PKCE, redirected to a listener on 127.0.0.1). It is stored per resource in the
    user's config directory, readable only by the user, with what is needed to renew it (the
    client secret, or the refresh token) and revoke it."""
    method: LoginMethod
    if client_secret:
        method = ClientCredentialsLogin(client_id, client_secret)
    else:
        method = BrowserLogin(
            client_id,
            open_browser=not no_browser,
            announce=lambda url: click.echo(f"Open this URL to log in: {url}", err=True),
        )

    async def work() -> Login:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            found = await discover(http, mcp_url, within=LOGIN_TIMEOUT)
            wanted = scopes or found.challenge_scopes
            issued = await method.obtain(http, found, wanted, LOGIN_TIMEOUT)
            return record(found, method, issued, wanted)

    try:
        stored = _run("logging in", work)
        path = _store().save(stored)
    except OutboundAuthError as exc:
        _fail(f"login failed: {exc}", FAILED)
    summary = {**render.login_summary(stored, show_token=show_token), "stored": str(path)}
    if as_json:
        emit_json(summary)
        return
    line(
        Status.OK,
        f"logged in to {stored.resource} as {stored.subject or stored.client_id} "
        f"(scopes {' '.join(stored.scopes) or '(none)'}, expires {render.expiry(stored.expires_at)})",
    )
    if show_token:
        click.echo(stored.access_token)


@cli.command(epilog=epilog("authsec status --json"))
@show_token_option
@json_option
def status(show_token: bool, as_json: bool) -> None:
    """List the stored logins: resource, subject, scopes and expiry."""
    try:
        stored = _store().all()
    except StoreError as exc:
        _fail(str(exc), USAGE)
    env_token = bool(os.environ.get(ENV_TOKEN))
    if as_json:
        emit_json(
            {
                "env_token": env_token,
                "logins": [render.login_summary(s, show_token=show_token) for s in stored],
            }
        )
        return
    render.logins(stored, show_token=show_token, env_token=env_token)


@cli.command(
    short_help="Revoke and delete stored logins.", epilog=epilog("authsec logout https://mcp.example.com/mcp")
)
@click.argument("mcp_url", required=False)
@json_option
def logout(mcp_url: str | None, as_json: bool) -> None:
    """Revoke (RFC 7009, when the authorization server offers it) and delete the login for
    MCP_URL, or every stored login. Exit 1 when a revocation failed (the login is deleted
    anyway; its token stays valid until it expires)."""
    store = _store()
    try:
        chosen = [store.load(mcp_url)] if mcp_url is not None else store.all()
    except StoreError as exc:
        _fail(str(exc), USAGE)
    logins = [login for login in chosen if login is not None]
    if mcp_url is not None and not logins:
        _fail(f"not logged in to {mcp_url}", NOT_AUTHORIZED)

    async def work() -> list[dict[str, Any]]:
        outcomes = []
        async with httpx.AsyncClient(follow_redirects=False) as http:
            for login in logins:
                try:
                    revoked, error = await revoke(http, login, within=LOGIN_TIMEOUT), ""
                except OutboundAuthError as exc:
                    revoked, error = False, str(exc)
                store.delete(login.resource)
                outcomes.append({"resource": login.resource, "revoked": revoked, "error": error})
        return outcomes

    outcomes = _run("logging out", work)
    if as_json:
        emit_json({"logged_out": outcomes})
    else:
        for outcome in outcomes:
            if outcome["error"]:
                line(Status.FAIL, f"{outcome['resource']}: deleted, but {outcome['error']}")
            else:
                how = "revoked and deleted" if outcome["revoked"] else "deleted (no revocation endpoint)"
                line(Status.OK, f"{outcome['resource']}: {how}")
        if not outcomes:
            click.echo("no stored logins")
    raise SystemExit(FAILED if any(o["error"] for o in outcomes) else OK)


def _auth(mcp_url: str, step_up: bool) -> LoginAuth:
    """The token for ``mcp_url``: AUTHSEC_ACCESS_TOKEN as it is, else the stored login."""
    from .mcp_calls import LoginAuth

    fixed = os.environ.get(ENV_TOKEN, "").strip()
    if fixed:
        return LoginAuth(login=None, store=None, fixed=fixed, step_up=False)
    store = _store()
    try:
        stored = store.load(mcp_url)
    except StoreError as exc:
        _fail(str(exc), USAGE)
    if stored is None:
        _fail(
            f"not logged in to {mcp_url}: authsec login {mcp_url} --client-id ... (or set {ENV_TOKEN})",
            NOT_AUTHORIZED,
        )
    return LoginAuth(login=stored, store=store, fixed=None, step_up=step_up)


def _step_up_hint(auth: LoginAuth) -> str:
    """What to do about missing scopes, given what this run could do."""
    if auth.fixed_token:
        return f"; {ENV_TOKEN} is used as it is: get a token with them, or unset it and log in"
    if auth.stepped_up is not None:
        return f" (after step-up to {' '.join(auth.stepped_up)}: the authorization server did not grant them)"
    if not auth.may_step_up:
        return "; run again with --step-up to re-authorize for them"
    return ""


def _refused(exc: CallFailed, as_json: bool, auth: LoginAuth) -> NoReturn:
    """Report a failed MCP exchange; exit 3 when the server refused the token, else 1."""
    refused = exc.refused
    if as_json:
        emit_json(
            {
                "error": str(exc),
                "refused": refused is not None,
                "missing_scopes": list(refused.missing_scopes) if refused is not None else [],
            }
        )
    elif refused is not None and refused.error == "insufficient_scope":
        missing = " ".join(refused.missing_scopes)
        line(Status.FAIL, f"403 insufficient_scope: needs any one of {missing}{_step_up_hint(auth)}")
    elif refused is not None:
        line(Status.FAIL, f"refused{f' ({refused.error})' if refused.error else ''}: {refused.message}")
    else:
        line(Status.FAIL, str(exc))
    raise SystemExit(NOT_AUTHORIZED if refused is not None else FAILED)


@cli.command(
    short_help="List the tools your token may call.",
    epilog=epilog("authsec tools https://mcp.example.com/mcp"),
)
@click.argument("mcp_url")
@json_option
def tools(mcp_url: str, as_json: bool) -> None:
    """List the tools the server lists for your token (those it may call)."""
    from .mcp_calls import CallFailed, list_tools

    auth = _auth(mcp_url, step_up=False)
    try:
        listed = _run("listing tools", lambda: list_tools(mcp_url, auth))
    except CallFailed as exc:
        _refused(exc, as_json, auth)
    if as_json:
        emit_json({"tools": listed})
    else:
        render.tools(listed)


@cli.command(
    short_help="Call a tool, stepping up on 403 if asked.",
    epilog=epilog("authsec call https://mcp.example.com/mcp read_notes --args '{\"limit\": 5}' --step-up"),
)
@click.argument("mcp_url")
@click.argument("tool")
@click.option("--args", "arguments", default="{}", help="The tool's arguments as a JSON object.")
@click.option(
    "--step-up",
    is_flag=True,
    help="On 403 insufficient_scope, re-authorize for the missing scopes and retry.",
)
@json_option
def call(mcp_url: str, tool: str, arguments: str, step_up: bool, as_json: bool) -> None:
    """Call TOOL on the MCP server at MCP_URL with the stored login's token (renewed when it
    expired). On 403 insufficient_scope it names the missing scopes; with --step-up it gets a
    token for them too and retries. Exit 1 when the tool reports an error."""
    from .mcp_calls import CallFailed, call_tool

    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON ({exc})", param_hint="--args") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    auth = _auth(mcp_url, step_up=step_up)
    try:
        result = _run(f"calling {tool}", lambda: call_tool(mcp_url, auth, tool, parsed))
    except CallFailed as exc:
        _refused(exc, as_json, auth)
    if as_json:
        emit_json({**result, "stepped_up": list(auth.stepped_up) if auth.stepped_up else None})
    else:
        if auth.stepped_up:
            click.echo(f"re-authorized for scopes {' '.join(auth.stepped_up)}", err=True)
        render.call_result(result)
    raise SystemExit(FAILED if result.get("is_error") else OK)
