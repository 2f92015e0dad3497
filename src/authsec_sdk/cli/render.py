"""Human-readable renderings of each command's result (``--json`` prints the records instead)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from .doctor import Check
from .inspect_token import Report, Verdict
from .output import Status, line
from .store import Login


def expiry(expires_at: float | None, now: float | None = None) -> str:
    """``in 4m 10s``, ``expired 2m ago`` or ``no expiry``."""
    if expires_at is None:
        return "no expiry"
    left = int(expires_at - (time.time() if now is None else now))
    amount = abs(left)
    hours, rest = divmod(amount, 3600)
    minutes, seconds = divmod(rest, 60)
    words = f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s" if minutes else f"{seconds}s"
    return f"in {words}" if left > 0 else f"expired {words} ago"


def checks(results: Sequence[Check]) -> None:
    for check in results:
        line(check.status, f"{check.name}: {check.detail}", check.fix)
    failed = sum(check.status is Status.FAIL for check in results)
    click.echo("all checks passed" if not failed else f"{failed} check(s) failed")


def _verdict(verdict: Verdict, subject: str) -> None:
    status = Status.OK if verdict.allowed else Status.FAIL
    text = f"{subject}: {verdict.status} {verdict.reason}"
    line(status, text)
    if verdict.required:
        click.echo(f"    needs any one of: {' '.join(verdict.required)}")
    for revision, scopes in verdict.challenge.items():
        click.echo(f"    challenge scope for {revision} clients: {' '.join(scopes) or '(none)'}")


def report(result: Report) -> None:
    if result.header is None:
        click.echo("opaque token (not a JWT): only introspection can explain it")
    else:
        click.echo(f"header: {json.dumps(result.header, sort_keys=True)}")
        click.echo(f"claims: {json.dumps(result.claims, indent=2, sort_keys=True)}")
    _verdict(result.validation, "token")
    principal = result.principal
    if principal is not None:
        click.echo(
            f"    subject {principal.subject}, client {principal.client_id or '-'}, "
            f"scopes {' '.join(principal.scopes) or '(none)'}, expires {expiry(principal.expires_at)}"
        )
    if result.call is not None:
        _verdict(result.call, f"tools/call {result.tool}")


def login_summary(login: Login, *, show_token: bool) -> dict[str, Any]:
    """What may be shown of a login: never the secret, the token only when asked."""
    summary: dict[str, Any] = {
        "resource": login.resource,
        "subject": login.subject,
        "scopes": list(login.scopes),
        "expires_at": login.expires_at,
        "grant": login.grant,
        "client_id": login.client_id,
        "authorization_server": login.authorization_server,
        "revocable": login.revocation_endpoint is not None,
    }
    if show_token:
        summary["access_token"] = login.access_token
    return summary


def logins(stored: Sequence[Login], *, show_token: bool, env_token: bool) -> None:
    if env_token:
        click.echo("AUTHSEC_ACCESS_TOKEN is set: it is used as it is for every server")
    if not stored:
        click.echo("no stored logins (authsec login MCP_URL ...)")
    for login in stored:
        status = (
            Status.WARN if login.expires_at is not None and login.expires_at <= time.time() else Status.OK
        )
        line(
            status,
            f"{login.resource}  subject {login.subject or '-'}  scopes {' '.join(login.scopes) or '(none)'}  "
            f"expires {expiry(login.expires_at)}",
        )
        if show_token:
            click.echo(f"    token: {login.access_token}")


def tools(listed: Sequence[Mapping[str, Any]]) -> None:
    if not listed:
        click.echo("no tools this token may call")
    for tool in listed:
        first_line = str(tool.get("description", "")).strip().splitlines()
        click.echo(f"{tool['name']}" + (f"  {first_line[0]}" if first_line else ""))


def call_result(result: Mapping[str, Any]) -> None:
    texts = [part.get("text", "") for part in result.get("content") or [] if part.get("type") == "text"]
    if texts:
        click.echo("\n".join(texts))
    elif result.get("structured_content") is not None:
        click.echo(json.dumps(result["structured_content"], indent=2, sort_keys=True))
    if result.get("is_error"):
        line(Status.FAIL, "the tool reported an error")
