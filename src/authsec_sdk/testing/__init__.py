"""Real local peers for development and tests: an OAuth issuer (with the AuthSec backend's
SDK endpoints) and a uvicorn runner.

Requires the ``testing`` extra (uvicorn).
"""

from .authorization import AuthorizationServer, RegisteredClient
from .backend import BackendPolicy, LocalBackend
from .issuer import Faults, LocalIssuer, SigningKey, generate_key
from .server import ServerThread, serve

__all__ = [
    "AuthorizationServer",
    "BackendPolicy",
    "Faults",
    "LocalBackend",
    "LocalIssuer",
    "RegisteredClient",
    "ServerThread",
    "SigningKey",
    "generate_key",
    "serve",
]
