"""Pure pieces of the request path: MCP header decoding and the SDK-user memo."""

from __future__ import annotations

import pytest

from authsec_sdk.runtime import Principal
from authsec_sdk.runtime.asgi.mcp_headers import AMBIGUOUS, decode_header_value
from authsec_sdk.runtime.asgi.sdk_user import SdkUsers
from authsec_sdk.runtime.principal import Claims


@pytest.mark.parametrize(
    ("raw", "meant"),
    [
        ("notes_read", "notes_read"),  # plain text is itself
        ("=?base64?Y2Fmw6k=?=", "café"),  # the canonical base64 of UTF-8 bytes
        ("=?base64?Y2Fmw6k?=", AMBIGUOUS),  # unpadded: not canonical
        ("=?base64?Y2Fmw6l=?=", AMBIGUOUS),  # stray low bits: another decoder may read otherwise
        ("=?base64?Y2Fm w6k=?=", AMBIGUOUS),  # not base64 at all
        ("=?base64?/w==?=", AMBIGUOUS),  # bytes that are not UTF-8
    ],
)
def test_header_values_are_read_as_the_client_meant_or_not_at_all(raw: str, meant: str) -> None:
    assert decode_header_value(raw) == meant


def principal(subject: str) -> Principal:
    return Principal(subject, "https://issuer", ("https://rs",), ("s",), Claims(sub=subject), expires_at=9e9)


def test_sdk_users_are_built_once_per_principal_and_bounded() -> None:
    users = SdkUsers(limit=2)
    alice, bob, carol = principal("alice"), principal("bob"), principal("carol")
    first = users(alice)
    assert users(alice) is first  # the same principal object: the same user
    assert first is not None
    assert first.access_token.subject == "alice" and first.access_token.token == ""  # never the token
    users(bob)
    users(carol)  # past the limit: the oldest (alice's) goes
    assert users(alice) is not first
    assert users(principal("alice")) is not users(alice)  # equal but another object: built anew
