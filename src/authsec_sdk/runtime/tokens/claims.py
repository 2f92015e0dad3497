"""Claim checks and the `Principal` they produce, shared by JWT and introspection.

Pure functions of their inputs (the clock is a parameter) so both validation paths
apply exactly the same rules. Error descriptions are fixed strings: they reach the
client's WWW-Authenticate header, so they never echo claim values; the values that
failed go into the error's log-only ``detail``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..claim_paths import DEFAULT_CLAIM_PATHS, ClaimPaths
from ..errors import TokenInvalidError
from ..logsafe import shown
from ..principal import Claims, Principal
from .refusal import RefusedTokenError


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: frozenset[str],
    now: float,
    leeway: float,
    require_aud: bool = True,
    require_exp: bool = True,
    require_iss: bool = True,
) -> None:
    """Raise `TokenInvalidError` unless ``claims`` are from ``issuer``, for us, and current.

    ``iss`` must equal ``issuer`` exactly (no normalisation: RFC 8414 §3.3); ``aud`` must
    name one of ``audiences``, else the token was minted for another resource (RFC 8707).
    The ``require_*`` switches only allow a claim to be absent; a present claim is
    always checked. Introspection answers may omit them, JWTs may not.
    """
    if ("iss" in claims or require_iss) and claims.get("iss") != issuer:
        raise RefusedTokenError("issuer mismatch", f"iss {shown(claims.get('iss'))}, expected {issuer!r}")
    if ("aud" in claims or require_aud) and not audiences.intersection(audience_of(claims)):
        expected = sorted(audiences)
        raise RefusedTokenError(
            "audience mismatch", f"aud {shown(claims.get('aud'))}, expected one of {expected}"
        )
    exp = _time_claim(claims, "exp")
    if exp is None:
        if require_exp:
            raise TokenInvalidError("token has no expiry")
    elif exp <= now - leeway:
        raise RefusedTokenError(
            "token expired", f"exp {exp:.0f} was {now - exp:.0f}s ago, leeway {leeway:g}s"
        )
    nbf = _time_claim(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise RefusedTokenError(
            "token not yet valid", f"nbf {nbf:.0f} is {nbf - now:.0f}s ahead, leeway {leeway:g}s"
        )
    iat = _time_claim(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise RefusedTokenError(
            "token issued in the future", f"iat {iat:.0f} is {iat - now:.0f}s ahead, leeway {leeway:g}s"
        )


def principal_from_claims(
    claims: Mapping[str, Any], *, active: bool = True, claim_paths: ClaimPaths = DEFAULT_CLAIM_PATHS
) -> Principal:
    """The `Principal` for claims that already passed `check_claims`; its RBAC helpers read
    roles, groups and permissions at ``claim_paths``."""
    subject = claims.get("sub")
    issuer = claims.get("iss")
    return Principal(
        subject=subject if isinstance(subject, str) else "",
        issuer=issuer if isinstance(issuer, str) else "",
        audience=audience_of(claims),
        scopes=scopes_of(claims),
        claims=Claims(claims),
        active=active,
        expires_at=_time_claim(claims, "exp"),
        claim_paths=claim_paths,
    )


def audience_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """``aud`` as a tuple: a single string or the strings of a list (RFC 7519 §4.1.3)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,) if aud else ()
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str) and a)
    return ()


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Granted scopes, from ``scope`` (RFC 9068/7662, space-delimited) or else ``scp``.

    ``scp`` is what several issuers emit instead, as a list or a space-delimited string.
    Order is kept and duplicates dropped; scopes are case-sensitive.
    """
    raw = claims["scope"] if "scope" in claims else claims.get("scp")
    if isinstance(raw, str):
        found: list[str] = raw.split()
    elif isinstance(raw, list):
        found = [s for s in raw if isinstance(s, str) and s]
    else:
        found = []
    return tuple(dict.fromkeys(found))


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim, None when absent; anything but a finite number is invalid.

    ``bool`` is excluded although it is an ``int``, and so are NaN, infinities and huge
    integers, which Python's JSON decoder accepts and which would make ``exp`` never expire.
    """
    if name not in claims:
        return None
    value = claims[name]
    invalid = RefusedTokenError(f"invalid {name} claim", f"{name} {shown(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid
    try:
        number = float(value)
    except OverflowError:
        raise invalid from None
    if not math.isfinite(number):
        raise invalid
    return number
