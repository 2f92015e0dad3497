"""The HTTP edge: body inspection, error answers and the middleware."""
