"""`extract_bearer` on raw ASGI header pairs (RFC 6750 §2.1, OAuth 2.1 §5.1)."""

from __future__ import annotations

import pytest

from authsec_sdk.runtime.errors import InvalidRequestError, TokenInvalidError
from authsec_sdk.runtime.tokens import extract_bearer
from authsec_sdk.runtime.tokens.bearer import MAX_TOKEN_BYTES

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"


def auth(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"example.test"), (b"authorization", value), (b"accept", b"*/*")]


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer " + TOKEN.encode(),
        b"bearer " + TOKEN.encode(),
        b"BEARER " + TOKEN.encode(),
        b"BeArEr   " + TOKEN.encode(),
    ],
)
def test_scheme_is_case_insensitive_and_spaces_may_repeat(value: bytes) -> None:
    assert extract_bearer(auth(value)) == TOKEN


@pytest.mark.parametrize("token", ["abc", "a-b.c_d~e+f/g", "abc=", "abc==", "A1.B2.C3"])
def test_every_token68_form_is_accepted(token: str) -> None:
    assert extract_bearer(auth(f"Bearer {token}".encode())) == token


def test_no_authorization_header_is_no_token() -> None:
    assert extract_bearer([(b"host", b"example.test")]) is None
    assert extract_bearer([]) is None


@pytest.mark.parametrize("value", [b"Basic dXNlcjpwYXNz", b"Digest x=1", b"Bearertoken", b"DPoP abc"])
def test_other_schemes_are_no_token(value: bytes) -> None:
    assert extract_bearer(auth(value)) is None


def test_header_name_case_does_not_matter() -> None:
    assert extract_bearer([(b"Authorization", b"Bearer abc")]) == "abc"


def test_two_authorization_headers_are_invalid_request() -> None:
    headers = [(b"authorization", b"Bearer abc"), (b"authorization", b"Bearer abc")]
    with pytest.raises(InvalidRequestError):
        extract_bearer(headers)


def test_a_second_header_of_another_scheme_is_still_invalid_request() -> None:
    with pytest.raises(InvalidRequestError):
        extract_bearer([(b"authorization", b"Basic dXNlcjpwYXNz"), (b"authorization", b"Bearer abc")])


@pytest.mark.parametrize("value", [b"Bearer", b"Bearer ", b"bearer    "])
def test_bearer_without_token_is_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        extract_bearer(auth(value))


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer abc def",
        b"Bearer abc,Bearer def",
        b'Bearer "abc"',
        b"Bearer abc\r\nX-Injected: 1",
        b"Bearer =abc",
        b"Bearer abc=def",
        b"Bearer ab\xc3\xa9",
        b"Bearer abc\tdef",
        b"Bearer abc ",
    ],
)
def test_illegal_characters_are_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        extract_bearer(auth(value))


def test_token_at_the_size_limit_is_accepted_and_one_byte_more_is_invalid() -> None:
    assert extract_bearer(auth(b"Bearer " + b"a" * MAX_TOKEN_BYTES)) == "a" * MAX_TOKEN_BYTES
    with pytest.raises(TokenInvalidError):
        extract_bearer(auth(b"Bearer " + b"a" * (MAX_TOKEN_BYTES + 1)))
