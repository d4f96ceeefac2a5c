"""Bearer tokens on the ESPI resource server: which token is this, and may it do that?

ESPI.md 4.1/4.2: customer tokens (authorization code), client tokens (client credentials)
and registration tokens; a missing or unknown token is 401 with WWW-Authenticate, a
valid token of the wrong kind is 403 saying which kind is needed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .grants import find_token, token_usable
from ..models import OAuthToken


@dataclass
class BearerError(Exception):
    status: int
    error: str
    description: str

    def headers(self, realm: str) -> dict[str, str]:
        if self.status == 401:
            detail = f', error="{self.error}", error_description="{self.description}"' if self.error != "unauthorized" else ""
            return {"WWW-Authenticate": f'Bearer realm="{realm}"{detail}'}
        return {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


KIND_NAMES = {"customer": "a customer access token (authorization code grant)",
              "client": "a client access token (client credentials grant)",
              "registration": "a registration access token"}


def bearer_token(header: str | None) -> str:
    if not header:
        raise BearerError(401, "unauthorized", "this resource needs an Authorization: Bearer token")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise BearerError(401, "invalid_request", "the Authorization header must be 'Bearer <token>'")
    return value.strip()


def authenticate(s: Session, utility_id: int, header: str | None, now: dt.datetime, kinds: tuple[str, ...]) -> OAuthToken:
    """The usable token of the request, of one of `kinds`; BearerError otherwise."""
    row = find_token(s, utility_id, bearer_token(header))
    if not token_usable(row, now):
        raise BearerError(401, "invalid_token", "the access token is unknown, expired or revoked")
    if row.kind not in kinds:
        needed = " or ".join(KIND_NAMES[k] for k in kinds)
        raise BearerError(403, "insufficient_scope", f"this resource needs {needed}; this is {KIND_NAMES[row.kind]}")
    return row
