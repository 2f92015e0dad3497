"""The exported error types carry the status and OAuth error code the middleware answers with."""

from __future__ import annotations

import pytest

from authsec_sdk.runtime import (
    AuthSecError,
    InsufficientScopeError,
    PolicyIncompleteError,
    PolicyUnavailableError,
    TokenInactiveError,
    TokenInvalidError,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (TokenInvalidError("bad signature"), 401, "invalid_token"),
        (TokenInactiveError("token is not active"), 401, "invalid_token"),
        (InsufficientScopeError("no", tool="t", required_scopes=["a"]), 403, "insufficient_scope"),
        (PolicyUnavailableError("policy_unavailable"), 503, "policy_unavailable"),
        (PolicyIncompleteError("needs_setup", "scan the tools"), 503, "policy_incomplete"),
    ],
)
def test_error_types_map_to_the_documented_statuses(error: AuthSecError, status: int, code: str) -> None:
    assert error.status_code == status
    assert error.error == code


def test_incomplete_policy_is_also_a_policy_unavailable_error() -> None:
    error = PolicyIncompleteError("needs_setup", "scan the tools")
    assert isinstance(error, PolicyUnavailableError)
    assert (error.state, error.reason) == ("needs_setup", "scan the tools")
    assert str(error) == "state=needs_setup: scan the tools"


def test_inactive_is_a_kind_of_invalid_token() -> None:
    assert isinstance(TokenInactiveError(), TokenInvalidError)
