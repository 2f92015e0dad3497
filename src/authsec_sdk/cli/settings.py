"""The server's configuration as the server reads it: ``AUTHSEC_*`` variables, optionally
from an env file, through the runtime's own `from_env`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from ..runtime.config import Config, from_env


def environment(env_file: Path | None) -> dict[str, str]:
    """The process environment, with ``env_file``'s values on top: the file is what the user
    pointed at, so it wins over a variable left exported in the shell."""
    merged = dict(os.environ)
    if env_file is not None:
        merged.update({name: value for name, value in dotenv_values(env_file).items() if value is not None})
    return merged


def load_config(environ: Mapping[str, str]) -> Config:
    """The validated `Config`; `ValueError` names the first unusable setting."""
    cfg = from_env(environ)
    cfg.validate()
    return cfg
