"""Bearer tokens on the ESPI resource server: which token is this, and may it do that?

ESPI.md 4.1/4.2: customer tokens (authorization code), client tokens (client credentials)
and registration tokens; a missing or unknown token is 401 with WWW-Authenticate, a
valid token of the wrong kind is 403 saying which kind is needed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sandbox.core.models import OAuthToken
from sandbox.services import access, tokens


@dataclass
class BearerError(Exception):
    """A request the bearer-token check refuses: `status` 401 (no usable token) or 403 (a real token
    that may not do this), with the OAuth `error` code and a description for the client."""

    status: int
    error: str
    description: str

    def headers(self, realm: str) -> dict[str, str]:
        """RFC 6750 3: a 401 carries a WWW-Authenticate challenge (no error code when no token was
        presented: error "unauthorized"). Double quotes in the realm or the description become single
        quotes, so that the quoted strings stay well formed."""
        if self.status != 401:
            return {}
        realm, description = realm.replace('"', "'"), self.description.replace('"', "'")
        detail = "" if self.error == "unauthorized" else f', error="{self.error}", error_description="{description}"'
        return {"WWW-Authenticate": f'Bearer realm="{realm}"{detail}'}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def response(self, realm: str) -> tuple[dict[str, str], int, dict[str, str]]:
        """The error as a Flask response (JSON body, status, headers); never cached."""
        return self.body(), self.status, {**self.headers(realm), "Cache-Control": "no-store"}


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header. No header, another scheme (Basic ...)
    or an empty token is a request without a bearer token (RFC 6750 3.1; ESPI.md: "no / malformed
    Authorization header"): BearerError 401 "unauthorized"."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise BearerError(401, "unauthorized", "this resource needs an Authorization: Bearer token")
    return value.strip()


def authenticate(s: Session, utility_id: int, header: str | None, now: dt.datetime, kinds: tuple[str, ...]) -> OAuthToken:
    """The usable token of the request, of one of `kinds`; BearerError otherwise."""
    row = tokens.find(s, utility_id, bearer_token(header))
    if row is None or not access.token_usable(row, now):
        raise BearerError(401, "invalid_token", "the access token is unknown, expired or revoked")
    refusal = access.kind_refusal(row, kinds)
    if refusal:
        raise BearerError(403, "insufficient_scope", refusal)
    return row
