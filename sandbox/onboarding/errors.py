"""The exceptions every onboarding step raises, so that callers catch one kind wherever it came from."""
from __future__ import annotations


class Refused(ValueError):
    """A request the rules do not allow. `field` names the offending field (in the caller's
    own vocabulary, see `validate_metadata`); `error` is the OAuth error code the
    registration API answers with (RFC 7591: invalid_redirect_uri or invalid_client_metadata)."""

    def __init__(self, message: str, field: str | None = None, error: str = "invalid_client_metadata"):
        super().__init__(message)
        self.message, self.field, self.error = message, field, error


class NotFound(LookupError):
    """No such application (or developer) here, or not the caller's (shown as 404)."""


class TokenRefused(Exception):
    """A registration request whose bearer token does not manage the record: status 401
    (no such token: `error` invalid_token) or 403 (a real token for something else)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
