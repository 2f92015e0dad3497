"""`auth_from_env()`: the auth model a process is configured for, from ``AUTHSEC_*`` variables.

``AUTHSEC_AUTH_MODE`` picks the model; each model takes only its own variables. A missing
one, or one that belongs to another model (it would be silently ignored, and the process
would run as someone other than its operator meant), is a `ValueError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .base import OutboundAuth
from .discovery import is_http_url
from .refresh import RefreshTokenAuth
from .request_bound import RequestBoundAuth
from .runtime_credential import RuntimeCredentialAuth

MODE = "AUTHSEC_AUTH_MODE"
#: Each mode's required and allowed variables.
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "jwt": ("AUTHSEC_ACCESS_TOKEN", "AUTHSEC_REFRESH_TOKEN"),
    "session_jwt": ("AUTHSEC_AUDIENCE",),
    "runtime_credential": ("AUTHSEC_CLIENT_ID", "AUTHSEC_CLIENT_SECRET"),
}
_OPTIONAL: Mapping[str, tuple[str, ...]] = {
    "jwt": ("AUTHSEC_TOKEN_ENDPOINT", "AUTHSEC_ISSUER", "AUTHSEC_CLIENT_ID", "AUTHSEC_CLIENT_SECRET"),
    "session_jwt": ("AUTHSEC_TOKEN_ENDPOINT", "AUTHSEC_CLIENT_ID", "AUTHSEC_CLIENT_SECRET"),
    "runtime_credential": ("AUTHSEC_TOKEN_ENDPOINT", "AUTHSEC_ISSUER", "AUTHSEC_AUDIENCE"),
}
#: Every variable some mode reads: set for another mode, it is a contradiction.
_ALL = frozenset(name for table in (_REQUIRED, _OPTIONAL) for names in table.values() for name in names)
#: Variables the runtime's own `from_env` reads too: shared by design, never a contradiction.
_SHARED = frozenset({"AUTHSEC_ISSUER"})


def auth_from_env(environ: Mapping[str, str] | None = None) -> OutboundAuth:
    """The auth model ``AUTHSEC_AUTH_MODE`` names (``os.environ`` unless ``environ`` is given).

    - ``jwt``: `RefreshTokenAuth` from ``AUTHSEC_ACCESS_TOKEN`` and ``AUTHSEC_REFRESH_TOKEN``
      (``AUTHSEC_CLIENT_ID`` / ``AUTHSEC_CLIENT_SECRET`` if the client must identify itself);
    - ``session_jwt``: `RequestBoundAuth` for ``AUTHSEC_AUDIENCE`` (``AUTHSEC_CLIENT_ID`` /
      ``AUTHSEC_CLIENT_SECRET`` to exchange as another client than the endpoint's own);
    - ``runtime_credential``: `RuntimeCredentialAuth` from ``AUTHSEC_CLIENT_ID`` and
      ``AUTHSEC_CLIENT_SECRET``, for ``AUTHSEC_AUDIENCE`` if set.

    ``AUTHSEC_TOKEN_ENDPOINT`` is the token endpoint; without it, ``jwt`` and
    ``runtime_credential`` discover it from ``AUTHSEC_ISSUER`` and ``session_jwt`` from the
    protected endpoint's issuer.
    """
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in (MODE, *_ALL)}
    mode = values[MODE].lower()
    if mode not in _REQUIRED:
        shown = f"{values[MODE][:40]!r}" if values[MODE] else "not set"
        raise ValueError(f"{MODE} must be one of {', '.join(_REQUIRED)} ({shown})")
    for name in _REQUIRED[mode]:
        if not values[name]:
            raise ValueError(f"{name} is required when {MODE}={mode}")
    allowed = {*_REQUIRED[mode], *_OPTIONAL[mode], *_SHARED}
    for name in sorted(_ALL - allowed):
        if values[name]:
            raise ValueError(f"{name} is set but {MODE}={mode} does not use it")
    if values["AUTHSEC_CLIENT_SECRET"] and not values["AUTHSEC_CLIENT_ID"]:
        raise ValueError(f"AUTHSEC_CLIENT_SECRET is set without AUTHSEC_CLIENT_ID ({MODE}={mode})")
    for name in ("AUTHSEC_TOKEN_ENDPOINT", "AUTHSEC_ISSUER"):
        if values[name] and not is_http_url(values[name]):
            raise ValueError(f"{name} must be an absolute http(s) URL")
    endpoint = values["AUTHSEC_TOKEN_ENDPOINT"] or None
    if mode != "session_jwt" and endpoint is None and not values["AUTHSEC_ISSUER"]:
        raise ValueError(
            f"AUTHSEC_TOKEN_ENDPOINT (or AUTHSEC_ISSUER to discover it) is required when {MODE}={mode}"
        )
    client_id = values["AUTHSEC_CLIENT_ID"] or None
    client_secret = values["AUTHSEC_CLIENT_SECRET"] or None
    issuer = values["AUTHSEC_ISSUER"] or None
    if mode == "jwt":
        return RefreshTokenAuth(
            values["AUTHSEC_ACCESS_TOKEN"],
            values["AUTHSEC_REFRESH_TOKEN"],
            endpoint,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
        )
    if mode == "session_jwt":
        if client_id is not None and client_secret is None:
            raise ValueError(f"AUTHSEC_CLIENT_ID is set without AUTHSEC_CLIENT_SECRET ({MODE}={mode})")
        return RequestBoundAuth(
            values["AUTHSEC_AUDIENCE"],
            token_endpoint=endpoint,
            client_id=client_id,
            client_secret=client_secret,
        )
    return RuntimeCredentialAuth(
        values["AUTHSEC_CLIENT_ID"],
        values["AUTHSEC_CLIENT_SECRET"],
        endpoint,
        values["AUTHSEC_AUDIENCE"] or None,
        issuer=issuer,
    )
