"""Every exception the sandbox raises on purpose, in one hierarchy under `SandboxError`.

Each carries what an HTTP answer needs: `status`, `error` (the OAuth / JSON error code),
`description` and `reason` (the X-Sandbox-Reason code, the same for the same cause everywhere),
plus `field`, the parameter at fault if one. The web layer maps them to HTTP in one place with
`describe`; the command line turns them into messages. This module imports nothing of the
package, so every layer may raise and catch them (tests/test_layers.py allows it, as CONTRIBUTING
says). Old names are imported where they used to live (`sandbox.espi.query.QueryError` ...).
The classes keep their built-in bases (ValueError ...) so that an `except ValueError` still holds.
"""

from __future__ import annotations


class SandboxError(Exception):
    """The base: raised by no code directly; catch it to take any refusal the sandbox makes."""

    status: int = 400
    error: str = "invalid_request"
    reason: str = "bad_request"
    field: str | None = None  # the parameter or body field at fault, if one
    retry_after: int | None = None  # seconds, for a Retry-After header (a 429 or 503)

    def __init__(self, description: str = "") -> None:
        super().__init__(description)
        self.description = description

    def answer(self) -> tuple[int, str, str, str]:
        """(status, error, description, reason): what an HTTP refusal of it says (see `describe`)."""
        return self.status, self.error, self.description, self.reason or self.error


def describe(exc: SandboxError) -> tuple[int, str, str, str]:
    """The HTTP refusal of a sandbox exception: (status, error, description, reason)."""
    return exc.answer()


# --- the services' refusals -------------------------------------------------------------------


class Refused(SandboxError, ValueError):
    """A request the rules do not allow (400). `field` names the offending field or form parameter,
    if one (in the caller's own vocabulary, see `validate_metadata`); `error` is the OAuth error
    code the registration API answers with (RFC 7591: invalid_redirect_uri or
    invalid_client_metadata); every other API answers a Refused as invalid_request (`answer`)."""

    reason = "bad_request"

    def __init__(self, message: str, field: str | None = None, error: str = "invalid_client_metadata"):
        super().__init__(message)
        self.message, self.field, self.error = message, field, error

    @property
    def param(self) -> str | None:
        """`field`, by the name the customer and staff services use."""
        return self.field

    def answer(self) -> tuple[int, str, str, str]:
        return 400, "invalid_request", self.message, self.reason


class NotFound(SandboxError, LookupError):
    """No such resource (application, developer, customer, authorization) here, or not the
    caller's (shown as 404, never telling which). The argument names what was looked for."""

    status, error, reason = 404, "not_found", "not_found"

    def __init__(self, what: object = "") -> None:
        super().__init__(f"no such resource here: {what}" if what != "" else "no such resource here")
        self.args = (what,)  # str(exc) is what was looked for, as callers print it


class TokenRefused(SandboxError):
    """A request to the resource server (or the registration API) that its bearer token may not
    make: status 401 (no usable token: `error` invalid_token, or unauthorized when none was sent)
    or 403 (a real token for something else); `allow` lists a 405's methods."""

    def __init__(self, status: int, error: str, description: str, reason: str = "", allow: list[str] | None = None):
        super().__init__(description)
        self.status, self.error = status, error
        self.reason = reason or error
        self.allow = allow


class ImportRefused(SandboxError, ValueError):
    """A Download My Data file that was not imported (400); nothing was stored."""

    reason = "bad_upload"


class Busy(SandboxError):
    """A notification being delivered by a worker right now (409: try again in a moment)."""

    status, error, reason = 409, "conflict", "busy"

    def __init__(self, notification_id: object) -> None:
        super().__init__(f"notification {notification_id} is being delivered right now; try again in a moment")
        self.notification_id = notification_id


class Conflict(SandboxError):
    """A request that clashes with what is under way (409): a second conformance run for a client
    whose first goes on."""

    status, error, reason = 409, "conflict", "conflict"


class NotArranged(SandboxError):
    """A conformance check's situation that cannot be set up for a client (yet): why, in words (no
    active authorization, no notification URI). Never an HTTP answer: the check waits, then is
    not_observed."""


class FaultAnswer(SandboxError):
    """The answer a fault scenario asked for in place of the view's (services.faults: server-error,
    rate-limited): the sandbox failing on purpose, with Retry-After."""

    def __init__(self, status: int, error: str, description: str, reason: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.error, self.reason, self.retry_after = status, error, reason, retry_after


# --- the standard's (espi/) -------------------------------------------------------------------


class QueryError(SandboxError, ValueError):
    """A query parameter of an ESPI GET that is malformed or out of range (400 naming it)."""

    reason = "bad_query_parameter"

    def __init__(self, parameter: str, problem: str):
        super().__init__(f"query parameter {parameter}: {problem}")
        self.parameter = self.field = parameter


class XmlRefused(SandboxError, ValueError):
    """An XML document the sandbox will not read (too big, not well-formed, entities); the message says why."""

    reason = "bad_xml"


class ScopeError(SandboxError, ValueError):
    """A scope string that is malformed or asks for more than allowed (400 invalid_scope); `term` is
    the offending term."""

    error, reason, field = "invalid_scope", "invalid_scope", "scope"

    def __init__(self, term: str, problem: str):
        super().__init__(f"scope term {term!r}: {problem}")
        self.term = term


# --- the fake world's (synth/) ----------------------------------------------------------------


class QualityError(SandboxError, ValueError):
    """A data-quality knob that cannot be (400): `field` names it (outage_days[2] for one day of the list)."""

    reason = "bad_data_quality"
    field: str

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class SeedDataError(SandboxError, ValueError):
    """A seed_data file that cannot define a world: start-up stops, naming the file and field."""

    status, error, reason = 500, "server_error", "bad_seed_data"
    field: str

    def __init__(self, file: str, field_name: str, problem: str):
        super().__init__(f"{file}: field '{field_name}': {problem}")
        self.file, self.field, self.problem = file, field_name, problem


# --- start-up (core/, the WSGI entry) ---------------------------------------------------------


class ConfigError(SandboxError, ValueError):
    """A setting (flag, SANDBOX_* variable or test mapping) the sandbox cannot start with."""

    status, error, reason = 500, "server_error", "bad_configuration"


class SchemaError(SandboxError, RuntimeError):
    """A database the running version cannot use as it is (another schema version)."""

    status, error, reason = 503, "temporarily_unavailable", "database_schema"


class NoWorldError(SandboxError, RuntimeError):
    """The database holds no complete world: it must be seeded before the workers start."""

    status, error, reason = 503, "temporarily_unavailable", "no_world"


# --- the control API's (web/control) ----------------------------------------------------------


class ControlError(SandboxError):
    """A refused control-API call: its status, error code, description and the field at fault."""

    def __init__(self, status: int, error: str, description: str, field: str | None = None):
        super().__init__(description)
        self.status, self.error, self.field = status, error, field
        self.reason = error


# --- private sandboxes (services.sandboxes) ---------------------------------------------------


class QuotaExceeded(SandboxError):
    """A limit of the deployment or of a sandbox would be passed: a 429 naming the limit (`field`)."""

    status, error = 429, "quota_exceeded"

    def __init__(self, limit: str, description: str):
        super().__init__(description)
        self.field, self.reason = limit, f"quota:{limit}"


class NoPrivateSandboxes(SandboxError):
    """The deployment's database cannot hold private sandboxes (an in-memory SQLite database)."""

    status, error, reason = 501, "not_supported", "no_private_sandboxes"
