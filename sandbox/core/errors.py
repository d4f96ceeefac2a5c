"""The exceptions the sandbox's services raise (onboarding, and the customer and staff services in
accounts), so that callers catch one kind wherever it came from."""
from __future__ import annotations


class Refused(ValueError):
    """A request the rules do not allow. `field` names the offending field or form parameter,
    if one (in the caller's own vocabulary, see `validate_metadata`); `error` is the OAuth error
    code the registration API answers with (RFC 7591: invalid_redirect_uri or
    invalid_client_metadata)."""

    def __init__(self, message: str, field: str | None = None, error: str = "invalid_client_metadata"):
        super().__init__(message)
        self.message, self.field, self.error = message, field, error

    @property
    def param(self) -> str | None:
        """`field`, by the name the customer and staff services (accounts) use."""
        return self.field


class NotFound(LookupError):
    """No such resource (application, developer, customer, authorization) here, or not the
    caller's (shown as 404)."""


class TokenRefused(Exception):
    """A request to the resource server (or the registration API) that its bearer token may not
    make: status 401 (no usable token: `error` invalid_token, or unauthorized when none was sent)
    or 403 (a real token for something else). `reason` is a short machine-readable code (the
    X-Sandbox-Reason header), the same for the same cause everywhere."""

    def __init__(self, status: int, error: str, description: str, reason: str = "", allow: list[str] | None = None):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.reason = reason or error
        self.allow = allow  # a 405's methods
