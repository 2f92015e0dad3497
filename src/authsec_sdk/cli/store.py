"""Stored logins: one file per protected resource in the user's config directory.

``$XDG_CONFIG_HOME/authsec/logins/`` (``~/.config`` when unset), the directory mode 0700 and
each file 0600, written whole and renamed into place so a crash never leaves half a file. A
file that others could read is refused, not used, as ssh refuses a readable key: it holds
tokens and the client secret needed to renew and revoke them.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600
#: Larger files are not read: no login record is this big.
_MAX_FILE_BYTES = 256 * 1024


class StoreError(Exception):
    """A stored login cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class Login:
    """One resource's login: where its tokens come from, and the current token.

    ``grant`` names how the token was got (``client_credentials`` for now), and so how it is
    got again when it expires or more scope is needed.
    """

    resource: str
    authorization_server: str
    token_endpoint: str
    revocation_endpoint: str | None
    grant: str
    client_id: str
    client_secret: str | None = field(repr=False)
    access_token: str = field(repr=False)
    expires_at: float | None
    scopes: tuple[str, ...]
    subject: str | None
    refresh_token: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "scopes": list(self.scopes)}

    @classmethod
    def from_json(cls, data: Any, source: Path) -> Login:
        """Read a stored record; anything malformed is a `StoreError` naming ``source``."""

        def bad(why: str) -> StoreError:
            return StoreError(f"{source}: {why}; log in again")

        if not isinstance(data, Mapping):
            raise bad("not a login record")
        required = (
            "resource",
            "authorization_server",
            "token_endpoint",
            "grant",
            "client_id",
            "access_token",
        )
        for name in required:
            if not isinstance(data.get(name), str) or not data[name]:
                raise bad(f"{name} is missing")
        for name in ("revocation_endpoint", "client_secret", "subject", "refresh_token"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise bad(f"{name} is not a string")
        expires_at = data.get("expires_at")
        if expires_at is not None and (
            isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))
        ):
            raise bad("expires_at is not a number")
        scopes = data.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise bad("scopes is not a list of strings")
        return cls(
            resource=data["resource"],
            authorization_server=data["authorization_server"],
            token_endpoint=data["token_endpoint"],
            revocation_endpoint=data.get("revocation_endpoint"),
            grant=data["grant"],
            client_id=data["client_id"],
            client_secret=data.get("client_secret"),
            access_token=data["access_token"],
            expires_at=None if expires_at is None else float(expires_at),
            scopes=tuple(scopes),
            subject=data.get("subject"),
            refresh_token=data.get("refresh_token"),
        )


def config_home(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME`` when set to an absolute path (the XDG rule), else ``~/.config``."""
    configured = environ.get("XDG_CONFIG_HOME", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    return Path.home() / ".config"


class LoginStore:
    """The logins under ``root`` (``<config home>/authsec``), one file per resource."""

    def __init__(self, root: Path) -> None:
        self._dir = root / "logins"

    @classmethod
    def for_user(cls, environ: Mapping[str, str]) -> LoginStore:
        return cls(config_home(environ) / "authsec")

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, resource: str) -> Path:
        """A file name from the resource's hash: any URL, no path tricks."""
        return self._dir / f"{hashlib.sha256(resource.encode()).hexdigest()[:32]}.json"

    def save(self, login: Login) -> Path:
        """Write ``login``, replacing the resource's previous one."""
        self._make_private_dir()
        target = self.path_for(login.resource)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(login.to_json(), out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target

    def load(self, resource: str) -> Login | None:
        """The login for exactly ``resource``, or None."""
        path = self.path_for(resource)
        if not path.exists():
            return None
        login = self._read(path)
        if login.resource != resource:
            raise StoreError(f"{path}: holds another resource's login; log in again")
        return login

    def all(self) -> list[Login]:
        """Every stored login, by resource."""
        if not self._dir.is_dir():
            return []
        return sorted((self._read(p) for p in self._dir.glob("*.json")), key=lambda login: login.resource)

    def delete(self, resource: str) -> bool:
        """Remove the resource's login; False when there was none."""
        path = self.path_for(resource)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _make_private_dir(self) -> None:
        for directory in (self._dir.parent, self._dir):
            directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
            if stat.S_IMODE(directory.stat().st_mode) & 0o077:
                directory.chmod(_PRIVATE_DIR)  # ours alone: tighten what an older version left

    def _read(self, path: Path) -> Login:
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o077 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            raise StoreError(f"{path}: readable by other users; delete it and log in again")
        if info.st_size > _MAX_FILE_BYTES:
            raise StoreError(f"{path}: too large to be a login record; delete it and log in again")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise StoreError(f"{path}: not JSON; delete it and log in again") from None
        return Login.from_json(data, path)
