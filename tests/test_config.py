"""Config: inference rules, validation messages, secrets kept out of repr, and from_env()."""

from __future__ import annotations

import pytest

from authsec_sdk.runtime import Config, PolicyMode, ValidationMode, from_env

BASE = {
    "issuer": "https://as.example",
    "jwks_url": "https://as.example/oauth/jwks",
    "resource_uri": "https://mcp.example.com/mcp",
}


def make(**changes: object) -> Config:
    return Config(**{**BASE, **changes})  # type: ignore[arg-type]


def problems(**changes: object) -> str:
    with pytest.raises(ValueError) as info:
        make(**changes).validate()
    return str(info.value)


def test_minimal_jwt_config_is_valid() -> None:
    make().validate()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"resource_server_id": "rs-1"}, PolicyMode.REMOTE_REQUIRED),
        ({"resource_server_id": "rs-1", "tool_scopes": {"a": []}}, PolicyMode.REMOTE_REQUIRED),
        ({"tool_scopes": {"a": ["s"]}}, PolicyMode.LOCAL_ONLY),
        ({"tool_scopes": {}}, PolicyMode.LOCAL_ONLY),
        ({}, PolicyMode.OPEN),
        ({"policy_mode": PolicyMode.OPEN, "resource_server_id": "x"}, PolicyMode.OPEN),
    ],
)
def test_policy_mode_inference(fields: dict[str, object], expected: PolicyMode) -> None:
    assert make(**fields).effective_policy_mode is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"introspection_url": "https://as.example/i"}, ValidationMode.JWT_AND_INTROSPECT),
        ({}, ValidationMode.JWT_ONLY),
        ({"jwks_url": "", "introspection_url": "https://as.example/i"}, ValidationMode.INTROSPECTION_ONLY),
        ({"validation_mode": ValidationMode.JWT_OR_INTROSPECT}, ValidationMode.JWT_OR_INTROSPECT),
    ],
)
def test_validation_mode_inference(fields: dict[str, object], expected: ValidationMode) -> None:
    assert make(**fields).effective_validation_mode is expected


def test_introspection_without_credentials_uses_the_documented_message() -> None:
    assert "introspection client credentials are required" in problems(
        introspection_url="https://as.example/i"
    )


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"issuer": ""}, "issuer is required"),
        ({"resource_uri": ""}, "resource_uri is required"),
        ({"resource_uri": "http://mcp.example.com/mcp"}, "must use https"),
        ({"resource_uri": "https://mcp.example.com/mcp/"}, "canonical"),
        ({"resource_uri": "https://MCP.example.com/mcp"}, "canonical"),
        ({"resource_uri": "https://mcp.example.com/mcp#x"}, "fragment"),
        ({"resource_uri": "https://mcp.example.com/mcp?a=1"}, "query"),
        ({"resource_uri": "mcp.example.com/mcp"}, "absolute https URL"),
        ({"jwks_url": ""}, "jwks_url or introspection_url is required"),
        ({"validation_mode": ValidationMode.JWT_AND_INTROSPECT}, "requires introspection_url"),
        ({"jwks_url": "ftp://x/jwks"}, "jwks_url must be an absolute http(s) URL"),
        ({"policy_mode": PolicyMode.REMOTE_REQUIRED}, "requires resource_server_id"),
        ({"resource_server_id": "rs"}, "REMOTE_REQUIRED requires introspection_client_id"),
        (
            {
                "policy_mode": PolicyMode.REMOTE_WITH_LOCAL_FALLBACK,
                "resource_server_id": "rs",
                "introspection_client_id": "id",
                "introspection_client_secret": "s",
            },
            "requires tool_scopes",
        ),
        ({"policy_mode": PolicyMode.LOCAL_ONLY}, "LOCAL_ONLY requires tool_scopes"),
        ({"allowed_algorithms": ("HS256",)}, "unsupported values ['HS256']"),
        ({"allowed_algorithms": ("none",)}, "unsupported values ['none']"),
        ({"allowed_algorithms": ()}, "must not be empty"),
        ({"max_body_bytes": 0}, "max_body_bytes must be a positive number"),
        ({"scope_matrix_ttl": float("nan")}, "scope_matrix_ttl must be a positive number"),
        ({"clock_leeway": 3600}, "at most 300"),
        ({"tool_scopes": {"echo": "mcp:read"}}, "must be a list of non-empty scope strings"),
        ({"supported_scopes": "a b"}, "not a string"),
        ({"publish_manifest": True}, "publish_manifest requires resource_server_id"),
    ],
)
def test_unusable_settings_are_named(fields: dict[str, object], fragment: str) -> None:
    assert fragment in problems(**fields)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ('https://mcp.example.com/m"cp', "quotes or backslashes"),
        ("https://mcp.example.com/m\\cp", "quotes or backslashes"),
        ("https://mcp.example.com/m cp", "whitespace or control"),
        ("https://mcp.example.com/mcp\r\nX-Injected: 1", "whitespace or control"),
        ("https://mcp.example.com/mcp\n", "whitespace or control"),  # urlsplit drops it silently
        ("\thttps://mcp.example.com/mcp", "whitespace or control"),
        ("https://mcp.example.com/mcp\x00", "whitespace or control"),
        ("https://mcp.example.com/mcp\x7f", "whitespace or control"),
        ("https://mcp.example.com/mcp\u00a0", "whitespace or control"),  # no-break space
        ("https://mcp.example.com/mcp\u2028", "whitespace or control"),  # line separator
        ("https://mcp.example.com/mcp\u200b", "whitespace or control"),  # zero-width space
        ("https://mcp.example.com/mcp\x85", "whitespace or control"),  # C1 next line
        ("https://mcp.example.com/caf\u00e9", "only URI characters"),
        ("https://mcp.example.com/<mcp>", "only URI characters"),
        ("https://mcp.example.com/mcp#", "fragment"),
        ("https://user:pw@mcp.example.com/mcp", "user information"),
        ("https://mcp.example.com:99999/mcp", "invalid port"),
        ("https://mcp.example.com:https/mcp", "invalid port"),
        ("//mcp.example.com/mcp", "absolute https URL"),
    ],
)
def test_resource_uri_must_be_safe_to_write_into_a_header(uri: str, fragment: str) -> None:
    message = problems(resource_uri=uri)
    assert fragment in message and "resource_uri" in message


@pytest.mark.parametrize("name", ["issuer", "authorization_server", "jwks_url", "introspection_url"])
@pytest.mark.parametrize("suffix", ["\r\n", " ", '"', "\u00a0"])
def test_other_urls_must_be_clean_too(name: str, suffix: str) -> None:
    fields = {"introspection_client_id": "id", "introspection_client_secret": "s"}
    assert name in problems(**fields, **{name: f"https://as.example/x{suffix}"})


def test_resource_uri_with_port_and_ipv6_host_is_valid() -> None:
    make(resource_uri="https://mcp.example.com:8443/tenant/mcp").validate()
    make(resource_uri="http://[::1]:8000/mcp").validate()


def test_http_resource_is_allowed_on_loopback_only() -> None:
    make(resource_uri="http://127.0.0.1:8000/mcp").validate()
    make(resource_uri="http://localhost:8000/mcp").validate()


def test_secret_never_appears_in_repr() -> None:
    cfg = make(introspection_client_secret="s3cr3t-value", introspection_client_id="id")
    assert "s3cr3t-value" not in repr(cfg)
    assert "s3cr3t-value" not in str(cfg)


def test_authorization_server_defaults_to_issuer() -> None:
    assert make().effective_authorization_server == "https://as.example"
    assert make(authorization_server="https://other").effective_authorization_server == "https://other"


FULL_ENV = {
    "AUTHSEC_ISSUER": "https://as.example",
    "AUTHSEC_AUTHORIZATION_SERVER": "https://as.example",
    "AUTHSEC_JWKS_URL": "https://as.example/oauth/jwks",
    "AUTHSEC_INTROSPECTION_URL": "https://as.example/oauth/introspect",
    "AUTHSEC_INTROSPECTION_CLIENT_ID": "rs-1",
    "AUTHSEC_INTROSPECTION_CLIENT_SECRET": "top-secret",
    "AUTHSEC_RESOURCE_URI": "https://mcp.example.com/mcp",
    "AUTHSEC_RESOURCE_NAME": "GitHub MCP Server",
    "AUTHSEC_RESOURCE_SERVER_ID": "rs-1",
    "AUTHSEC_SUPPORTED_SCOPES": "mcp:read  mcp:write",
    "AUTHSEC_POLICY_MODE": "remote_with_local_fallback",
    "AUTHSEC_VALIDATION_MODE": "jwt_or_introspect",
    "AUTHSEC_PUBLISH_MANIFEST": "true",
    "AUTHSEC_TOOL_SCOPES": '{"echo": [], "write": ["mcp:write"]}',
}


def test_from_env_reads_every_documented_variable() -> None:
    cfg = from_env(FULL_ENV)
    cfg.validate()
    assert cfg.issuer == "https://as.example"
    assert cfg.authorization_server == "https://as.example"
    assert cfg.jwks_url.endswith("/jwks")
    assert cfg.introspection_url.endswith("/introspect")
    assert cfg.introspection_client_id == "rs-1"
    assert cfg.introspection_client_secret == "top-secret"
    assert cfg.resource_uri == "https://mcp.example.com/mcp"
    assert cfg.resource_name == "GitHub MCP Server"
    assert cfg.resource_server_id == "rs-1"
    assert tuple(cfg.supported_scopes) == ("mcp:read", "mcp:write")
    assert cfg.policy_mode is PolicyMode.REMOTE_WITH_LOCAL_FALLBACK
    assert cfg.validation_mode is ValidationMode.JWT_OR_INTROSPECT
    assert cfg.publish_manifest is True
    assert cfg.tool_scopes == {"echo": [], "write": ["mcp:write"]}


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    assert from_env().resource_name == "GitHub MCP Server"


def test_from_env_leaves_unset_variables_at_their_defaults() -> None:
    cfg = from_env({"AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_POLICY_MODE": ""})
    assert cfg.policy_mode is PolicyMode.UNSET
    assert cfg.publish_manifest is False
    assert cfg.scope_matrix_ttl == 300


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHSEC_POLICY_MODE", "remote"),
        ("AUTHSEC_VALIDATION_MODE", "jwt"),
        ("AUTHSEC_PUBLISH_MANIFEST", "maybe"),
        ("AUTHSEC_TOOL_SCOPES", "{not json"),
        ("AUTHSEC_TOOL_SCOPES", '["echo"]'),
        ("AUTHSEC_TOOL_SCOPES", '{"echo": "mcp:read"}'),
        ("AUTHSEC_SCOPE_MATRIX_TTL", "five minutes"),
        ("AUTHSEC_MAX_BODY_BYTES", "1.5"),
    ],
)
def test_from_env_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        from_env({**FULL_ENV, name: value})


def test_from_env_error_does_not_echo_the_secret_value() -> None:
    with pytest.raises(ValueError) as info:
        from_env({**FULL_ENV, "AUTHSEC_TOOL_SCOPES": "{top-secret"})
    assert "top-secret" not in str(info.value)
