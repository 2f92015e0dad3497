"""The transport settings added for issue 4: defaults, validation and environment variables."""

from __future__ import annotations

from typing import Any

import pytest

from authsec_sdk.runtime import Config, from_env

BASE: dict[str, Any] = {
    "issuer": "https://issuer.example",
    "resource_uri": "https://h.example/mcp",
    "jwks_url": "https://issuer.example/jwks",
}


def problems(**fields: object) -> str:
    with pytest.raises(ValueError) as info:
        Config(**{**BASE, **fields}).validate()
    return str(info.value)


def test_defaults() -> None:
    cfg = Config(**BASE)
    assert cfg.allowed_origins == ()
    assert cfg.filter_tools_list is True
    assert cfg.close_streams_on_token_expiry is False
    assert cfg.max_tracked_sessions == 10_000


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"allowed_origins": "https://a.example"}, "allowed_origins must be a list"),
        ({"allowed_origins": ("https://a.example/",)}, "allowed_origins entries"),
        ({"allowed_origins": ("HTTPS://A.example",)}, "allowed_origins entries"),
        ({"allowed_origins": ("a.example",)}, "allowed_origins entries"),
        ({"filter_tools_list": "yes"}, "filter_tools_list must be True or False"),
        ({"close_streams_on_token_expiry": 1}, "close_streams_on_token_expiry must be True or False"),
        ({"max_tracked_sessions": 0}, "max_tracked_sessions must be a positive number"),
    ],
)
def test_unusable_values_are_named(fields: dict[str, object], fragment: str) -> None:
    assert fragment in problems(**fields)


def test_valid_origins_pass() -> None:
    Config(
        **BASE, allowed_origins=("https://a.example", "http://localhost:3000", "http://[::1]:8080")
    ).validate()


def test_from_env() -> None:
    cfg = from_env(
        {
            "AUTHSEC_ALLOWED_ORIGINS": "https://a.example  https://b.example",
            "AUTHSEC_FILTER_TOOLS_LIST": "false",
            "AUTHSEC_CLOSE_STREAMS_ON_TOKEN_EXPIRY": "on",
            "AUTHSEC_MAX_TRACKED_SESSIONS": "50",
        }
    )
    assert cfg.allowed_origins == ("https://a.example", "https://b.example")
    assert cfg.filter_tools_list is False
    assert cfg.close_streams_on_token_expiry is True
    assert cfg.max_tracked_sessions == 50


def test_from_env_names_a_bad_boolean() -> None:
    with pytest.raises(ValueError, match="AUTHSEC_FILTER_TOOLS_LIST"):
        from_env({"AUTHSEC_FILTER_TOOLS_LIST": "maybe"})
