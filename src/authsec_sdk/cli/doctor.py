"""`authsec doctor`: the checks behind "why is every request 401?", one result per check.

Each check reads the configuration the way the server does and asks the live peers what the
runtime would ask them, through the runtime's own code. The judging is pure (`judge_*`),
the fetching a thin async shell, and the rendering is elsewhere. Each row of the README's
troubleshooting table maps to a check here (see the README's "Command line" section).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ..client.errors import OutboundAuthError
from ..runtime.backend import BackendError, get_policy
from ..runtime.config import Config, PolicyMode, ValidationMode
from ..runtime.errors import IssuerUnavailableError, TokenInactiveError, TokenInvalidError
from ..runtime.issuer_client import issuer_client
from ..runtime.logsafe import shown
from ..runtime.metadata import metadata_url
from ..runtime.policy.document import PolicyDocument, read_policy_document
from ..runtime.tokens.discovery import metadata_urls, resolve_endpoints
from ..runtime.tokens.introspection import CREDENTIALS_REJECTED, Introspector
from ..runtime.tokens.jwks import JWKSStore, VerificationKey
from ..runtime.upstream import UpstreamError, fetch_json
from .discovery import Probe, probe
from .output import Status
from .settings import load_config


@dataclass(frozen=True)
class Check:
    """One check's outcome: what was checked, what was found and, when it failed, the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}


def passed(checks: Sequence[Check]) -> bool:
    """All clear: no check failed (warnings do not fail the doctor)."""
    return all(check.status is not Status.FAIL for check in checks)


# ---------------------------------------------------------------------- pure decisions
def judge_config(environ: Mapping[str, str]) -> tuple[Check, Config | None]:
    try:
        cfg = load_config(environ)
    except ValueError as exc:
        return Check("config", Status.FAIL, str(exc), "set the AUTHSEC_* variables it names"), None
    detail = (
        f"resource {cfg.resource_uri}, issuer {cfg.issuer}, policy {cfg.effective_policy_mode.value}, "
        f"validation {cfg.effective_validation_mode.value or 'discovered'}"
    )
    return Check("config", Status.OK, detail), cfg


def judge_issuer_metadata(
    cfg: Config, found: tuple[str, Any] | None, failures: Sequence[str]
) -> tuple[Check, Config]:
    """The issuer's metadata (``found``: its URL and document) must name ``cfg.issuer`` exactly.
    Unreadable metadata fails only when the server needs it (``discover_endpoints``)."""
    name = "issuer metadata"
    if found is None:
        why = "; ".join(failures)
        if cfg.discover_endpoints:
            return Check(
                name, Status.FAIL, f"unreadable: {why}", "fix AUTHSEC_ISSUER or the network, or set the URLs"
            ), cfg
        return Check(name, Status.WARN, f"unreadable ({why}); not needed: endpoints are configured"), cfg
    url, document = found
    named = document.get("issuer") if isinstance(document, dict) else None
    if named != cfg.issuer:
        fix = (
            f"set AUTHSEC_ISSUER to exactly {named!r} (tokens' iss must match it too)"
            if isinstance(named, str)
            else "fix the issuer's metadata"
        )
        return Check(
            name, Status.FAIL, f"{url} names issuer {shown(named)} but AUTHSEC_ISSUER is {cfg.issuer!r}", fix
        ), cfg
    if cfg.discover_endpoints:
        try:
            cfg = resolve_endpoints(cfg, document, url)
        except ValueError as exc:
            return Check(name, Status.FAIL, str(exc), "fix the issuer's metadata or configure the URLs"), cfg
    return Check(name, Status.OK, f"{url} names issuer {cfg.issuer!r}"), cfg


def judge_keys(keys: Sequence[VerificationKey] | None, warnings: Sequence[str]) -> list[Check]:
    """``keys`` None: the set could not be fetched (``warnings`` say why)."""
    name = "signing keys"
    checks = [Check(name, Status.WARN, warning) for warning in warnings if "never used" in warning]
    if keys is None:
        why = "; ".join(w for w in warnings if "never used" not in w) or "unavailable"
        return [
            *checks,
            Check(name, Status.FAIL, why, "check AUTHSEC_JWKS_URL and the issuer (503 until then)"),
        ]
    if not keys:
        return [*checks, Check(name, Status.FAIL, "the JWKS holds no usable key", "fix the issuer's key set")]
    listed = ", ".join(f"{k.kid or '(no kid)'} ({'/'.join(sorted(k.algorithms))})" for k in keys)
    return [*checks, Check(name, Status.OK, f"{len(keys)} usable: {listed}")]


def judge_introspection(outcome: BaseException | None, status: Mapping[str, Any], *, jwt: bool) -> Check:
    """What introspecting a token that is not live (``jwt``: shaped as a JWT) tells about us."""
    name = "introspection (JWT)" if jwt else "introspection"
    if isinstance(outcome, TokenInactiveError) or outcome is None:
        return Check(name, Status.OK, "credentials accepted" + ("; JWTs are introspected" if jwt else ""))
    if isinstance(outcome, IssuerUnavailableError):
        if status.get("state") == CREDENTIALS_REJECTED:
            return Check(
                name,
                Status.FAIL,
                f"credentials rejected ({status.get('last_error')})",
                "fix AUTHSEC_INTROSPECTION_CLIENT_ID / AUTHSEC_INTROSPECTION_CLIENT_SECRET",
            )
        return Check(
            name, Status.FAIL, f"unavailable ({status.get('last_error')})", "check AUTHSEC_INTROSPECTION_URL"
        )
    if isinstance(outcome, TokenInvalidError) and jwt:
        return Check(
            name,
            Status.FAIL,
            "this issuer does not introspect JWT access tokens (it answered 400)",
            "use AUTHSEC_VALIDATION_MODE=jwt_only or jwt_or_introspect",
        )
    return Check(name, Status.WARN, f"the issuer refused a probe token ({outcome})")


def judge_policy(cfg: Config, document: PolicyDocument | None, error: str) -> Check:
    name = "policy"
    mode = cfg.effective_policy_mode
    if mode is PolicyMode.OPEN:
        return Check(name, Status.WARN, "OPEN: any valid token may call any tool (tests only)")
    if mode is PolicyMode.LOCAL_ONLY:
        return Check(name, Status.OK, f"local tool_scopes: {len(cfg.tool_scopes or {})} tools")
    if document is None:
        status = Status.FAIL if mode is PolicyMode.REMOTE_REQUIRED else Status.WARN
        fallback = "" if status is Status.FAIL else "; the local tool_scopes serve meanwhile"
        return Check(
            name,
            status,
            f"{error}{fallback}",
            "check AUTHSEC_AUTHORIZATION_SERVER, AUTHSEC_RESOURCE_SERVER_ID and the client id and secret; "
            "activate the resource server in the admin UI",
        )
    if not document.complete:
        reason = f", reason={document.reason}" if document.reason else ""
        return Check(
            name,
            Status.FAIL,
            f"policy incomplete: state={document.state}{reason}; every tools/call gets 503",
            "trigger a scan of the tool inventory, or let the manifest publish it (AUTHSEC_PUBLISH_MANIFEST)",
        )
    tools = document.policy.rules
    return Check(name, Status.OK, f"complete (state={document.state}): {len(tools)} tools mapped")


def judge_resource_metadata(cfg: Config | None, url: str, where: str, document: Any, error: str) -> Check:
    """The server's RFC 9728 document must be for ``url`` and name an authorization server;
    with a config, its resource and authorization server too: otherwise clients get tokens for
    another audience, or from another issuer."""
    name = "server metadata"
    if error:
        return Check(name, Status.FAIL, f"{where}: {error}", "mount the server with mount_mcp at this URL")
    fields = document if isinstance(document, dict) else {}
    resource, servers = fields.get("resource"), fields.get("authorization_servers")
    if resource != url:
        return Check(
            name,
            Status.FAIL,
            f"{where} names resource {shown(resource)}, not {url!r}: clients refuse it or get tokens "
            "for the wrong audience (401 audience mismatch)",
            f"set AUTHSEC_RESOURCE_URI to exactly {url!r}, the URL clients use",
        )
    if cfg is not None and resource != cfg.resource_uri:
        return Check(
            name,
            Status.FAIL,
            f"{where} names resource {resource!r} but AUTHSEC_RESOURCE_URI is {cfg.resource_uri!r}: "
            "tokens for one are refused by the other (401 audience mismatch)",
            "use one resource_uri for the server and this config (clients ask for resource=<resource_uri>)",
        )
    expected = cfg.effective_authorization_server if cfg is not None else None
    if not isinstance(servers, list) or not servers or (expected is not None and expected not in servers):
        return Check(
            name,
            Status.FAIL,
            f"{where} names authorization servers {shown(servers)}"
            + (f", not {expected!r}" if expected is not None else ""),
            "set AUTHSEC_AUTHORIZATION_SERVER to the issuer clients should get tokens from",
        )
    return Check(name, Status.OK, f"resource {resource}, authorization servers {' '.join(map(str, servers))}")


def judge_challenge(answer: Probe, expected_metadata: str) -> list[Check]:
    """A request without a token must get 401 with a Bearer challenge naming the metadata;
    a challenge without ``scope`` sends clients to ask for every scope."""
    name = "401 challenge"
    if answer.status != 401:
        return [
            Check(
                name,
                Status.FAIL,
                f"a request without a token got HTTP {answer.status}, not 401",
                "protect it",
            )
        ]
    challenge = answer.challenge
    if challenge is None:
        given = f" (WWW-Authenticate: {shown(list(answer.challenges))})" if answer.challenges else ""
        return [
            Check(name, Status.FAIL, f"401 without a Bearer challenge{given}", "serve it through mount_mcp")
        ]
    if challenge.resource_metadata != expected_metadata:
        return [
            Check(
                name,
                Status.FAIL,
                f"resource_metadata is {shown(challenge.resource_metadata)}, not {expected_metadata!r}",
                "set AUTHSEC_RESOURCE_URI to the URL clients use",
            )
        ]
    if challenge.error:
        return [Check(name, Status.FAIL, f"names error={challenge.error!r} without a token", "RFC 6750 §3.1")]
    checks = [Check(name, Status.OK, f"Bearer, resource_metadata={challenge.resource_metadata}")]
    if not challenge.scopes:
        checks.append(
            Check(
                "baseline scopes",
                Status.WARN,
                "the 401 names no scope: clients fall back to every scope, and never step up",
                "set AUTHSEC_BASELINE_SCOPES to what a new client should start with",
            )
        )
    return checks


# ---------------------------------------------------------------------- the async shell
async def run_doctor(environ: Mapping[str, str], url: str | None) -> list[Check]:
    """Every check, in order. An unusable config skips the checks that need it; the server's
    (with ``url``) still run, as a client would see the server."""
    check, cfg = judge_config(environ)
    if cfg is None:
        skipped = Check("issuer, keys, policy", Status.SKIP, "skipped until the config is fixed")
        if url is None:
            return [check, skipped]
        async with issuer_client(Config()) as http:
            return [check, skipped, *await _server_checks(http, None, url)]
    checks = [check]
    async with issuer_client(cfg) as http:  # the server's own client for its issuer
        metadata, cfg = judge_issuer_metadata(cfg, *await _issuer_metadata(http, cfg))
        checks.append(metadata)
        mode = cfg.effective_validation_mode
        if cfg.jwks_url:
            checks += judge_keys(*await _keys(http, cfg))
        if cfg.introspection_url:
            checks += await _introspection_checks(http, cfg, mode)
        checks.append(await _policy_check(http, cfg))
        if url is not None:
            checks += await _server_checks(http, cfg, url)
    return checks


async def _issuer_metadata(http: httpx.AsyncClient, cfg: Config) -> tuple[tuple[str, Any] | None, list[str]]:
    failures: list[str] = []
    for url in metadata_urls(cfg.issuer):
        try:
            return (url, await fetch_json(http, "GET", url, within=cfg.http_timeout)), failures
        except UpstreamError as exc:
            failures.append(f"GET {url}: {exc}")
    return None, failures


@contextmanager
def _captured(logger_name: str) -> Iterator[list[str]]:
    """The WARNING lines ``logger_name`` writes meanwhile: what the server would log."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


async def _keys(http: httpx.AsyncClient, cfg: Config) -> tuple[tuple[VerificationKey, ...] | None, list[str]]:
    with _captured("authsec.tokens.jwks") as warnings:
        try:
            keys: tuple[VerificationKey, ...] | None = await JWKSStore(cfg, http).usable_keys()
        except IssuerUnavailableError:
            keys = None
    return keys, warnings


def _probe_jwt(cfg: Config) -> str:
    """A JWT that is no live token (random signature), to see whether the issuer introspects JWTs."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": cfg.issuer, "sub": "authsec-doctor-probe", "exp": int(time.time()) - 3600}
    signature = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{signature}"


async def _introspection_checks(http: httpx.AsyncClient, cfg: Config, mode: ValidationMode) -> list[Check]:
    """Introspect an opaque probe (are our credentials accepted?) and, where the server
    introspects JWTs, a JWT-shaped one (does the issuer introspect JWTs at all?)."""
    probes = [(f"authsec-doctor-probe-{secrets.token_urlsafe(16)}", False)]
    if mode in (ValidationMode.JWT_AND_INTROSPECT, ValidationMode.INTROSPECTION_ONLY):
        probes.append((_probe_jwt(cfg), True))
    checks = []
    quiet = replace(cfg, introspection_negative_ttl=0.0, introspection_cache_ttl=0.0)
    for token, is_jwt in probes:
        introspector = Introspector(quiet, http)
        with _captured("authsec.tokens.introspection"):
            try:
                await introspector.introspect(token, require_aud=False)
                outcome: BaseException | None = None
            except (TokenInvalidError, IssuerUnavailableError) as exc:
                outcome = exc
        check = judge_introspection(outcome, introspector.status(), jwt=is_jwt)
        checks.append(check)
        if check.status is Status.FAIL and not is_jwt:
            break  # with our credentials refused, the JWT probe could tell nothing more
    return checks


async def _policy_check(http: httpx.AsyncClient, cfg: Config) -> Check:
    if cfg.effective_policy_mode in (PolicyMode.OPEN, PolicyMode.LOCAL_ONLY):
        return judge_policy(cfg, None, "")
    try:
        document = await get_policy(http, cfg, read_policy_document)
    except BackendError as exc:
        return judge_policy(cfg, None, str(exc))
    return judge_policy(cfg, document, "")


async def _server_checks(http: httpx.AsyncClient, cfg: Config | None, url: str) -> list[Check]:
    where = metadata_url(url)
    within = cfg.http_timeout if cfg is not None else Config.http_timeout
    document: Any = None
    error = ""
    try:
        document = await fetch_json(http, "GET", where, within=within)
    except UpstreamError as exc:
        error = str(exc)
    checks = [judge_resource_metadata(cfg, url, where, document, error)]
    try:
        answer = await probe(http, url, within=within)
    except OutboundAuthError as exc:
        return [
            *checks,
            Check("401 challenge", Status.FAIL, str(exc), "check the URL and that the server runs"),
        ]
    return [*checks, *judge_challenge(answer, metadata_url(url))]
