"""Bearer tokens on the ESPI resource server: which token is this (ESPI.md 4.1)?

A missing or malformed header is 401 "unauthorized"; a token is found among the OAuth tokens
(customer, client, upload, data custodian) or the registration access tokens of dynamic
registrations. Whether it may make the call is the access policy's (`access.judge`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from sandbox.core.errors import TokenRefused
from sandbox.services import access, tokens


def challenge(err: TokenRefused, realm: str) -> dict[str, str]:
    """RFC 6750 3: a 401 carries a WWW-Authenticate challenge (no error code when no token was
    presented: error "unauthorized"). Double quotes in the realm or the description become single
    quotes, so that the quoted strings stay well formed."""
    if err.status != 401:
        return {}
    realm, description = realm.replace('"', "'"), err.description.replace('"', "'")
    detail = "" if err.error == "unauthorized" else f', error="{err.error}", error_description="{description}"'
    return {"WWW-Authenticate": f'Bearer realm="{realm}"{detail}'}


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header. No header, another scheme (Basic ...)
    or an empty token is a request without a bearer token (RFC 6750 3.1; ESPI.md: "no / malformed
    Authorization header"): TokenRefused 401 "unauthorized"."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenRefused(401, "unauthorized", "this resource needs an Authorization: Bearer token", "no_token")
    return value.strip()


def identify(s: Session, utility_id: int, header: str | None) -> access.Presented | None:
    """The request's token as the access policy sees it, or None if no token of this utility has
    that value (TokenRefused 401 when there is no bearer token at all)."""
    value = bearer_token(header)
    found = tokens.find_for_call(s, utility_id, value)
    return access.presented(found, tokens.find_registered(s, utility_id, value) if found is None else None)
