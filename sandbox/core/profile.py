"""A utility's behaviour profile: how it acts as an OAuth server and Data Custodian.

Two halves. `Profile` holds what is the utility's alone (token lifetimes, PKCE, approval, terms,
the function blocks it serves), read from the `[profile]` table of `seed_data/utilities/*.toml`.
`Behaviour` holds the quirks real Connect My Data platforms differ in (scope grammar, refresh
tokens, batch delivery, date filters, provisioning, XML form), read from one file per named
profile in `seed_data/profiles/`; a utility names the one it uses, and a third-party application
may be given another (`Profile.with_behaviour`). `KNOBS` is the one table of those quirks: the
seed reader, the README check and the control API's listing all read it.

Plain values with no dependencies, so every layer may hold one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

APPROVALS = ("automatic", "staff")  # how an application in Review reaches Production
DEFAULT_PROFILE = "standard"

SCOPE_GRAMMARS = ("strict", "fb-only", "requires-params", "lenient")
REFRESH_SCOPES = ("optional", "required", "refused")
BATCH_MODES = ("sync", "async")
XML_VERSIONS = ("4.0", "3.3")
XML_NAMESPACES = ("espi", "default", "ns0")
XML_HREFS = ("absolute", "root-relative")
# statuses where certified platforms answer otherwise than the RFCs (the default first: the RFC's)
NO_TOKEN_STATUSES = (401, 403)  # RFC 6750 3.1: a request without credentials gets 401
DELETE_STATUSES = (204, 200)  # RFC 7592 2.3: a deleted registration answers 204
UNKNOWN_CLIENT_STATUSES = (400, 401)  # RFC 6749 4.1.2.1: told to the customer, never redirected
UNREGISTERED_REDIRECT_STATUSES = (400, 401, 403)


@dataclass(frozen=True)
class Knob:
    """One quirk: its TOML table and key, the Behaviour field it sets, and its values."""

    table: str
    key: str
    attr: str
    kind: type
    choices: tuple = ()  # the values a text or whole-number knob takes
    minimum: int | None = None  # for whole-number knobs
    maximum: int | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.key}"


KNOBS = (
    Knob("scope", "grammar", "scope_grammar", str, SCOPE_GRAMMARS),
    Knob("refresh", "rotation", "refresh_rotation", bool),
    Knob("refresh", "reuse_detection", "refresh_reuse_detection", bool),
    Knob("refresh", "scope", "refresh_scope", str, REFRESH_SCOPES),
    Knob("refresh", "lifetime_days", "refresh_lifetime_days", int, minimum=0, maximum=3650),
    Knob("batch", "mode", "batch_mode", str, BATCH_MODES),
    Knob("batch", "delay_seconds", "batch_delay_seconds", int, minimum=0, maximum=86400),
    Knob("batch", "retry_after", "batch_retry_after", int, minimum=1, maximum=3600),
    Knob("filters", "refuse_future_published_max", "refuse_future_published_max", bool),
    Knob("filters", "refuse_fractional_seconds", "refuse_fractional_seconds", bool),
    Knob("filters", "whole_local_days", "whole_local_days", bool),
    Knob("filters", "ignore_updated_min", "ignore_updated_min", bool),
    Knob("provisioning", "delay_seconds", "provisioning_delay_seconds", int, minimum=0, maximum=86400),
    Knob("provisioning", "delay_calls", "provisioning_delay_calls", int, minimum=0, maximum=1000),
    Knob("xml", "version", "xml_version", str, XML_VERSIONS),
    Knob("xml", "namespaces", "xml_namespaces", str, XML_NAMESPACES),
    Knob("xml", "hrefs", "xml_hrefs", str, XML_HREFS),
    Knob("answers", "no_token", "no_token_status", int, NO_TOKEN_STATUSES),
    Knob("answers", "delete", "delete_status", int, DELETE_STATUSES),
    Knob("answers", "unknown_client", "unknown_client_status", int, UNKNOWN_CLIENT_STATUSES),
    Knob("answers", "unregistered_redirect", "unregistered_redirect_status", int, UNREGISTERED_REDIRECT_STATUSES),
)


@dataclass(frozen=True)
class Behaviour:
    """A named behaviour profile (seed_data/profiles/<name>.toml); the defaults are `standard`."""

    name: str = DEFAULT_PROFILE
    description: str = ""
    scope_grammar: str = "strict"  # one of SCOPE_GRAMMARS
    refresh_rotation: bool = True  # a refresh returns a new refresh token and retires the old one
    # a rotated-out refresh token used again revokes every token of its authorization (RFC 9700 4.14.2)
    refresh_reuse_detection: bool = False
    refresh_scope: str = "optional"  # the scope parameter on a refresh: optional, required or refused
    refresh_lifetime_days: int = 0  # 0: a refresh token lasts as long as its authorization
    batch_mode: str = "sync"  # async: Batch/Subscription answers 202 and the data is announced later
    batch_delay_seconds: int = 5  # async: how long (real time) until the BatchList is POSTed
    batch_retry_after: int = 5  # async: the Retry-After of the 202
    refuse_future_published_max: bool = False
    refuse_fractional_seconds: bool = False
    whole_local_days: bool = False  # published-min/max widened to whole days of the utility's zone
    ignore_updated_min: bool = False
    provisioning_delay_seconds: int = 0  # usage points join a new authorization this long after it is made
    provisioning_delay_calls: int = 0  # ... or after this many calls with its token
    xml_version: str = "4.0"
    xml_namespaces: str = "espi"
    xml_hrefs: str = "absolute"
    no_token_status: int = 401  # a data or management call without a token
    delete_status: int = 204  # a DELETE done
    unknown_client_status: int = 400  # the authorization endpoint, a client_id it does not know
    unregistered_redirect_status: int = 400  # ... a redirect_uri the client did not register

    def changed(self) -> dict[str, object]:
        """The knobs (by KNOBS name) this profile sets apart from the defaults."""
        base = Behaviour()
        return {k.name: getattr(self, k.attr) for k in KNOBS if getattr(self, k.attr) != getattr(base, k.attr)}

    def as_json(self) -> dict:
        knobs: dict[str, dict] = {}
        for k in KNOBS:
            knobs.setdefault(k.table, {})[k.key] = getattr(self, k.attr)
        return {"name": self.name, "description": self.description, "knobs": knobs}

    @property
    def strict_scopes(self) -> bool:
        """Unknown scope terms and case differences refused (every grammar but lenient)."""
        return self.scope_grammar != "lenient"

    @property
    def xml_form(self) -> tuple[str, str, str]:
        """The version, namespace style and href style documents are written in (espi.forms.Form's fields)."""
        return self.xml_version, self.xml_namespaces, self.xml_hrefs

    @property
    def quirky_filters(self) -> bool:
        return (
            self.refuse_future_published_max
            or self.refuse_fractional_seconds
            or self.whole_local_days
            or self.ignore_updated_min
        )

    @property
    def provisioning_delayed(self) -> bool:
        return bool(self.provisioning_delay_seconds or self.provisioning_delay_calls)


@dataclass(frozen=True)
class Profile:
    access_token_seconds: int = 3600
    authorization_days: int = 730
    code_seconds: int = 600
    pkce_required: bool = False
    approval: str = "automatic"  # one of APPROVALS
    terms_version: int = 1
    function_blocks: frozenset[int] | None = None  # the function blocks served at all; None: every one
    behaviour: Behaviour = field(default_factory=Behaviour)

    def with_behaviour(self, behaviour: Behaviour | None) -> "Profile":
        """This utility's profile acting as `behaviour` (an application's chosen one; None keeps its own)."""
        if behaviour is None or behaviour == self.behaviour:
            return self
        return dataclasses.replace(self, behaviour=behaviour)
