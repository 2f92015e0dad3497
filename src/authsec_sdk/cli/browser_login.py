"""Logging in as a user: the authorization-code flow with PKCE and a loopback redirect.

RFC 8252's pattern for native apps: listen on 127.0.0.1 on a port of our own (§7.3), send the
browser to the authorization endpoint with an S256 challenge (RFC 7636) and a ``state``, take
the code at the redirect, and redeem it with the verifier only we know. The listener answers
one request, on the path we chose, and only until the login's deadline.
"""

from __future__ import annotations

import http.server
import secrets
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx

from ..client.errors import OutboundAuthError
from ..client.pkce import pkce_pair
from ..client.token_endpoint import ClientCredentials, IssuedToken, request_token, scope_params, target_params
from ..runtime.logsafe import shown
from ..runtime.upstream import checked_error_code
from .discovery import Discovered
from .login import Target

AUTHORIZATION_CODE = "authorization_code"
CALLBACK_PATH = "/callback"
#: How long the user has to finish in the browser.
BROWSER_TIMEOUT = 300.0


@dataclass(frozen=True)
class Redirect:
    """What came back to the loopback listener."""

    params: Mapping[str, str]


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    challenge: str,
    state: str,
    scopes: Sequence[str],
    resource: str,
) -> str:
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", state),
        *scope_params(scopes),
        ("resource", resource),
    ]
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


def code_from(redirect: Redirect, *, state: str, issuer: str) -> str:
    """The code, once the redirect is proven to answer our request (RFC 6749 §10.12 ``state``;
    RFC 9207 ``iss`` when the server sends it). Raises `OutboundAuthError` otherwise."""
    params = redirect.params
    # As bytes: the query is anyone's to write, and non-ASCII text cannot be compared in constant time.
    if not secrets.compare_digest(params.get("state", "").encode(), state.encode()):
        raise OutboundAuthError("the redirect's state is not ours: login abandoned", reason="refused")
    if "iss" in params and params["iss"] != issuer:
        named = shown(params["iss"])
        raise OutboundAuthError(f"the redirect names issuer {named}, not {issuer!r}", reason="refused")
    if "error" in params:
        why = params.get("error_description", "")
        raise OutboundAuthError(
            f"authorization refused: {shown(params['error'])}{f' ({shown(why)})' if why else ''}",
            reason="refused",
            error=checked_error_code(params["error"]),
        )
    code = params.get("code", "")
    if not code:
        raise OutboundAuthError("the redirect carries no code", reason="refused")
    return code


class _Listener(http.server.HTTPServer):
    """One redirect on ``CALLBACK_PATH``; anything else is 404 and not taken."""

    redirect: Redirect | None = None


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _Listener
    #: Seconds a connection may take to send its request: a stalled one cannot hold the login.
    timeout = 5.0

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.redirect is not None:
            self.send_error(404)
            return
        query = parse_qs(parts.query)
        self.server.redirect = Redirect({name: values[0] for name, values in query.items()})
        body = b"<!doctype html><title>authsec</title><p>Login received; you may close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the query holds the code."""


@dataclass(frozen=True)
class BrowserLogin:
    """A user's token for the resource, through their browser (``open_browser``) or a URL they
    open themselves; ``announce`` shows the URL either way."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    open_browser: bool = True
    announce: Callable[[str], None] = print
    timeout: float = BROWSER_TIMEOUT
    grant: str = AUTHORIZATION_CODE

    async def obtain(
        self, http: httpx.AsyncClient, target: Target, scopes: Sequence[str], within: float
    ) -> IssuedToken:
        if not isinstance(target, Discovered):  # a stored login is renewed by refresh instead
            raise OutboundAuthError(
                "a browser login needs the server discovered afresh", reason="misconfigured"
            )
        endpoint = target.server_metadata.get("authorization_endpoint")
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            raise OutboundAuthError(
                "the authorization server names no authorization endpoint", reason="refused"
            )
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        listener = _Listener(("127.0.0.1", 0), _CallbackHandler)
        try:
            redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}{CALLBACK_PATH}"
            url = authorization_url(
                endpoint,
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                challenge=challenge,
                state=state,
                scopes=scopes,
                resource=target.resource,
            )
            self.announce(url)
            if self.open_browser:
                webbrowser.open(url)
            redirect = await anyio.to_thread.run_sync(_wait_for_redirect, listener, self.timeout)
        finally:
            listener.server_close()
        issuer = target.server_metadata.get("issuer", target.authorization_server)
        code = code_from(redirect, state=state, issuer=str(issuer))
        form = [
            ("grant_type", AUTHORIZATION_CODE),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            *target_params(target.resource),
        ]
        client = ClientCredentials(self.client_id, self.client_secret)
        return await request_token(http, target.token_endpoint, form, client, within=within)


def _wait_for_redirect(listener: _Listener, timeout: float) -> Redirect:
    """Serve ``listener`` until the redirect arrives, or raise `OutboundAuthError` at ``timeout``."""
    deadline = time.monotonic() + timeout
    listener.timeout = 0.5  # each wait, so the deadline is looked at twice a second
    while listener.redirect is None:
        if time.monotonic() > deadline:
            raise OutboundAuthError(f"no login in the browser within {timeout:g}s", reason="unavailable")
        listener.handle_request()
    return listener.redirect
