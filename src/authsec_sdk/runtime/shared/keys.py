"""Names in the shared store: every key and channel of one protected resource under its own prefix.

Two servers may share one Redis: their keys never meet, because the prefix is a digest of
``resource_uri``. A token is known only by its SHA-256 digest (as in the local caches), so the
store never holds a bearer token, and a key's length does not depend on the token's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Every key and channel begins with this, then the resource's digest.
ROOT = "authsec"


@dataclass(frozen=True)
class Keys:
    """The key and channel names of one resource."""

    prefix: str

    @classmethod
    def for_resource(cls, resource_uri: str) -> Keys:
        digest = hashlib.sha256(resource_uri.encode()).hexdigest()[:24]
        return cls(f"{ROOT}:{digest}:")

    def answer(self, digest: bytes) -> str:
        """Where the introspection answer for the token with SHA-256 ``digest`` is kept."""
        return f"{self.prefix}intro:{digest.hex()}"

    def answer_lock(self, digest: bytes) -> str:
        """Held by the one worker asking the issuer about that token."""
        return f"{self.prefix}intro-lock:{digest.hex()}"

    @property
    def policy(self) -> str:
        return f"{self.prefix}policy"

    @property
    def policy_lock(self) -> str:
        return f"{self.prefix}policy-lock"

    def manifest(self, digest: str) -> str:
        """Claimed by the worker that publishes the manifest whose body has ``digest``."""
        return f"{self.prefix}manifest:{digest}"

    def rate(self, owner_digest: str, rule: str, window: int) -> str:
        """One counter: a principal, the rule counting it and the window's number."""
        rule_digest = hashlib.sha256(rule.encode()).hexdigest()[:16]
        return f"{self.prefix}rate:{owner_digest}:{rule_digest}:{window}"

    @property
    def revoked_channel(self) -> str:
        """Digests (hex) of tokens the issuer said are inactive."""
        return f"{self.prefix}revoked"

    @property
    def policy_channel(self) -> str:
        """The generation of a policy document just stored."""
        return f"{self.prefix}policy-changed"
