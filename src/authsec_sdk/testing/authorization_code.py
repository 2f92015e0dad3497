"""The authorization-code grant with PKCE for the local issuer (RFC 6749 §4.1, RFC 7636).

The authorization endpoint approves at once, as it would for a user who has signed in and
consented before, so tests and the demo can drive a browser flow headlessly: a client opens
the URL, follows the redirect to its loopback listener (RFC 8252 §7.3) and redeems the code.
Only ``S256`` challenges are accepted (``plain`` adds nothing over no PKCE at all), each code
is good once, for one minute, for the client and redirect URI it was issued to.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..client.pkce import s256_challenge

AUTHORIZATION_CODE = "authorization_code"
#: Seconds a code may wait to be redeemed.
CODE_LIFETIME = 60.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class IssuedCode:
    """What a code stands for: who approved what, for which client, redirect and challenge."""

    client_id: str
    redirect_uri: str
    challenge: str
    subject: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    expires_at: float


class CodeRefusedError(Exception):
    """A code that cannot be redeemed: always ``invalid_grant`` (RFC 6749 §5.2)."""


def is_loopback_redirect(uri: str) -> bool:
    """An ``http`` URI on the loopback interface, any port, without a fragment (RFC 8252 §7.3)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme == "http" and host in _LOOPBACK_HOSTS and not parts.fragment


def valid_verifier(verifier: str) -> bool:
    """RFC 7636 §4.1: 43 to 128 characters of ``[A-Za-z0-9-._~]``."""
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return 43 <= len(verifier) <= 128 and set(verifier) <= allowed


class AuthorizationCodes:
    """Codes issued and not yet redeemed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, IssuedCode] = {}

    def issue(self, record: IssuedCode) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = record
        return code

    def redeem(
        self, code: str, *, client_id: str, redirect_uri: str, verifier: str, now: float
    ) -> IssuedCode:
        """The record behind ``code``, spent now; `CodeRefusedError` unless every check holds."""
        with self._lock:
            record = self._codes.pop(code, None)  # spent even when refused: a code is tried once
        if record is None or record.expires_at <= now:
            raise CodeRefusedError("unknown, used or expired code")
        if record.client_id != client_id or record.redirect_uri != redirect_uri:
            raise CodeRefusedError("the code was issued to another client or redirect URI")
        if not valid_verifier(verifier) or not hmac.compare_digest(
            s256_challenge(verifier), record.challenge
        ):
            raise CodeRefusedError("code_verifier does not match the code challenge")
        return record

    def clear(self) -> None:
        with self._lock:
            self._codes.clear()
