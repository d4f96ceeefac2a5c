"""Secrets the sandbox hands out (tokens, codes, client secrets) and how they are stored: digests only.

Three kinds, three costs:
- tokens and codes: their SHA-256 digest, found by equality;
- client secrets and registration access tokens: an HMAC-SHA256 under the world's digest key
  (WorldState.digest_key, made when the world is seeded), compared in constant time. They are
  long random strings, so a slow hash buys nothing but cost (scrypt took ~100 ms and 32 MB per
  client authentication); the key means a copy of the application table alone cannot test
  guesses, and that a lookup by digest leaks nothing a caller can steer;
- human passwords (customers, developers): werkzeug's slow hash, at most SLOW_AT_ONCE at a time
  in a process, so a flood of sign-ins leaves the other cores to everyone else (and never inside
  a write transaction: services.signin).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as _secrets
import threading
from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from sandbox.core.errors import NotFound
from sandbox.core.models import WorldState


def new_token(nbytes: int = 32) -> str:
    return _secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 hex digest: what the database keeps of a token (lookups by equality stay possible)."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_digest: str | None) -> bool:
    return stored_digest is not None and hmac.compare_digest(digest(token), stored_digest)


# --- client secrets and registration access tokens: keyed digests ---------------------------


def new_digest_key() -> str:
    return _secrets.token_hex(32)


def keyed_digest(key: str, secret: str) -> str:
    """HMAC-SHA256 hex of `secret` under the world's digest key: what the database keeps of a client
    secret or a registration access token (a lone surrogate, which no issued secret holds, is kept
    as is rather than refused, so that it simply matches nothing)."""
    return hmac.new(key.encode(), secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def keyed_matches(key: str, secret: str, stored: str | None) -> bool:
    """Whether `secret` is the one `stored` was made from, in constant time. A value in werkzeug's
    format (method$salt$hash: a row written by hand or by a tool, as some tests do) is checked as a
    password."""
    if not stored or not isinstance(secret, str):
        return False
    if "$" in stored:
        return password_matches(stored, secret)
    return hmac.compare_digest(keyed_digest(key, secret), stored)


_KEY = select(WorldState.digest_key).where(WorldState.id == 1)
_known: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()  # the key last read through each engine


def world_key(s: Session) -> str:
    """The digest key of the world the database holds (NotFound if it holds none)."""
    key = s.scalar(_KEY)
    if key is None:
        raise NotFound("the world's digest key")
    bind = s.get_bind()
    _known[bind if isinstance(bind, Engine) else bind.engine] = key
    return key


def client_secret_matches(engine: Engine, secret: str, stored: str | None) -> bool:
    """keyed_matches under the world's key as this process last read it (client authentication
    runs on every token request: no query for it). The key changes only when a world is seeded
    afresh; if another process did that, a mismatch reads it again."""
    key = _known.get(engine)
    if key is not None and keyed_matches(key, secret, stored):
        return True
    with Session(engine) as s:
        fresh = world_key(s)
    return fresh != key and keyed_matches(fresh, secret, stored)


# --- human passwords: a slow hash, a few at a time -------------------------------------------

SLOW_AT_ONCE = max(1, (os.cpu_count() or 2) // 2)
_slow = threading.BoundedSemaphore(SLOW_AT_ONCE)


def password_hash(password: str) -> str:
    """werkzeug's salted slow hash (scrypt) of a human password."""
    with _slow:
        return generate_password_hash(password)


def password_matches(stored: str, password: str) -> bool:
    """werkzeug's check of a password against its slow hash (False for text no password holds)."""
    with _slow:
        try:
            return check_password_hash(stored, password)
        except UnicodeEncodeError:  # a lone surrogate, from a JSON body
            return False


@lru_cache(maxsize=8)
def constant_password_hash(password: str) -> str:
    """The hash of a password the seed files publish (the demo customer's, the generated customers'):
    made once per process, since a fresh salt hides nothing about a password everyone knows and
    every generated customer shares one hash anyway."""
    return password_hash(password)
