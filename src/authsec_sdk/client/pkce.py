"""PKCE (RFC 7636) with the S256 method, the only one worth using: ``plain`` adds nothing."""

from __future__ import annotations

import base64
import hashlib
import secrets


def s256_challenge(verifier: str) -> str:
    """The ``S256`` code challenge of ``verifier``: base64url of its SHA-256, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A fresh code verifier (RFC 7636 §4.1: 43 to 128 unreserved characters) and its challenge."""
    verifier = secrets.token_urlsafe(64)
    return verifier, s256_challenge(verifier)
