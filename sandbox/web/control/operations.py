"""The control API's one table: every operation's method, path, summary, request body (a JSON
Schema), query parameters, answers and view. The routes and the OpenAPI document are both built
from it, so what is documented is what is served (and a test exercises each row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Response, jsonify, request

from sandbox.services import faults
from sandbox.services.access import AppStatus
from sandbox.services.conformance import runs
from sandbox.services.conformance.checks import ENDINGS
from sandbox.services.notifications import outbox
from sandbox.web.control import conformance, openapi, sandboxes, views

PREFIX = "/sandbox-api"


def openapi_document(call: views.Call) -> Response:
    """This table as an OpenAPI 3.1 document."""
    return jsonify(openapi.document(request.url_root.rstrip("/"), OPERATIONS, PREFIX))


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    required: bool = False
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below PREFIX, OpenAPI style: /authorizations/{authorization_id}/revoke
    operation_id: str
    summary: str
    view: Callable
    body: dict[str, Any] | None = None  # JSON Schema of the request body
    query: tuple[Param, ...] = ()
    answers: dict[int, str] = field(default_factory=dict)  # status -> what it means (401 and 400 are added)
    response: dict[str, Any] | None = None  # JSON Schema of the success body
    tag: str = "world"
    open: bool = False  # needs no admin key
    check: Callable[..., None] | None = None  # who may call it, if not the sandbox's admin key (given the path's ids)
    auth: str = "the sandbox's admin key"  # who may, in words (the OpenAPI document and the page say it)
    example: dict[str, Any] | None = None  # a body to show, where the sample values (openapi.SAMPLES) make none

    @property
    def rule(self) -> str:
        """The Flask URL rule of `path`."""
        return self.path.replace("{", "<").replace("}", ">")


def _object(required: tuple[str, ...] = (), **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


_SLUG = {"type": "string", "minLength": 1, "description": "a utility's slug (GET /utilities lists them)"}
_DURATION = {
    "description": "ISO 8601 duration (P1D, PT6H, P1DT12H) or a number of seconds",
    "oneOf": [{"type": "string", "minLength": 2}, {"type": "number", "minimum": 0}],
}
CONFORMANCE_RUN = _object(
    ("id", "status", "client_id", "started_at", "deadline", "ended_at", "report_url", "checks"),
    id={"type": "string"},
    status={"enum": ["running", "passed", "failed", "incomplete"]},
    client_id={"type": "string"},
    started_at={"type": "string", "format": "date-time"},
    deadline={"type": "string", "format": "date-time"},
    ended_at={"type": ["string", "null"], "format": "date-time"},
    report_url={"type": "string", "description": "the run as a page (HTML)"},
    checks={
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "status", "verdict", "summary", "evidence"],
            "properties": {
                "verdict": {"enum": ["pass", "fail", "not_observed", None]},
                "evidence": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
)
CLOCK_STATE = _object(
    ("now", "frozen", "offset_seconds"),
    now={"type": "string", "format": "date-time"},
    frozen={"type": "boolean"},
    offset_seconds={"type": "number"},
)
CLOCK_CHANGE = {
    "description": "exactly one of freeze, resume, set, advance",
    "type": "object",
    "properties": {
        "freeze": {"const": True},
        "resume": {"const": True},
        "set": {
            "type": "string",
            "format": "date-time",
            "description": "an ISO 8601 instant with its offset (2025-07-01T00:00:00Z)",
        },
        "advance": _DURATION,
    },
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}
TOKEN_RESPONSE = {
    "type": "object",
    "description": "the token endpoint's answer to an authorization code exchange, and the authorization's id",
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "resourceURI": {"type": "string"},
        "authorizationURI": {"type": "string"},
        "customerResourceURI": {"type": "string"},
        "authorization_id": {"type": "string"},
        "subscription_id": {"type": "string"},
    },
    "required": [
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "resourceURI",
        "authorizationURI",
        "authorization_id",
    ],
}
AUTHORIZATION_STATE = _object(
    ("authorization_id", "state", "ends_at"),
    authorization_id={"type": "string"},
    state={"type": "string"},
    status_reason={"type": ["string", "null"]},
    ends_at={"type": "string", "format": "date-time"},
)
REQUEST = _object(
    ("at", "method", "path", "status"),
    at={"type": "string", "format": "date-time"},
    method={"type": "string"},
    path={"type": "string"},
    token_kind={"type": ["string", "null"]},
    status={"type": "integer"},
    reason={"type": ["string", "null"]},
    client_id={"type": ["string", "null"]},
    milliseconds={"type": "number"},
)
CLOCK_CHANGED = _object(
    ("now", "frozen", "offset_seconds", "notifications"),
    now={"type": "string", "format": "date-time"},
    frozen={"type": "boolean"},
    offset_seconds={"type": "number"},
    notifications={
        "type": "array",
        "items": {"type": "integer"},
        "description": "ids of the notifications the days it published made",
    },
)
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
DELIVERY = _object(
    ("at", "uri", "status", "milliseconds", "answer", "manual"),
    at=_TIME,
    uri={"type": "string"},
    status={"type": "integer", "description": "the HTTP status; 0 when no HTTP answer came"},
    milliseconds={"type": "integer"},
    answer={"type": "string", "description": "the start of the answer's body, or why none came"},
    manual={"type": "boolean", "description": "sent again by hand, not by the worker"},
)
NOTIFICATION = _object(
    (
        "id",
        "client_id",
        "event",
        "created_at",
        "enqueued_at",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "uris",
        "body",
        "deliveries",
    ),
    id={"type": "integer"},
    client_id={"type": "string"},
    event={"enum": list(outbox.EVENTS)},
    created_at={**_TIME, "description": "sandbox time of the event"},
    enqueued_at={**_TIME, "description": "real time; deliveries keep real time"},
    state={"enum": ["pending", "delivered", "failed"]},
    attempts={"type": "integer"},
    next_attempt_at=_MAYBE_TIME,
    delivered_at=_MAYBE_TIME,
    uris={"type": "array", "items": {"type": "string"}},
    body={"type": "string", "description": "the BatchList POSTed"},
    deliveries={"type": "array", "items": DELIVERY},
)
_FAULT_NAMES = {
    "type": "array",
    "items": {"type": "string", "maxLength": 80},
    "maxItems": faults.MAX_FAULTS,
    "description": "scenario names, as name or name:argument (GET /sandbox-api/faults lists them): "
    + ", ".join(faults.BY_NAME),
}
# one row of the fault table (services.faults.catalogue)
FAULT = _object(
    ("name", "kind", "does", "robust_client", "breaks", "argument"),
    name={"enum": list(faults.BY_NAME)},
    kind={"enum": [faults.RESPONSE, faults.DOCUMENT]},
    does={"type": "string"},
    robust_client={"type": "string"},
    breaks={"type": "string"},
    argument={"type": "string", "description": "what name:argument takes (empty: nothing)"},
)
_FAULTS = _object(("faults",), faults=_FAULT_NAMES)
_SHARE = {"type": "number", "minimum": 0, "maximum": 0.5}
DATA_QUALITY = _object(
    missing_share={**_SHARE, "description": "share of intervals with no reading at all"},
    estimated_share={**_SHARE, "description": "share of readings flagged estimated (ReadingQuality 8)"},
    zero_share={**_SHARE, "description": "share of readings whose value is 0"},
    negative_share={
        **_SHARE,
        "description": "share of readings whose value is negative (the value negated, -1 "
        "for a 0), as a faulty or mis-wired meter reports",
    },
    outage_days={
        "type": "array",
        "maxItems": 1000,
        "items": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "description": "local days (YYYY-MM-DD) of a power outage: no readings at all that day",
    },
)
DATA_QUALITY_STATE = _object(
    ("username", "missing_share", "estimated_share", "zero_share", "negative_share", "outage_days"),
    username={"type": "string"},
    **DATA_QUALITY["properties"],
)
SANDBOX = _object(
    ("id", "label", "base_url", "seed", "utilities", "created_at", "expires_at", "last_used_at"),
    id={"type": "string"},
    label={"type": "string"},
    base_url={"type": "string", "format": "uri"},
    seed={"type": "integer"},
    utilities={"type": "array", "items": {"type": "string"}},
    created_at={"type": "string", "format": "date-time"},
    expires_at={"type": "string", "format": "date-time"},
    last_used_at={"type": "string", "format": "date-time"},
)
SANDBOX_MADE = {
    "type": "object",
    "required": ["id", "base_url", "admin_key", "expires_at", "utilities", "demo"],
    "properties": {
        **SANDBOX["properties"],
        "admin_key": {"type": "string"},
        "control_api": {"type": "string"},
        "utilities": {"type": "array", "items": {"type": "object", "required": ["slug", "portal_url"]}},
        "demo": {"type": "object", "required": ["customer", "third_party"]},
    },
}
CREATE_SANDBOX = _object(
    label={"type": "string", "maxLength": 100},
    seed={"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "description": "default: the seed files' (42)"},
    customers={"type": "integer", "minimum": 0, "maximum": 200, "description": "generated customers per utility"},
    utilities={
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "uniqueItems": True,
        "description": "the slugs of the utilities it serves (default: all)",
    },
    profiles={
        "type": "object",
        "additionalProperties": {"type": "string", "minLength": 1},
        "description": "a utility's behaviour profile by slug (GET /profiles lists them)",
    },
    ttl={**_DURATION, "description": "how long it lives (ISO 8601 duration or seconds; default P7D, at most P90D)"},
)
_REFUSED = "the world's state does not allow it (already ended, already in that status...): nothing changed"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        openapi_document,
        open=True,
        tag="about",
        answers={200: "the OpenAPI 3.1 document"},
    ),
    Operation(
        "POST",
        "/reset",
        "reset",
        "Back to the seed: the world as first seeded, the clock in real time",
        views.reset,
        answers={200: "the world is as seeded"},
        response=_object(("seed", "seconds"), seed={"type": "integer"}, seconds={"type": "number"}),
    ),
    Operation(
        "POST",
        "/seed",
        "seed",
        "More generated customers at a utility (the ones a larger seed makes next)",
        views.seed,
        body=_object(
            ("utility", "customers"), utility=_SLUG, customers={"type": "integer", "minimum": 1, "maximum": 10000}
        ),
        answers={
            200: "the new customers' usernames (their password is the world's customer password)",
            404: "no such utility",
        },
        response=_object(("usernames",), usernames={"type": "array", "items": {"type": "string"}}),
    ),
    Operation(
        "GET",
        "/clock",
        "get_clock",
        "The sandbox's time",
        views.get_clock,
        tag="clock",
        answers={200: "now, whether frozen, and the offset from real time"},
        response=CLOCK_STATE,
    ),
    Operation(
        "POST",
        "/clock",
        "set_clock",
        "Freeze, resume, set or advance the clock, for every process",
        views.set_clock,
        body=CLOCK_CHANGE,
        tag="clock",
        answers={200: "the clock after the change, and the notifications of the days it published"},
        response=CLOCK_CHANGED,
        example={"advance": "P1D"},
    ),
    Operation(
        "POST",
        "/authorizations",
        "create_authorization",
        "A customer's consent without the browser: the token endpoint's exact answer",
        views.create_authorization,
        body=_object(
            ("utility", "customer", "client_id", "scope"),
            utility=_SLUG,
            customer={"type": "string", "minLength": 1, "description": "the customer's username"},
            client_id={"type": "string", "minLength": 1},
            scope={"type": "string", "minLength": 1, "description": "one of the application's scopes"},
            usage_points={
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "ids of the customer's usage points to share, of the "
                "scope's commodities (default: all of those, as the "
                "consent page offers)",
            },
        ),
        tag="authorizations",
        response=TOKEN_RESPONSE,
        answers={
            200: "tokens and the authorization's id",
            404: "no such utility, customer or client_id",
            409: "the application may not be authorized now (blocked, on hold, in review for a "
            "customer who is not a test customer, the customer moved out), or the customer has no "
            "usage point of the scope's commodities",
        },
    ),
    Operation(
        "POST",
        "/authorizations/{authorization_id}/revoke",
        "revoke_authorization",
        "The customer revokes it (as on the portal's sharing page)",
        views.revoke_authorization,
        tag="authorizations",
        response=AUTHORIZATION_STATE,
        answers={200: "revoked", 404: "no such authorization", 409: _REFUSED},
    ),
    Operation(
        "POST",
        "/authorizations/{authorization_id}/expire",
        "expire_authorization",
        "Its period ends now, as if it had run out",
        views.expire_authorization,
        tag="authorizations",
        response=AUTHORIZATION_STATE,
        answers={200: "expired", 404: "no such authorization", 409: _REFUSED},
    ),
    Operation(
        "POST",
        "/utilities/{slug}/customers/{username}/move-out",
        "move_out",
        "The customer moves out on a day (today ends service at once)",
        views.move_out,
        tag="customers",
        body=_object(
            ("date",),
            date={"type": "string", "format": "date", "description": "the moving day, YYYY-MM-DD, local time"},
        ),
        answers={200: "service ends that day; authorizations end with it", 404: "no such utility or customer"},
        response=_object(
            ("service_end", "ends_at", "authorizations_ended"),
            service_end={"type": "string"},
            ends_at={"type": "string"},
            authorizations_ended={"type": "integer"},
        ),
    ),
    Operation(
        "POST",
        "/utilities/{slug}/third-parties/{client_id}/status",
        "set_third_party_status",
        "A third party's standing (blocked or on hold: its tokens stop working)",
        views.third_party_status,
        tag="third parties",
        body=_object(("status",), status={"enum": [s.value for s in AppStatus]}),
        answers={200: "the status set", 404: "no such utility or third party", 409: _REFUSED},
        response=_object(("client_id", "status"), client_id={"type": "string"}, status={"type": "string"}),
    ),
    Operation(
        "PUT",
        "/utilities/{slug}/third-parties/{client_id}/notify-uri",
        "set_third_party_notify_uri",
        "Where a third party's notifications are POSTed (its registration's notification URI)",
        views.third_party_notify_uri,
        tag="third parties",
        body=_object(
            ("notify_uri",),
            notify_uri={
                "type": ["string", "null"],
                "maxLength": 500,
                "description": "an http(s) URL, or null for none",
            },
        ),
        answers={200: "the URI registered", 404: "no such utility or third party"},
        response=_object(
            ("client_id", "notify_uri"), client_id={"type": "string"}, notify_uri={"type": ["string", "null"]}
        ),
    ),
    Operation(
        "GET",
        "/faults",
        "list_faults",
        "The fault scenarios: what each does and what a robust client does",
        views.list_faults,
        tag="faults",
        answers={200: "the scenarios, and whether X-Sandbox-Fault is honoured"},
        response=_object(
            ("faults", "header_allowed"), faults={"type": "array", "items": FAULT}, header_allowed={"type": "boolean"}
        ),
    ),
    Operation(
        "PUT",
        "/utilities/{slug}/third-parties/{client_id}/faults",
        "set_third_party_faults",
        "Fault scenarios for every call a third party makes (an empty list: none)",
        views.third_party_faults,
        tag="faults",
        body=_FAULTS,
        answers={200: "the faults set", 404: "no such utility or third party"},
        response=_object(("client_id", "faults"), client_id={"type": "string"}, faults=_FAULT_NAMES),
    ),
    Operation(
        "PUT",
        "/authorizations/{authorization_id}/faults",
        "set_authorization_faults",
        "Fault scenarios for the calls of one authorization's tokens (an empty list: none)",
        views.authorization_faults,
        tag="faults",
        body=_FAULTS,
        answers={200: "the faults set", 404: "no such authorization"},
        response=_object(("authorization_id", "faults"), authorization_id={"type": "string"}, faults=_FAULT_NAMES),
    ),
    Operation(
        "GET",
        "/conformance/checks",
        "list_conformance_checks",
        "The checks a conformance run makes: what each arranges, what passes and why it matters",
        conformance.list_checks,
        tag="conformance",
        open=True,
        auth="anyone",
        answers={200: "every check"},
        response=_object(("checks",), checks={"type": "array", "items": {"type": "object"}}),
    ),
    Operation(
        "POST",
        "/conformance",
        "start_conformance_run",
        "Grade a third party's client: its checks arranged one after another for its authorizations",
        conformance.start,
        tag="conformance",
        body=_object(
            ("utility", "client_id"),
            utility=_SLUG,
            client_id={"type": "string", "minLength": 1, "maxLength": 64},
            checks={
                "type": "array",
                "items": {"type": "string", "maxLength": 64},
                "minItems": 1,
                "maxItems": 32,
                "description": "the checks to make (all of them if left out; GET /conformance/checks)",
            },
            timeout={
                "type": "number",
                "description": f"seconds the run may take at most ({runs.MIN_TIMEOUT} to {runs.MAX_TIMEOUT}; "
                f"{runs.DEFAULT_TIMEOUT})",
            },
            ending={
                "enum": list(ENDINGS),
                "description": "how stops-when-access-ends ends the client's access (revocation by default)",
            },
        ),
        answers={201: "the run, started", 404: "no such utility or client", 409: "the client has a run going"},
        response=CONFORMANCE_RUN,
    ),
    Operation(
        "GET",
        "/conformance/{run_id}",
        "get_conformance_run",
        "A conformance run: its status and each check's verdict, summary and evidence (its id is its key)",
        conformance.read,
        tag="conformance",
        open=True,
        auth="whoever holds the run's id",
        answers={200: "the run", 404: "no such run"},
        response=CONFORMANCE_RUN,
    ),
    Operation(
        "POST",
        "/conformance/{run_id}/answers",
        "report_conformance_answers",
        "What the client computed for the ground-truth check (its `asks`): per usage point and local day, "
        "delivered and received (kWh, therms...) and cost; a later report replaces an earlier one",
        conformance.answers,
        tag="conformance",
        open=True,
        auth="whoever holds the run's id",
        body=_object(
            ("usage_points",),
            usage_points={
                "type": "array",
                "maxItems": 16,
                "items": {
                    "type": "object",
                    "required": ["usage_point", "days"],
                    "properties": {
                        "usage_point": {"type": "string", "maxLength": 64},
                        "days": {
                            "type": "array",
                            "maxItems": 62,
                            "items": {
                                "type": "object",
                                "required": ["date"],
                                "properties": {
                                    "date": {"type": "string", "format": "date"},
                                    "delivered": {"type": ["number", "string", "null"]},
                                    "received": {"type": ["number", "string", "null"]},
                                    "cost": {"type": ["number", "string", "null"]},
                                },
                            },
                        },
                    },
                },
            },
        ),
        answers={200: "the run, the answers kept", 404: "no such run", 409: "the run has ended"},
        response=CONFORMANCE_RUN,
        example={
            "usage_points": [
                {
                    "usage_point": "<UsagePoint id>",
                    "days": [{"date": "2026-03-08", "delivered": "23.456", "received": "0", "cost": "4.12"}],
                }
            ]
        },
    ),
    Operation(
        "GET",
        "/conformance/{run_id}/report",
        "conformance_report_page",
        "A conformance run as a page (HTML, readable on a phone), with its JSON to download",
        conformance.page,
        tag="conformance",
        open=True,
        auth="whoever holds the run's id",
        answers={200: "the page", 404: "no such run"},
    ),
    Operation(
        "GET",
        "/profiles",
        "list_profiles",
        "The behaviour profiles (seed_data/profiles) and each utility's",
        views.list_profiles,
        tag="profiles",
        answers={200: "every profile with all its knobs"},
        response=_object(
            ("profiles", "utilities"),
            profiles={"type": "array", "items": {"type": "object"}},
            utilities={"type": "object"},
        ),
    ),
    Operation(
        "PUT",
        "/utilities/{slug}/third-parties/{client_id}/profile",
        "set_third_party_profile",
        "Answer one third party as another behaviour profile would (null: the utility's own again)",
        views.third_party_profile,
        tag="profiles",
        body=_object(
            ("profile",),
            profile={
                "type": ["string", "null"],
                "maxLength": 64,
                "description": "a name GET /sandbox-api/profiles lists",
            },
        ),
        answers={200: "the profile chosen and its knobs", 404: "no such utility or third party"},
        response=_object(
            ("client_id", "profile", "effective"),
            client_id={"type": "string"},
            profile={"type": ["string", "null"]},
            effective={"type": "object"},
        ),
    ),
    Operation(
        "GET",
        "/requests",
        "list_requests",
        "The request log: calls to the utilities' ESPI APIs, newest first",
        views.list_requests,
        tag="requests",
        query=(
            Param("utility", "a utility's slug"),
            Param("client_id", "one third party's calls (its client_id)"),
            Param(
                "limit",
                "how many (default 100, at most 1000)",
                schema={"type": "integer", "minimum": 1, "maximum": 1000},
            ),
        ),
        answers={200: "the calls", 404: "no such utility"},
        response=_object(("requests",), requests={"type": "array", "items": REQUEST}),
    ),
    Operation(
        "GET",
        "/notifications",
        "list_notifications",
        "Notifications (BatchLists for third parties) with every delivery attempt, newest first",
        views.list_notifications,
        tag="notifications",
        query=(
            Param("utility", "a utility's slug"),
            Param("client_id", "one third party's (its client_id)"),
            Param("state", "pending, delivered or failed", schema={"enum": ["pending", "delivered", "failed"]}),
            Param(
                "limit",
                "how many (default 100, at most 1000)",
                schema={"type": "integer", "minimum": 1, "maximum": 1000},
            ),
        ),
        answers={200: "the notifications", 404: "no such utility"},
        response=_object(("notifications",), notifications={"type": "array", "items": NOTIFICATION}),
    ),
    Operation(
        "POST",
        "/notifications/{notification_id}/send",
        "send_notification",
        "Send a notification again now (one attempt, whatever its state), and wait for the answer",
        views.send_notification,
        tag="notifications",
        response=NOTIFICATION,
        answers={
            200: "the notification with the new attempt (a 2xx answer makes it delivered)",
            404: "no such notification",
            409: "a worker is delivering it right now",
        },
    ),
    Operation(
        "GET",
        "/notifications/next",
        "next_notifications",
        "A listener's long poll (green-button-sandbox listen): the notifications made after `after`, oldest "
        "first, as soon as there is one, or none after `wait` seconds",
        views.next_notifications,
        tag="notifications",
        query=(
            Param(
                "after",
                "the last notification id seen (left out: the newest now, so only new ones come)",
                schema={"type": "integer", "minimum": 0},
            ),
            Param(
                "wait",
                "seconds to wait for one (default and at most 25)",
                schema={"type": "integer", "minimum": 0, "maximum": 25},
            ),
            Param("limit", "how many at most (default 20)", schema={"type": "integer", "minimum": 1, "maximum": 100}),
        ),
        answers={200: "the next notifications (maybe none) and the id to ask after next"},
        response=_object(
            ("notifications", "after"),
            notifications={"type": "array", "items": NOTIFICATION},
            after={"type": "integer"},
        ),
    ),
    Operation(
        "POST",
        "/notifications/{notification_id}/forwarded",
        "forwarded_notification",
        "What a listener's receiver answered to a notification it forwarded: kept as a delivery attempt (a 2xx "
        "makes the notification delivered)",
        views.forwarded_notification,
        tag="notifications",
        body=_object(
            ("to", "status"),
            to={"type": "string", "minLength": 1, "maxLength": 400, "description": "the receiver's URL"},
            status={"type": "integer", "minimum": 0, "maximum": 599, "description": "its HTTP status (0: no answer)"},
            milliseconds={"type": "integer", "minimum": 0},
            answer={"type": "string", "maxLength": 4000, "description": "the start of its answer, or why none came"},
        ),
        response=NOTIFICATION,
        answers={200: "the notification with the attempt", 404: "no such notification"},
        example={"to": "http://127.0.0.1:9000/notify", "status": 200},
    ),
    Operation(
        "GET",
        "/scope/explain",
        "explain_scope",
        "A scope in plain words and function blocks",
        views.explain_scope,
        tag="about",
        query=(
            Param("scope", "an ESPI scope string", required=True),
            Param(
                "utility",
                "a utility's slug: its scope grammar (strict, fb-only, requires-params or lenient) and function blocks",
            ),
        ),
        answers={200: "what the scope grants, and the error a utility would give for it", 404: "no such utility"},
        response=_object(
            ("scope", "valid", "function_blocks", "plain"),
            scope={"type": "string"},
            strict={"type": "boolean"},
            grammar={"type": "string"},
            valid={"type": "boolean"},
            error={"type": "object"},
            function_blocks={"type": "array"},
            terms={"type": "object"},
            plain={"type": "array", "items": {"type": "string"}},
        ),
    ),
    Operation(
        "GET",
        "/utilities/{slug}/customers/{username}/data-quality",
        "get_data_quality",
        "A customer's data-quality knobs in effect (its own, else the world's)",
        views.get_data_quality,
        tag="customers",
        answers={200: "the knobs in effect", 404: "no such utility or customer"},
        response=DATA_QUALITY_STATE,
    ),
    Operation(
        "PUT",
        "/utilities/{slug}/customers/{username}/data-quality",
        "set_data_quality",
        "How imperfect a customer's readings are: gaps, estimates, zeros, negative readings, outage days "
        "(knobs left out: the world's; {} resets)",
        views.set_data_quality,
        tag="customers",
        body=DATA_QUALITY,
        answers={
            200: "the knobs in effect (every computed document follows at once)",
            404: "no such utility or customer",
        },
        response=DATA_QUALITY_STATE,
    ),
    Operation(
        "POST",
        "/sandboxes",
        "create_sandbox",
        "A private sandbox: a world of its own under /s/{id}/, with its own keys, clock and control API "
        "(the deployment's root only)",
        sandboxes.create_sandbox,
        body=CREATE_SANDBOX,
        tag="sandboxes",
        check=sandboxes.check_signup,
        auth="the operator key (the default sandbox's admin key), or none under SANDBOX_OPEN_SIGNUP=1",
        answers={
            201: "made: its base_url, admin_key and demo credentials (only this answer tells the keys)",
            404: "asked inside a private sandbox",
            429: "the deployment's live sandboxes are at SANDBOX_MAX_SANDBOXES",
        },
        response=SANDBOX_MADE,
    ),
    Operation(
        "GET",
        "/sandboxes",
        "list_sandboxes",
        "The live private sandboxes",
        sandboxes.list_sandboxes,
        tag="sandboxes",
        check=sandboxes.check_operator,
        auth="the operator key",
        answers={200: "every live sandbox, oldest first"},
        response=_object(("sandboxes",), sandboxes={"type": "array", "items": SANDBOX}),
    ),
    Operation(
        "GET",
        "/sandboxes/{sandbox_id}",
        "get_sandbox",
        "One private sandbox: its base URL, utilities, creation, expiry and last use",
        sandboxes.get_sandbox,
        tag="sandboxes",
        check=sandboxes.check_operator_or_own,
        auth="the operator key or the sandbox's own admin key",
        answers={200: "the sandbox", 404: "no such live sandbox"},
        response=SANDBOX,
    ),
    Operation(
        "POST",
        "/sandboxes/{sandbox_id}/extend",
        "extend_sandbox",
        "The sandbox lives `ttl` from now",
        sandboxes.extend_sandbox,
        body=_object(("ttl",), ttl=_DURATION),
        tag="sandboxes",
        check=sandboxes.check_operator_or_own,
        auth="the operator key or the sandbox's own admin key",
        answers={200: "its new expiry", 404: "no such live sandbox"},
        response=SANDBOX,
    ),
    Operation(
        "DELETE",
        "/sandboxes/{sandbox_id}",
        "delete_sandbox",
        "The sandbox and its world are gone: every URL under its base_url answers 404",
        sandboxes.delete_sandbox,
        tag="sandboxes",
        check=sandboxes.check_operator_or_own,
        auth="the operator key or the sandbox's own admin key",
        answers={204: "deleted", 404: "no such sandbox"},
    ),
)
