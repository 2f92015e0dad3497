"""The outbound side's pure decisions: reading challenges and token answers, when to renew."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from authsec_sdk.client.challenge import MAX_HEADER_CHARS, Challenge, bearer_challenge
from authsec_sdk.client.errors import OutboundAuthError
from authsec_sdk.client.token_endpoint import IssuedToken, read_token_answer, target_params


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            ['Bearer realm="mcp", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"'],
            Challenge(resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"),
        ),
        (
            ['Bearer error="insufficient_scope", scope="a b", error_description="needs \\"a\\""'],
            Challenge(error="insufficient_scope", scopes=("a", "b")),
        ),
        (
            ['Basic realm="x", Bearer error=invalid_token, scope=a'],
            Challenge(error="invalid_token", scopes=("a",)),
        ),
        (['Basic realm="x"', 'bearer scope="z"'], Challenge(scopes=("z",))),
        (['Bearer scope="first", scope="second"'], Challenge(scopes=("first",))),
        (
            ['Bearer scope="a", DPoP algs="ES256"'],
            Challenge(scopes=("a",)),
        ),  # the next scheme's params are not ours
        (["Bearer"], Challenge()),
        (['Basic realm="x"'], None),
        ([], None),
        (['Bearer scope="' + "a" * MAX_HEADER_CHARS + '"'], None),  # too long to read
        (['Bearer scope="unterminated'], Challenge()),
    ],
)
def test_bearer_challenge(values: list[str], expected: Challenge | None) -> None:
    assert bearer_challenge(values) == expected


GOOD: dict[str, Any] = {"access_token": "tok", "token_type": "Bearer", "expires_in": 60}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ([GOOD], "not a JSON object"),
        ({**GOOD, "access_token": ""}, "no usable access_token"),
        ({**GOOD, "access_token": "x" * 20000}, "no usable access_token"),
        ({**GOOD, "access_token": "tök"}, "no usable access_token"),
        ({**GOOD, "token_type": "DPoP"}, "token_type other than Bearer"),
        ({**GOOD, "refresh_token": 5}, "unusable refresh_token"),
        ({**GOOD, "scope": ["a"]}, "scope that is not a string"),
        ({**GOOD, "expires_in": 0}, "expires_in that is not a positive number"),
        ({**GOOD, "expires_in": True}, "expires_in that is not a positive number"),
        ({**GOOD, "expires_in": "60"}, "expires_in that is not a positive number"),
        ({**GOOD, "expires_in": float("nan")}, "expires_in that is not a positive number"),
    ],
)
def test_malformed_token_answers_are_refused(answer: object, why: str) -> None:
    with pytest.raises(OutboundAuthError) as info:
        read_token_answer(answer, "https://as.example/token", issued_at=1000.0)
    assert why in str(info.value) and info.value.reason == "unavailable"
    assert "tok" not in str(info.value).replace("token", "")


def test_token_answers_and_when_to_renew() -> None:
    issued = read_token_answer({**GOOD, "scope": "a b", "refresh_token": "r"}, "e", issued_at=1000.0)
    assert (issued.expires_at, issued.scopes, issued.refresh_token) == (1060.0, ("a", "b"), "r")
    assert "tok" not in repr(issued) and "'r'" not in repr(issued)
    # A 60 s token is renewed at half its life, not 30 s before its end when skew is larger.
    assert issued.usable(1029.9, skew=45) and not issued.usable(1030.0, skew=45)
    assert issued.usable(1049.9, skew=10) and not issued.usable(1050.0, skew=10)
    # Without expires_in, a JWT's exp tells; an opaque token is used until refused.
    signed = jwt.encode({"exp": 2000}, "k" * 32, algorithm="HS256")
    assert (
        read_token_answer(
            {**GOOD, "access_token": signed, "expires_in": None}, "e", issued_at=1000
        ).expires_at
        == 2000
    )
    assert read_token_answer({**GOOD, "expires_in": None}, "e", issued_at=1000).expires_at is None
    assert read_token_answer({**GOOD, "expires_in": 10**12}, "e", issued_at=1000).expires_at is None
    assert IssuedToken("t", None).usable(10**12, skew=30)


def test_target_params() -> None:
    assert target_params("https://api.example/v1") == [("resource", "https://api.example/v1")]
    assert target_params("billing-api") == [("audience", "billing-api")]
    assert target_params(None) == []
