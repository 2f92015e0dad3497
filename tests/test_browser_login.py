"""The browser login's redirect check: anyone on this machine can write the query it reads."""

from __future__ import annotations

import pytest

from authsec_sdk.cli.browser_login import Redirect, code_from
from authsec_sdk.client.errors import OutboundAuthError

ISSUER = "http://127.0.0.1:9"


def refusal(params: dict[str, str]) -> OutboundAuthError:
    with pytest.raises(OutboundAuthError) as caught:
        code_from(Redirect(params), state="s-123", issuer=ISSUER)
    return caught.value


def test_the_code_comes_back_only_with_our_state_and_issuer() -> None:
    assert (
        code_from(Redirect({"state": "s-123", "code": "c", "iss": ISSUER}), state="s-123", issuer=ISSUER)
        == "c"
    )
    for state in ("s-124", "", "s-123\u00e9", "\u2603"):  # non-ASCII too: refused, never a crash
        assert "state is not ours" in str(refusal({"state": state, "code": "c"}))
    assert "names issuer" in str(refusal({"state": "s-123", "code": "c", "iss": "http://evil"}))
    assert "no code" in str(refusal({"state": "s-123"}))


def test_hostile_error_text_is_quoted_and_bounded() -> None:
    hostile = "\x1b[2J\x1b]0;pwned\x07" + "x" * 5000
    refused = refusal({"state": "s-123", "error": hostile, "error_description": hostile})
    message = str(refused)
    assert "\x1b" not in message and "\x07" not in message and len(message) < 1000
    assert refused.error == ""  # not an OAuth error code: not passed on as one
    assert refusal({"state": "s-123", "error": "access_denied"}).error == "access_denied"
