"""Real local peers for development and tests: an OAuth issuer and a uvicorn runner.

Requires the ``testing`` extra (uvicorn).
"""

from .issuer import Faults, LocalIssuer, SigningKey, generate_key
from .server import ServerThread, serve

__all__ = ["Faults", "LocalIssuer", "ServerThread", "SigningKey", "generate_key", "serve"]
