"""Bearer token validation: header parsing, JWT verification, introspection (RFC 6750/9068/7662)."""

from .bearer import extract_bearer
from .claims import check_claims, principal_from_claims
from .introspection import Introspector
from .jwks import JWKSStore, VerificationKey
from .jwt_parse import JWTParseError, ParsedJWT, parse_jwt
from .jwt_verify import JWTVerifier
from .validator import TokenValidator

__all__ = [
    "Introspector",
    "JWKSStore",
    "JWTParseError",
    "JWTVerifier",
    "ParsedJWT",
    "TokenValidator",
    "VerificationKey",
    "check_claims",
    "extract_bearer",
    "parse_jwt",
    "principal_from_claims",
]
