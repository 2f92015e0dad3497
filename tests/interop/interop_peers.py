"""The independent peers of the interop tests, driven from Python.

`OidcProvider` runs panva's ``oidc-provider`` (``provider.mjs``) as a child process on
127.0.0.1 and asks it for real tokens over HTTP; `notes_behind` serves the notes MCP server
behind ``mount_mcp`` configured for that provider; `run_inspector` runs the MCP Inspector CLI.
Every wait is bounded, every process is one we started and is stopped by its PID.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from helpers import Protected
from notes_mcp import NOTES_SCOPES, notes_server
from starlette.applications import Starlette
from wire import sse_messages

from authsec_sdk.runtime import Config, ValidationMode, mount_mcp
from authsec_sdk.testing import ServerThread

INTEROP_DIR = Path(__file__).resolve().parent
NODE_MODULES = INTEROP_DIR / "node_modules"
LOCK_FILE = INTEROP_DIR / "package-lock.json"
#: Holds the sha256 of the lock file `npm ci` last installed from.
LOCK_STAMP = NODE_MODULES / ".authsec-lock-sha256"
INSPECTOR = (
    NODE_MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
)

#: Bounds on waits, so that a broken peer fails the test instead of hanging it.
NPM_CI_TIMEOUT = 300.0
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0
INSPECTOR_TIMEOUT = 30.0

#: The provider's clients, by the kind of access token each one gets (see provider.mjs).
JWT_CLIENTS = {"RS256": "rs256-agent", "ES256": "es256-agent", "EdDSA": "eddsa-agent"}
OPAQUE_CLIENT = "opaque-agent"
RESOURCE_SERVER_CLIENT = "resource-server"
CLIENT_IDS = (*JWT_CLIENTS.values(), OPAQUE_CLIENT, RESOURCE_SERVER_CLIENT)

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


#: No install scripts (none is needed); the pinned packages declare Node 22 but run on Node 20.
NPM_CI_OPTIONS = ("--ignore-scripts", "--engine-strict=false", "--no-audit", "--no-fund", "--loglevel=error")


def lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def npm_ci(npm: str) -> None:
    """``npm ci`` in tests/interop unless node_modules was installed from this very lock file.

    Test workers running side by side take turns (a file lock), so only one installs.
    """
    with (INTEROP_DIR / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _npm_ci_unless_installed(npm)


def _npm_ci_unless_installed(npm: str) -> None:
    digest = lock_digest()
    if LOCK_STAMP.is_file() and LOCK_STAMP.read_text().strip() == digest:
        return
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    done = subprocess.run(
        [npm, "ci", *NPM_CI_OPTIONS],
        cwd=INTEROP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed ({done.returncode}) in {INTEROP_DIR}:\n{done.stderr[-4000:]}")
    LOCK_STAMP.write_text(digest + "\n")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def jose_header(token: str) -> dict[str, Any]:
    """The (unverified) protected header of a compact JWS."""
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a compact JWS."""
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


class OidcProvider:
    """panva's oidc-provider in a child process, and a client for its endpoints."""

    def __init__(self, node: str, log_path: Path, port: int | None = None) -> None:
        self.node = node
        #: Free when chosen, but another process may take it before the provider binds it (test
        #: workers start servers side by side): a first start then moves to another port.
        self._port_chosen = port is None
        self.port = port if port is not None else free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.client_secrets = {client: secrets.token_urlsafe(24) for client in CLIENT_IDS}
        self.admin_secret = secrets.token_urlsafe(24)
        self.metadata: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT)

    # ------------------------------------------------------------------ process
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> OidcProvider:
        """Start the provider (on the same port as before, if it ran) and wait for its metadata.

        A first start on a port we chose that someone else took meanwhile tries another port."""
        retries = 2 if self._port_chosen and not self.metadata else 0
        for _ in range(retries):
            try:
                return self._start()
            except (RuntimeError, TimeoutError):
                self.port = free_port()
                self.issuer = f"http://127.0.0.1:{self.port}"
        return self._start()

    def _start(self) -> OidcProvider:
        assert self._process is None, "already running"
        env = {
            **os.environ,
            "INTEROP_CLIENT_SECRETS": json.dumps(self.client_secrets),
            "INTEROP_ADMIN_SECRET": self.admin_secret,
        }
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.node, str(INTEROP_DIR / "provider.mjs"), "--port", str(self.port), "--exit-with-stdin"],
                cwd=INTEROP_DIR,
                env=env,
                stdin=subprocess.PIPE,  # it exits when this closes, should we die without stopping it
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"oidc-provider exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                r = self._http.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1.0)
                if r.status_code == 200 and r.json().get("issuer") == self.issuer:
                    self.metadata = r.json()
                    return
                if r.status_code != 200:  # someone else answers on this port: ours cannot bind it
                    raise RuntimeError(f"port {self.port} answers HTTP {r.status_code}:\n{self.log_tail()}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"oidc-provider did not answer in {START_TIMEOUT:g}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process we started (SIGTERM, then SIGKILL), by its PID, and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT)
        finally:
            if process.stdin is not None:
                process.stdin.close()

    def close(self) -> None:
        self.stop()
        self._http.close()

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ endpoints
    def token_response(self, client: str, resource: str | None, scope: str = "notes:read") -> httpx.Response:
        """The provider's answer to a client_credentials request (HTTP Basic, RFC 8707 resource)."""
        form = {"grant_type": "client_credentials", "scope": scope}
        if resource is not None:
            form["resource"] = resource
        return self._http.post(
            self.metadata["token_endpoint"], data=form, auth=(client, self.client_secrets[client])
        )

    def token(self, client: str, resource: str | None, scope: str = "notes:read") -> str:
        r = self.token_response(client, resource, scope)
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    def introspect(self, token: str) -> httpx.Response:
        """RFC 7662 introspection as our resource server does it."""
        return self._http.post(
            self.metadata["introspection_endpoint"],
            data={"token": token, "token_type_hint": "access_token"},
            auth=(RESOURCE_SERVER_CLIENT, self.client_secrets[RESOURCE_SERVER_CLIENT]),
        )

    def revoke(self, client: str, token: str) -> None:
        r = self._http.post(
            self.metadata["revocation_endpoint"],
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client, self.client_secrets[client]),
        )
        assert r.status_code == 200, r.text

    def rotate(self) -> dict[str, str]:
        """New signing keys at the provider; the new kid of each algorithm."""
        r = self._http.post(
            f"{self.issuer}/admin/rotate", headers={"Authorization": f"Bearer {self.admin_secret}"}
        )
        assert r.status_code == 200, r.text
        kids: dict[str, str] = r.json()["kids"]
        return kids

    def published_kids(self) -> set[str]:
        r = self._http.get(self.metadata["jwks_uri"])
        assert r.status_code == 200, r.text
        return {key["kid"] for key in r.json()["keys"]}

    # ------------------------------------------------------------------ our side
    def config_values(self, mode: ValidationMode) -> dict[str, Any]:
        """Config for a resource server of this provider, with its endpoints from the metadata."""
        return {
            "issuer": self.issuer,
            "jwks_url": self.metadata["jwks_uri"],
            "introspection_url": self.metadata["introspection_endpoint"],
            "introspection_client_id": RESOURCE_SERVER_CLIENT,
            "introspection_client_secret": self.client_secrets[RESOURCE_SERVER_CLIENT],
            "validation_mode": mode,
        }


@contextmanager
def notes_behind(provider: OidcProvider, **values: Any) -> Iterator[Protected]:
    """The notes MCP server behind ``mount_mcp`` (local tool policy), served on 127.0.0.1.

    ``values`` are the `Config` fields besides ``resource_uri`` and ``tool_scopes``.
    """
    app = Starlette()
    server = ServerThread(app)
    resource = f"{server.url}/mcp"
    cfg = Config(**{"resource_uri": resource, "tool_scopes": NOTES_SCOPES, **values})
    runtime = mount_mcp(app, "/mcp", notes_server(), cfg)
    with server:
        yield Protected(url=resource, base=server.url, runtime=runtime, cfg=cfg)


def tools_call_headers(tool: str, token: str | None) -> dict[str, str]:
    """A 2026-07-28 request's headers for ``tools/call`` of ``tool`` (no session needed)."""
    headers = {
        **MCP_HEADERS,
        "mcp-protocol-version": MODERN_VERSION,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def tools_call_body(tool: str, id: int = 1) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "interop", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": meta},
    }


def call_tool(url: str, token: str | None, tool: str = "read") -> httpx.Response:
    """One stateless 2026-07-28 ``tools/call`` over real HTTP."""
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.post(url, json=tools_call_body(tool), headers=tools_call_headers(tool, token))


def tool_text(response: httpx.Response) -> str:
    """The text content of a successful ``tools/call`` answer, JSON or event stream."""
    assert response.status_code == 200, (response.status_code, response.headers, response.text)
    if response.headers["content-type"].startswith("text/event-stream"):
        (message,) = [m for m in sse_messages(response.text) if "result" in m or "error" in m]
    else:
        message = response.json()
    assert "result" in message, message
    result: Mapping[str, Any] = message["result"]
    assert result.get("isError") is not True, result
    return "".join(part.get("text", "") for part in result["content"])


@dataclass(frozen=True)
class InspectorRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_code(self) -> str | None:
        """``error.code`` of the JSON error envelope the CLI prints on stderr, if any."""
        for line in reversed(self.stderr.splitlines()):
            try:
                envelope = json.loads(line)
            except ValueError:
                continue
            if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
                code = envelope["error"].get("code")
                return code if isinstance(code, str) else None
        return None


def run_inspector(node: str, home: Path, url: str, token: str, *args: str) -> InspectorRun:
    """The MCP Inspector CLI against ``url`` over streamable HTTP with a bearer token."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),  # its catalog, client config and OAuth state stay out of the real home
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
        "NO_COLOR": "1",
    }
    command = [
        node,
        str(INSPECTOR),
        "--cli",
        "--server-url",
        url,
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {token}",
        "--format",
        "json",
        *args,
    ]
    done = subprocess.run(
        command,
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INSPECTOR_TIMEOUT,
        check=False,
    )
    return InspectorRun(done.returncode, done.stdout, done.stderr)
