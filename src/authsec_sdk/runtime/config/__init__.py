"""Configuration: the `Config` record, its mode enums and `from_env()`."""

from .env import from_env
from .settings import SUPPORTED_ALGORITHMS, Config, PolicyMode, ValidationMode

__all__ = ["SUPPORTED_ALGORITHMS", "Config", "PolicyMode", "ValidationMode", "from_env"]
