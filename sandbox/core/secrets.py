"""Secrets the sandbox hands out (tokens, codes, client secrets) and how they are stored: digests only."""
from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets


def new_token(nbytes: int = 32) -> str:
    return _secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 hex digest: what the database keeps of a token (lookups by equality stay possible)."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_digest: str | None) -> bool:
    return stored_digest is not None and hmac.compare_digest(digest(token), stored_digest)
