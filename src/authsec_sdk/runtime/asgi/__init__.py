"""The HTTP edge: body inspection, error answers and the middleware."""

from .middleware import STATE_KEY, AuthSecMiddleware

__all__ = ["STATE_KEY", "AuthSecMiddleware"]
