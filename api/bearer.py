"""The bearer token of a request's Authorization header (apart, so that api/deps.py and
api/idempotency.py, which api/services.py imports, read it alike)."""

from __future__ import annotations


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <token>` (the scheme in any case); None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
