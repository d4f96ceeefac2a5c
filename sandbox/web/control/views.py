"""The control API's views: each reads its checked call, asks one service, and answers JSON.
The services are the portal's and the staff view's own (revoke, move out, block), so a test that
drives the sandbox here sees exactly what a browser would have made."""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from sandbox.core.clock import iso_z
from sandbox.core.db import fetch
from sandbox.core.errors import ControlError, NotFound, Refused
from sandbox.core.models import Application, Authorization, Customer
from sandbox.espi import urls
from sandbox.espi.scopes import FUNCTION_BLOCK_NAMES, ScopeError, allowed_by, function_blocks, plain_words
from sandbox.services import access, authorizations, customers, grants, onboarding, request_log, third_parties, world
from sandbox.services import faults as fault_catalogue
from sandbox.services.access import ClientRole
from sandbox.services.notifications import announce, delivery, outbox
from sandbox.synth.world import UtilityDef
from sandbox.web.context import notifier, sandbox
from sandbox.web.context import request_log as request_log_writer
from sandbox.web.oauth.server import add_uris
from sandbox.web.resets import resetting
from sandbox.web.utility import utility_row_id

CONTROL_API = "control API"  # who made a change, in the records that keep it


@dataclass
class Call:
    """A checked call: its JSON body (valid against the operation's schema) and query parameters."""

    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)


def _utility(slug: str, name: str = "utility") -> tuple[UtilityDef, int]:
    """The utility of this slug and its row id; 404 naming `name` otherwise."""
    utility_id = utility_row_id(slug)
    if utility_id is None:
        raise ControlError(404, "not_found", f"no utility {slug!r} in this sandbox", name)
    return sandbox().require_world().utility(slug), utility_id


def _customer(s, utility_id: int, username: str, name: str = "customer") -> Customer:
    c = customers.by_username(s, utility_id, username)
    if c is None:
        raise ControlError(404, "not_found", f"no customer {username!r} at this utility", name)
    return c


def _third_party(s, utility_id: int, client_id: str) -> Application:
    app = s.scalars(
        select(Application).where(
            Application.utility_id == utility_id,
            Application.client_id == client_id,
            Application.role == ClientRole.THIRD_PARTY,
        )
    ).first()
    if app is None:
        raise ControlError(
            404, "not_found", f"no third party with client_id {client_id!r} at this utility", "client_id"
        )
    return app


def _authorization(s, authorization_id: str) -> Authorization:
    try:
        return authorizations.by_uuid(s, None, authorization_id)
    except NotFound:
        raise ControlError(404, "not_found", f"no authorization {authorization_id!r}", "authorization_id") from None


# --- about --------------------------------------------------------------------------------


def explain_scope(call: Call) -> Response:
    scope = call.query["scope"]
    grammar, supported = "strict", None
    if call.query.get("utility"):
        profile = _utility(call.query["utility"])[0].profile
        grammar, supported = profile.behaviour.scope_grammar, profile.function_blocks
    # strict: the utility's scope rules refuse unknown terms and odd case; grammar: which rules
    out: dict[str, Any] = {"scope": scope, "strict": grammar != "lenient", "grammar": grammar}
    try:
        parsed = allowed_by([scope], scope, grammar, supported)
        out["valid"] = True
        out["terms"] = {
            "interval_durations": list(parsed.interval_durations),
            "block_duration": parsed.block_duration,
            "history_length": parsed.history_length,
            "bulk_request": parsed.bulk_request,
        }
    except ScopeError as exc:
        out["valid"] = False
        out["error"] = {"error": "invalid_scope", "error_description": str(exc)}
    out["function_blocks"] = [
        {"id": n, "name": FUNCTION_BLOCK_NAMES.get(n, f"FB_{n}")} for n in sorted(function_blocks(scope))
    ]
    out["plain"] = plain_words(scope)
    return jsonify(out)


# --- the world ------------------------------------------------------------------------------


def reset(call: Call) -> Response:
    sb = sandbox()
    t0 = time.perf_counter()
    with resetting():  # the other requests of this process wait (other processes' take turns in the database)
        request_log_writer().discard()  # calls made before the reset are not the new world's
        private = sb.config.get("SANDBOX_ID") is not None  # its seeded clients keep its own secrets
        sb.world = world.reset_to_seed(sb.db, sb.clock, sb.config["CUSTOMERS"], sb.templates, private)
        if sb.demo_notify_uri:  # run.py's demo app goes on receiving notifications
            world.set_demo_notify_uri(sb.db, sb.demo_notify_uri)
    return jsonify(seed=sb.world.seed, seconds=round(time.perf_counter() - t0, 3))


def seed(call: Call) -> Response:
    sb = sandbox()
    u, _ = _utility(call.body["utility"])
    return jsonify(usernames=world.add_customers(sb.db, sb.require_world(), u.slug, call.body["customers"]))


# --- the clock ------------------------------------------------------------------------------


def get_clock(call: Call) -> Response:
    return jsonify(sandbox().clock.state())


_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def seconds_of(value: Any) -> float:
    """Seconds of an ISO 8601 duration without years or months (their length varies), or a number."""
    if isinstance(value, bool):
        raise ValueError("a duration, not true or false")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("a finite number of seconds")
        return float(value)
    m = _DURATION.match(value.strip().upper())
    if not m or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
        raise ValueError(
            f"{value!r} is not an ISO 8601 duration such as P1D, PT6H or P1DT12H (years and months "
            "are not allowed: their length varies)"
        )
    weeks, days, hours, minutes, secs = (float(x) if x else 0.0 for x in m.groups())
    try:
        return dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=secs).total_seconds()
    except OverflowError:
        raise ValueError(f"{value!r} is too long") from None


# the clock stays where dates can be written (and ESPI's epoch seconds make sense)
EARLIEST, LATEST = dt.datetime(1971, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc)


def _within(when: dt.datetime, name: str) -> None:
    if not EARLIEST <= when <= LATEST:
        raise ControlError(
            400,
            "invalid_request",
            f"{name}: the clock would be at {when.isoformat()}; it stays between {EARLIEST.date()} and {LATEST.date()}",
            name,
        )


def parse_instant(value: str, name: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(
            400, "invalid_request", f"{name}: {value!r} is not an ISO 8601 date and time", name
        ) from None
    if when.tzinfo is None:
        raise ControlError(400, "invalid_request", f"{name}: {value!r} has no offset; write Z or +hh:mm", name)
    return when


def set_clock(call: Call) -> Response:
    clock = sandbox().clock
    ((what, value),) = call.body.items()
    if what == "advance":
        try:
            seconds = seconds_of(value)
        except ValueError as exc:
            raise ControlError(400, "invalid_request", f"advance: {exc}", "advance") from None
        if seconds < 0:
            raise ControlError(
                400, "invalid_request", "advance: the clock only moves forward; use set to go back", "advance"
            )
        if seconds > (LATEST - clock.now()).total_seconds():  # measured, not added: no date lies past 9999
            raise ControlError(
                400,
                "invalid_request",
                f"advance: {value!r} is too far; the clock stays before {LATEST.date()}",
                "advance",
            )
        clock.advance(seconds)
    elif what == "set":
        when = parse_instant(value, "set")
        _within(when, "set")
        clock.set(when)
    elif what == "freeze":
        clock.freeze()
    else:
        clock.unfreeze()
    sb = sandbox()  # the days the move published are announced before the answer
    made = announce.publish(sb.db, clock, sb.require_world(), sb.base_url())
    return jsonify(**clock.state(), notifications=made)


# --- authorizations --------------------------------------------------------------------------


def create_authorization(call: Call) -> Response:
    sb = sandbox()
    b = call.body
    u, utility_id = _utility(b["utility"])
    now = sb.clock.naive_now()
    with sb.db.transaction() as s:
        customer = _customer(s, utility_id, b["customer"])
        app = _third_party(s, utility_id, b["client_id"])
        profile = sb.require_world().profile_for(u, app.profile)
        try:
            allowed_by(list(app.scopes), b["scope"], profile.behaviour.scope_grammar, profile.function_blocks)
        except ScopeError as exc:
            raise ControlError(400, "invalid_scope", f"scope: {exc}", "scope") from None
        refusal = access.authorize_refusal(app, customer, sb.clock.today(u.time_zone))
        if refusal is not None:
            raise ControlError(409, refusal, access.REFUSALS[refusal].format(utility=u.name, app=app.name))
        points = customers.shareable_usage_points(customer, b["scope"])  # what the consent page offers
        if "usage_points" in b:
            known = {up.uuid: up.id for up in points}
            unknown = [x for x in b["usage_points"] if x not in known]
            if unknown:
                raise ControlError(
                    400,
                    "invalid_request",
                    f"usage_points: {unknown[0]!r} is not one of this "
                    f"customer's usage points of the scope's commodities ({', '.join(known)})",
                    "usage_points",
                )
            ids = [known[x] for x in b["usage_points"]]
        elif points:
            ids = [up.id for up in points]
        else:
            raise ControlError(
                409,
                "nothing_to_share",
                "the customer has no usage point of the commodities the scope asks for",
                "scope",
            )
        token, auth = grants.issue_customer_token(
            s,
            None,
            profile,
            sb.require_world().seed,
            u,
            app,
            customer,
            b["scope"],
            ids,
            now,
            urls.resource_root(sb.base_url(), u.slug),
        )
        add_uris(token, auth, urls.resource_root(request.url_root, u.slug))
        token["authorization_id"] = auth.uuid
        token["subscription_id"] = auth.subscription_uuid
    resp = jsonify(token)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _authorization_state(auth: Authorization) -> Response:
    st, until = authorizations.state(auth, sandbox().clock.now())
    return jsonify(authorization_id=auth.uuid, state=str(st), status_reason=auth.status_reason, ends_at=iso_z(until))


def _refused(exc: Refused) -> ControlError:
    return ControlError(409, "conflict", exc.message)


def revoke_authorization(call: Call, authorization_id: str) -> Response:
    sb = sandbox()
    with sb.db.sessions() as s:
        auth = _authorization(s, authorization_id)
        row_id, customer_id, utility_id = auth.id, auth.customer_id, auth.utility_id
    try:
        if customer_id is not None:  # as the customer does on the portal
            done = authorizations.revoke_by_customer(sb.db, sb.clock, customer_id, row_id)
        else:  # a client's own authorization: as its third party does over the API
            done = authorizations.revoke_by_third_party(sb.db, sb.clock, utility_id, row_id)
    except Refused as exc:
        raise _refused(exc) from None
    return _authorization_state(done)


def expire_authorization(call: Call, authorization_id: str) -> Response:
    sb = sandbox()
    with sb.db.sessions() as s:
        auth = _authorization(s, authorization_id)
        row_id, utility_id = auth.id, auth.utility_id
    try:
        done = authorizations.expire_now(sb.db, sb.clock, utility_id, row_id)
    except Refused as exc:
        raise _refused(exc) from None
    return _authorization_state(done)


# --- the request log ---------------------------------------------------------------------------


def list_requests(call: Call) -> Response:
    limit = int(call.query.get("limit", 100))
    utility_id = None
    if "utility" in call.query:
        _, utility_id = _utility(call.query["utility"])
    found = request_log.recent(request_log_writer(), utility_id, client_id=call.query.get("client_id"), limit=limit)
    return jsonify(requests=[c.as_json() for c in found])


# --- notifications ---------------------------------------------------------------------------------


def list_notifications(call: Call) -> Response:
    utility_id = None
    if "utility" in call.query:
        _, utility_id = _utility(call.query["utility"])
    found = outbox.listing(
        sandbox().db,
        utility_id,
        client_id=call.query.get("client_id"),
        state=call.query.get("state"),
        limit=int(call.query.get("limit", 100)),
    )
    return jsonify(notifications=[outbox.as_json(n) for n in found])


def send_notification(call: Call, notification_id: str) -> Response:
    sb = sandbox()
    if not re.fullmatch(r"[0-9]{1,18}", notification_id):
        raise ControlError(404, "not_found", f"no notification {notification_id!r}", "notification_id")
    worker = notifier()
    try:
        done = delivery.send_now(sb.db, int(notification_id), worker.schedule, worker.policy, timeout=worker.timeout)
    except NotFound:
        raise ControlError(404, "not_found", f"no notification {notification_id!r}", "notification_id") from None
    except delivery.Busy:
        raise ControlError(
            409, "conflict", f"notification {notification_id} is being delivered right now; try again in a moment"
        ) from None
    return jsonify(outbox.as_json(outbox.one(sb.db, done.notification_id)))


LISTEN_WAIT = 25.0  # the longest a listener's call waits for a notification (seconds)
LISTEN_POLL = 0.25  # between two looks while it waits (another process's notifications, too)


_LISTENING: list[threading.BoundedSemaphore] = []  # long polls a process holds at once, every sandbox's


def _listening(threads: int) -> threading.BoundedSemaphore:
    if not _LISTENING:
        _LISTENING.append(threading.BoundedSemaphore(max(1, threads // 2)))
    return _LISTENING[0]


def next_notifications(call: Call) -> Response:
    """A listener's long poll: the notifications after `after`, oldest first, as soon as there is one
    (or none when `wait` seconds pass). `after` left out: none of those made so far. A process holds at
    most half its threads in long polls, whichever sandboxes ask (the rest answer everything else);
    one more is a 429 with Retry-After."""
    gate = _listening(int(sandbox().config["THREADS"]))
    if not gate.acquire(blocking=False):
        busy = ControlError(
            429,
            "too_many_listeners",
            "this server holds as many listeners' long polls as it may at once: ask again shortly",
        )
        busy.retry_after = 2
        raise busy
    try:
        return _next_notifications(call)
    finally:
        gate.release()


def _next_notifications(call: Call) -> Response:
    db = sandbox().db
    start = call.query.get("after")
    after = outbox.latest_id(db) if start is None else int(start)
    deadline = time.monotonic() + min(LISTEN_WAIT, float(call.query.get("wait", LISTEN_WAIT)))
    woken = threading.Event()
    outbox.listen(woken)  # this process's new notifications wake it at once
    while True:
        found = outbox.after(db, after, int(call.query.get("limit", 20)))
        left = deadline - time.monotonic()
        if found or left <= 0:
            break
        woken.wait(min(LISTEN_POLL, left))
        woken.clear()
    last = found[-1].id if found else after
    return jsonify(notifications=[outbox.as_json(n) for n in found], after=last)


def forwarded_notification(call: Call, notification_id: str) -> Response:
    """What a listener's receiver answered to a notification it forwarded (kept as a delivery attempt)."""
    sb = sandbox()
    if not re.fullmatch(r"[0-9]{1,18}", notification_id):
        raise ControlError(404, "not_found", f"no notification {notification_id!r}", "notification_id")
    body = call.body
    try:
        delivery.forwarded(
            sb.db,
            int(notification_id),
            body["to"],
            body["status"],
            body.get("milliseconds", 0),
            body.get("answer", ""),
            outbox.real_now(),
        )
    except NotFound:
        raise ControlError(404, "not_found", f"no notification {notification_id!r}", "notification_id") from None
    return jsonify(outbox.as_json(outbox.one(sb.db, int(notification_id))))


# --- customers and third parties -----------------------------------------------------------------


def move_out(call: Call, slug: str, username: str) -> Response:
    sb = sandbox()
    u, utility_id = _utility(slug, "slug")
    try:
        day = dt.date.fromisoformat(call.body["date"])
    except ValueError:
        raise ControlError(
            400, "invalid_request", f"date: {call.body['date']!r} is not a date (YYYY-MM-DD)", "date"
        ) from None
    with sb.db.sessions() as s:
        customer_id = _customer(s, utility_id, username, "username").id
    try:
        done = customers.move_out(sb.db, sb.clock, customer_id, day, u.time_zone)
    except Refused as exc:
        raise ControlError(400, "invalid_request", f"date: {exc.message}", "date") from None
    return jsonify(
        service_end=done.service_end.isoformat(),
        ends_at=iso_z(done.ends_at),
        authorizations_ended=done.authorizations_ended,
    )


def _third_party_of(slug: str, client_id: str) -> tuple[UtilityDef, int, int]:
    """(the utility, its row id, the third party's application id) the path names; 404 otherwise."""
    u, utility_id = _utility(slug, "slug")
    with sandbox().db.sessions() as s:
        return u, utility_id, _third_party(s, utility_id, client_id).id


def third_party_notify_uri(call: Call, slug: str, client_id: str) -> Response:
    sb = sandbox()
    u, utility_id, app_id = _third_party_of(slug, client_id)
    try:
        app = onboarding.set_notify_uri(sb.db, sb.clock, utility_id, app_id, call.body["notify_uri"], u.profile)
    except Refused as exc:
        raise ControlError(400, "invalid_request", exc.message, "notify_uri") from None
    return jsonify(client_id=app.client_id, notify_uri=app.notify_uri)


def list_faults(call: Call) -> Response:
    return jsonify(faults=fault_catalogue.catalogue(), header_allowed=bool(sandbox().config["FAULT_HEADER"]))


def third_party_faults(call: Call, slug: str, client_id: str) -> Response:
    sb = sandbox()
    _, utility_id, app_id = _third_party_of(slug, client_id)
    try:
        with sb.db.transaction() as s:
            chosen = fault_catalogue.set_on(fetch(s, Application, app_id), call.body["faults"])
    except Refused as exc:
        raise ControlError(400, "invalid_request", exc.message, "faults") from None
    return jsonify(client_id=client_id, faults=chosen)


def list_profiles(call: Call) -> Response:
    world = sandbox().require_world()
    return jsonify(
        profiles=[b.as_json() for _, b in sorted(world.profiles.items())],
        utilities={u.slug: u.profile.behaviour.name for u in world.utilities},
    )


def third_party_profile(call: Call, slug: str, client_id: str) -> Response:
    sb = sandbox()
    world = sb.require_world()
    u, utility_id, app_id = _third_party_of(slug, client_id)
    try:
        with sb.db.transaction() as s:
            chosen = third_parties.choose_profile(fetch(s, Application, app_id), call.body["profile"], world.profiles)
    except Refused as exc:
        raise ControlError(400, "invalid_request", exc.message, "profile") from None
    return jsonify(client_id=client_id, profile=chosen, effective=world.profile_for(u, chosen).behaviour.as_json())


def authorization_faults(call: Call, authorization_id: str) -> Response:
    sb = sandbox()
    try:
        with sb.db.transaction() as s:
            auth = _authorization(s, authorization_id)
            chosen = fault_catalogue.set_on(auth, call.body["faults"])
    except Refused as exc:
        raise ControlError(400, "invalid_request", exc.message, "faults") from None
    return jsonify(authorization_id=authorization_id, faults=chosen)


def third_party_status(call: Call, slug: str, client_id: str) -> Response:
    sb = sandbox()
    _, utility_id, app_id = _third_party_of(slug, client_id)
    try:
        app = third_parties.set_status_to(sb.db, sb.clock, utility_id, app_id, call.body["status"], by=CONTROL_API)
    except Refused as exc:
        raise _refused(exc) from None
    return jsonify(client_id=app.client_id, status=app.status)


def _customer_of(slug: str, username: str) -> int:
    """The row id of the customer the path names; 404 naming slug or username otherwise."""
    _, utility_id = _utility(slug, "slug")
    with sandbox().db.sessions() as s:
        return _customer(s, utility_id, username, "username").id


def get_data_quality(call: Call, slug: str, username: str) -> Response:
    sb = sandbox()
    found = customers.data_quality(sb.db, sb.require_world(), _customer_of(slug, username))
    return jsonify(username=username, **found.as_json())


def set_data_quality(call: Call, slug: str, username: str) -> Response:
    sb = sandbox()
    customer_id = _customer_of(slug, username)
    try:
        found = customers.set_data_quality(sb.db, sb.require_world(), customer_id, call.body)
    except Refused as exc:
        raise ControlError(400, "invalid_request", exc.message, exc.field) from None
    return jsonify(username=username, **found.as_json())
