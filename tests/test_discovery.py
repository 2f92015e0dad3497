"""Endpoint discovery from the issuer's RFC 8414 / OpenID metadata, against the real local issuer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import Recorder, bearer, protected_app, rpc
from starlette.applications import Starlette

from authsec_sdk.runtime import Config, ValidationMode, mount_mcp
from authsec_sdk.runtime.config.settings import endpoints_to_discover
from authsec_sdk.runtime.tokens.discovery import metadata_urls, resolve_endpoints
from authsec_sdk.testing import LocalIssuer

ISSUER = "https://as.example"
RESOURCE = "https://mcp.example.com/mcp"


def discovering(**fields: Any) -> Config:
    return Config(**{"issuer": ISSUER, "resource_uri": RESOURCE, "discover_endpoints": True, **fields})


def only_issuer(**fields: Any) -> dict[str, Any]:
    """Overrides for `protected_app`: the issuer and discovery, no endpoint URLs."""
    return {"jwks_url": "", "introspection_url": "", "discover_endpoints": True, **fields}


def no_credentials() -> dict[str, str]:
    return {"introspection_client_id": "", "introspection_client_secret": ""}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
    if not inner:
        yield exc
    for each in inner:
        yield from leaves(each)


async def startup_refusal(cfg: Config) -> BaseException:
    """The exception that refused the app's startup (driven through its real lifespan)."""
    app = Starlette()
    runtime = mount_mcp(app, "/mcp", Recorder(), cfg)
    with pytest.raises(BaseException) as caught:
        async with LifespanManager(app):
            pass
    assert not runtime.ready
    (refusal,) = leaves(caught.value)
    return refusal


# ---------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    ("issuer", "rfc8414", "openid"),
    [
        (
            "https://as.example",
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ),
        (
            "https://as.example/",
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ),
        (
            "https://as.example:8443/realms/acme",
            "https://as.example:8443/.well-known/oauth-authorization-server/realms/acme",
            "https://as.example:8443/realms/acme/.well-known/openid-configuration",
        ),
    ],
)
def test_metadata_urls_insert_or_append_the_well_known_path(issuer: str, rfc8414: str, openid: str) -> None:
    assert metadata_urls(issuer) == (rfc8414, openid)


def test_validate_accepts_missing_urls_only_when_discovering() -> None:
    discovering().validate()
    discovering(
        validation_mode=ValidationMode.JWT_AND_INTROSPECT,
        introspection_client_id="i",
        introspection_client_secret="s",
    ).validate()
    with pytest.raises(ValueError, match="jwks_url or introspection_url is required"):
        discovering(discover_endpoints=False).validate()
    # What discovery cannot supply is still required up front.
    with pytest.raises(ValueError, match="introspection client credentials are required"):
        discovering(validation_mode=ValidationMode.INTROSPECTION_ONLY).validate()


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ({}, ("jwks_url",)),
        (
            {"introspection_client_id": "i", "introspection_client_secret": "s"},
            ("jwks_url", "introspection_url"),
        ),
        ({"validation_mode": ValidationMode.INTROSPECTION_ONLY}, ("introspection_url",)),
        ({"validation_mode": ValidationMode.JWT_OR_INTROSPECT}, ("jwks_url", "introspection_url")),
        (
            {
                "validation_mode": ValidationMode.JWT_ONLY,
                "introspection_client_id": "i",
                "introspection_client_secret": "s",
            },
            ("jwks_url",),
        ),
        ({"jwks_url": "https://as.example/jwks"}, ()),
        ({"discover_endpoints": False}, ()),
    ],
)
def test_what_is_discovered(fields: dict[str, Any], wanted: tuple[str, ...]) -> None:
    assert endpoints_to_discover(discovering(**fields)) == wanted


def test_metadata_of_another_issuer_is_refused_naming_both() -> None:
    source = f"{ISSUER}/.well-known/oauth-authorization-server"
    document = {"issuer": ISSUER + "/", "jwks_uri": f"{ISSUER}/jwks"}
    with pytest.raises(ValueError) as caught:
        resolve_endpoints(discovering(), document, source)
    assert str(caught.value) == (
        f"issuer metadata names issuer 'https://as.example/' but Config.issuer is 'https://as.example' "
        f"(read from {source})"
    )
    with pytest.raises(ValueError, match="names issuer None"):
        resolve_endpoints(discovering(), {"jwks_uri": f"{ISSUER}/jwks"}, source)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({}, "jwks_url or introspection_url is required"),
        ({"jwks_uri": "/oauth/jwks"}, "jwks_url must be an absolute http(s) URL"),
        ({"jwks_uri": "ftp://as.example/jwks"}, "jwks_url must be an absolute http(s) URL"),
        ({"jwks_uri": "https://as.example/jwks\r\nX: y"}, "whitespace or control"),
        ({"jwks_uri": ["https://as.example/jwks"]}, "jwks_uri that is not a string"),
    ],
)
def test_unusable_discovered_endpoints_are_refused(document: dict[str, Any], fragment: str) -> None:
    source = f"{ISSUER}/.well-known/oauth-authorization-server"
    with pytest.raises(ValueError) as caught:
        resolve_endpoints(discovering(), {"issuer": ISSUER, **document}, source)
    assert fragment in str(caught.value) and source in str(caught.value)


def test_discovered_endpoints_fill_only_what_is_missing() -> None:
    document = {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/discovered/jwks",
        "introspection_endpoint": f"{ISSUER}/discovered/introspect",
    }
    cfg = discovering(
        jwks_url=f"{ISSUER}/mine/jwks", introspection_client_id="i", introspection_client_secret="s"
    )
    resolved = resolve_endpoints(cfg, document, "https://as.example/.well-known/oauth-authorization-server")
    assert (resolved.jwks_url, resolved.introspection_url) == (
        f"{ISSUER}/mine/jwks",
        f"{ISSUER}/discovered/introspect",
    )
    assert resolved.effective_validation_mode is ValidationMode.JWT_AND_INTROSPECT


# ---------------------------------------------------------------- against the local issuer
def test_issuer_alone_is_enough_to_validate_tokens(issuer: LocalIssuer, client: httpx.Client) -> None:
    with protected_app(issuer, Recorder(), **only_issuer(**no_credentials())) as p:
        assert (
            client.post(p.url, json=rpc("ping"), headers=bearer(issuer.mint(audience=p.url))).status_code
            == 200
        )
        other = issuer.mint(audience="https://other.example/mcp")
        assert client.post(p.url, json=rpc("ping"), headers=bearer(other)).status_code == 401
    assert (issuer.counters.jwks, issuer.counters.introspection) == (1, 0)  # JWT_ONLY, as inferred


def test_discovered_introspection_catches_revocation(issuer: LocalIssuer, client: httpx.Client) -> None:
    with protected_app(issuer, Recorder(), **only_issuer()) as p:  # credentials configured
        token = issuer.mint(audience=p.url)
        assert client.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code == 200
        issuer.revoke(token)
        assert client.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code == 401
    assert issuer.counters.introspection == 2


def test_openid_metadata_is_the_fallback(issuer: LocalIssuer, client: httpx.Client) -> None:
    issuer.faults.metadata = "down"
    with protected_app(issuer, Recorder(), **only_issuer(**no_credentials())) as p:
        assert (
            client.post(p.url, json=rpc("ping"), headers=bearer(issuer.mint(audience=p.url))).status_code
            == 200
        )


@pytest.mark.anyio
async def test_trailing_slash_issuer_refuses_startup_naming_both(issuer: LocalIssuer) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", **only_issuer(issuer=issuer.issuer + "/"))
    refusal = await startup_refusal(cfg)
    assert isinstance(refusal, ValueError)
    assert str(refusal).startswith(
        f"issuer metadata names issuer {issuer.issuer!r} but Config.issuer is {issuer.issuer + '/'!r}"
    )


@pytest.mark.anyio
async def test_unreadable_metadata_refuses_startup_naming_urls_and_causes(issuer: LocalIssuer) -> None:
    issuer.faults.metadata = "http_500"
    issuer.faults.openid_metadata = "malformed"
    refusal = await startup_refusal(issuer.config(resource_uri="http://127.0.0.1:9/mcp", **only_issuer()))
    rfc8414, openid = metadata_urls(issuer.issuer)
    assert str(refusal) == (
        f"issuer metadata discovery failed: GET {rfc8414}: HTTP 500; GET {openid}: answer is not JSON"
    )
    assert issuer.client_secret not in str(refusal)


@pytest.mark.anyio
async def test_discovery_is_bounded_by_the_http_timeout(issuer: LocalIssuer) -> None:
    issuer.faults.metadata = issuer.faults.openid_metadata = "slow"
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", http_timeout=0.3, **only_issuer())
    started = time.monotonic()
    refusal = await startup_refusal(cfg)
    assert time.monotonic() - started < 2
    assert str(refusal).count("timed out after 0.3s") == 2
