"""Real local peers for development and tests: an OAuth issuer (with the AuthSec backend's
SDK endpoints) and a uvicorn runner.

Requires the ``testing`` extra (uvicorn).
"""

from .authorization import AuthorizationServer, RegisteredClient
from .backend import BackendPolicy, LocalBackend
from .in_process import InProcessAnswer, asgi_request
from .issuer import Faults, LocalIssuer, SigningKey, generate_key
from .server import ServerThread, serve

__all__ = [
    "AuthorizationServer",
    "BackendPolicy",
    "Faults",
    "InProcessAnswer",
    "LocalBackend",
    "LocalIssuer",
    "RegisteredClient",
    "ServerThread",
    "SigningKey",
    "asgi_request",
    "generate_key",
    "serve",
]
