"""Customer and staff account services: sign-in with lock-out, sign-out, moving out,
revoking an authorization, blocking a third party, finding customers, and the periods
a Download My Data request may ask for.

Plain Python over the database and the clock (no Flask), so every rule here is tested
without a web server. Each change is one transaction; a refused request changes nothing.
Times stored in the database are naive UTC, as elsewhere in the sandbox. Refused and NotFound
are the onboarding services' own (sandbox.onboarding.errors), so callers catch one kind.
"""
from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import MutableMapping

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from .clock import Clock, to_naive_utc
from .db import Database
from .directory import normalise_postal_code
from .models import Application, ApplicationStatusChange, Authorization, Customer, LoginThrottle, UsagePoint, Utility
from .oauth.grants import end_authorization
from .onboarding.errors import NotFound, Refused
from .onboarding.status import STATUS_LABELS, set_status
from .readings import History
from .synth.calendar import local_midnight, month_start, next_month

# The fixed utility-staff login of every utility (documented in the README and on the login page).
STAFF_USERNAME = "staff"
STAFF_PASSWORD = "staff"

# Lock-out: after MAX_FAILURES failed sign-ins in a row for one login, that login is
# refused for LOCKOUT (by the sandbox clock), even with the right credentials. A success
# clears the count; after the lock ends the count starts again from zero.
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=5)

BAD_LOGIN = "Those sign-in details do not match our records. Check them and try again."
MOVE_MAX_DAYS_AHEAD = 90
MOVED_OUT = "moved out"
REVOKED_BY_CUSTOMER = "revoked by the customer"


def utc(naive: dt.datetime) -> dt.datetime:
    """A stored naive-UTC time as an aware one."""
    return naive.replace(tzinfo=dt.timezone.utc)


def utility_id(db: Database, slug: str) -> int | None:
    with db.sessions() as s:
        return s.scalar(select(Utility.id).where(Utility.slug == slug))


# --- sign-in --------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginResult:
    customer_id: int | None = None  # the customer signed in (None for staff or on failure)
    ok: bool = False
    error: str | None = None
    locked_until: dt.datetime | None = None  # aware UTC, when the login is locked

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Checked against when no customer matches, so an unknown name takes as long as a wrong password."""
    return generate_password_hash("no such customer")


def _locked_result(until: dt.datetime) -> LoginResult:
    return LoginResult(error=f"Too many failed sign-in attempts in a row: this login is locked for "
                             f"{int(LOCKOUT.total_seconds() // 60)} minutes.", locked_until=utc(until))


def throttled(db: Database, clock: Clock, utility_id_: int, key: str, check) -> LoginResult:
    """Run check(session) -> LoginResult under the lock-out rule for `key`, in one transaction."""
    for attempt in (1, 2):  # a concurrent first failure may insert the same row: retry once
        try:
            with db.transaction() as s:
                now = clock.naive_now()
                row = s.scalars(select(LoginThrottle).where(LoginThrottle.utility_id == utility_id_,
                                                            LoginThrottle.key == key)).one_or_none()
                if row is not None and row.locked_until is not None and row.locked_until > now:
                    return _locked_result(row.locked_until)
                result = check(s)
                if result.ok:
                    if row is not None:
                        s.delete(row)
                    return result
                if row is None:
                    row = LoginThrottle(utility_id=utility_id_, key=key, failures=0, last_failure_at=now)
                    s.add(row)
                if row.locked_until is not None:  # an expired lock: count afresh
                    row.locked_until, row.failures = None, 0
                row.failures += 1
                row.last_failure_at = now
                if row.failures >= MAX_FAILURES:
                    row.failures, row.locked_until = 0, now + LOCKOUT
                    s.flush()
                    return _locked_result(row.locked_until)
                return LoginResult(error=BAD_LOGIN)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def login_with_password(db: Database, clock: Clock, utility_id_: int, username: str, password: str) -> LoginResult:
    username = username.strip()
    with db.sessions() as s:
        customer = s.scalars(select(Customer).where(Customer.utility_id == utility_id_,
                                                    func.lower(Customer.username) == username.lower())).first()
    key = f"customer:{customer.id}" if customer else f"username:{username.lower()}"

    def check(_s: Session) -> LoginResult:
        good = check_password_hash(customer.password_hash if customer else dummy_hash(), password)
        return LoginResult(customer_id=customer.id, ok=True) if customer and good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id_, key, check)


def normalise_account_number(text: str) -> str:
    return "".join(ch for ch in text if ch not in " -")


def login_with_account(db: Database, clock: Clock, utility_id_: int, account_number: str, postal_code: str) -> LoginResult:
    """The second way in: account number (as printed on a bill) and the service address's postal code."""
    number = normalise_account_number(account_number)
    with db.sessions() as s:
        customer = s.scalars(select(Customer).where(Customer.utility_id == utility_id_,
                                                    Customer.account_number == number)).first()
    key = f"customer:{customer.id}" if customer else f"account:{number}"

    def check(_s: Session) -> LoginResult:
        expected = normalise_postal_code(customer.postal_code) if customer else "\0"
        good = hmac.compare_digest(expected.encode(), normalise_postal_code(postal_code).encode())
        return LoginResult(customer_id=customer.id, ok=True) if customer and good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id_, key, check)


def staff_login(db: Database, clock: Clock, utility_id_: int, username: str, password: str) -> LoginResult:
    username = username.strip()

    def check(_s: Session) -> LoginResult:
        good = hmac.compare_digest(username.encode(), STAFF_USERNAME.encode()) & \
            hmac.compare_digest(password.encode(), STAFF_PASSWORD.encode())
        return LoginResult(ok=True) if good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id_, f"staff:{username.lower()}", check)


def remember_login(store: MutableMapping, role: str, slug: str, value) -> None:
    """Record a sign-in in a session-like mapping: one entry per role and utility, so a
    customer signed in at one utility is not signed in at another."""
    logins = dict(store.get(role) or {})
    logins[slug] = value
    store[role] = logins


def logged_in(store: MutableMapping, role: str, slug: str):
    return (store.get(role) or {}).get(slug)


def logout(store: MutableMapping, role: str, slug: str) -> None:
    """Forget the sign-in of `role` ("customer" or "staff") at one utility only."""
    logins = dict(store.get(role) or {})
    logins.pop(slug, None)
    store[role] = logins


# --- the account ----------------------------------------------------------------------

def account_state(customer: Customer, today: dt.date) -> str:
    """'open', 'closing' (a move-out is scheduled) or 'closed' (the moving day has come)."""
    if customer.service_end is None:
        return "open"
    return "closed" if customer.service_end <= today else "closing"


def customer_authorizations(s: Session, customer_id: int) -> list[Authorization]:
    """Every authorization of the customer or covering one of their usage points, oldest first."""
    covers = Authorization.usage_points.any(UsagePoint.customer_id == customer_id)
    return list(s.scalars(select(Authorization).where(or_(Authorization.customer_id == customer_id, covers))
                          .options(selectinload(Authorization.application), selectinload(Authorization.usage_points))
                          .order_by(Authorization.created_at, Authorization.id)))


def authorizations_with_state(s: Session, customer_id: int, now: dt.datetime) -> list[tuple[Authorization, str, dt.datetime]]:
    """(authorization, state, until) of each of `customer_authorizations`, at `now` (naive UTC)."""
    return [(a, *authorization_state(a, now)) for a in customer_authorizations(s, customer_id)]


def authorization_state(auth: Authorization, now: dt.datetime) -> tuple[str, dt.datetime]:
    """(state, until): 'active', 'revoked', 'denied', 'expired' or 'pending' and when it ends or ended (naive UTC)."""
    if auth.status != "active":
        return auth.status, auth.ended_at or auth.authorized_end
    if now >= auth.authorized_end:
        return "expired", auth.authorized_end
    if now < auth.authorized_start:
        return "pending", auth.authorized_end
    return "active", auth.authorized_end


@dataclass(frozen=True)
class MoveResult:
    service_end: dt.date
    ends_at: dt.datetime  # aware UTC: local midnight starting the moving day
    authorizations_ended: int


def move_out(db: Database, clock: Clock, customer_id: int, moving_day: dt.date, tz_name: str) -> MoveResult:
    """End service at the customer's address at the start of `moving_day` (local time).

    The day may be today (service ends at once: the account is closed) up to
    MOVE_MAX_DAYS_AHEAD days ahead. Published data never disappears, because data is
    published only up to yesterday. Every active authorization covering the customer that
    would outlast the move ends at that instant (status_reason 'moved out').
    """
    today = clock.today(tz_name)
    if moving_day < today:
        raise Refused(f"The moving day cannot be in the past: choose {today.isoformat()} or later.", "moving_day")
    if moving_day > today + dt.timedelta(days=MOVE_MAX_DAYS_AHEAD):
        raise Refused(f"The moving day can be at most {MOVE_MAX_DAYS_AHEAD} days ahead "
                      f"({(today + dt.timedelta(days=MOVE_MAX_DAYS_AHEAD)).isoformat()}).", "moving_day")
    ends_at = dt.datetime.fromtimestamp(local_midnight(tz_name, moving_day), dt.timezone.utc)
    with db.transaction() as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise NotFound(customer_id)
        if customer.service_end is not None:
            raise Refused(f"Service at this address already ends on {customer.service_end.isoformat()}.", "moving_day")
        if moving_day <= customer.service_start:
            raise Refused("The moving day must come after the start of service.", "moving_day")
        customer.service_end = moving_day
        cut = to_naive_utc(ends_at)
        ended = 0
        for auth in customer_authorizations(s, customer_id):
            if auth.status == "active" and auth.authorized_end > cut:
                auth.authorized_end = max(cut, auth.authorized_start)
                auth.status_reason = MOVED_OUT
                ended += 1
    return MoveResult(moving_day, ends_at, ended)


def revoke_authorization(db: Database, clock: Clock, customer_id: int, authorization_id: int) -> Authorization:
    """The customer withdraws a third party's access, at once."""
    with db.transaction() as s:
        auth = s.get(Authorization, authorization_id)
        if auth is None or auth not in customer_authorizations(s, customer_id):
            raise NotFound(authorization_id)
        now = clock.naive_now()
        state, until = authorization_state(auth, now)
        if state not in ("active", "pending"):
            raise Refused(f"This authorization has already ended ({state}).", "authorization")
        end_authorization(s, auth, now, REVOKED_BY_CUSTOMER)
        s.flush()
        _ = auth.application  # loaded for the caller
        return auth


# --- third parties (staff) -------------------------------------------------------------

def _previous_status(s: Session, app: Application, suspended: str) -> str:
    """The status the application had before it was put in `suspended` (review if unrecorded)."""
    last = s.scalars(select(ApplicationStatusChange).where(ApplicationStatusChange.application_id == app.id)
                     .order_by(ApplicationStatusChange.id.desc())).first()
    recorded = last is not None and last.new_status == suspended and last.old_status != suspended
    return last.old_status if recorded else "review"


# action -> (statuses it applies to, new status or None for "the status before"), in the
# order the staff page offers them
STATUS_ACTIONS = {
    "hold": (("review", "production"), "on_hold"),
    "release": (("on_hold",), None),
    "unblock": (("blocked",), None),
    "block": (("review", "production", "on_hold"), "blocked"),
}
APPROVE = "approve"  # Review -> Production, by onboarding.approve_application (the checklist must be done)


def staff_actions(status: str) -> list[str]:
    """What staff can do to an application in `status`: approve (in Review), then STATUS_ACTIONS."""
    return ([APPROVE] if status == "review" else []) + [a for a, (allowed, _) in STATUS_ACTIONS.items()
                                                         if status in allowed]


def status_text(status: str) -> str:
    """An application status as staff read it: the developers' label (onboarding.STATUS_LABELS) in lower case."""
    return STATUS_LABELS.get(status, status).lower()


def set_application_status(db: Database, clock: Clock, utility_id_: int, application_id: int, action: str,
                           by: str = STAFF_USERNAME) -> Application:
    """Staff actions on a third party: block or put on hold (access suspended), and unblock or
    release, which restore the status it had before."""
    allowed, target = STATUS_ACTIONS[action]
    with db.transaction() as s:
        app = s.get(Application, application_id)
        if app is None or app.utility_id != utility_id_:
            raise NotFound(application_id)
        if app.status not in allowed:
            if app.status == target:
                raise Refused(f"{app.name} is already {_PAST[action]}.", "application")
            raise Refused(f"{app.name} is {status_text(app.status)}: it cannot be {_PAST[action]}.", "application")
        set_status(app, target or _previous_status(s, app, app.status), clock.naive_now(), by)
        return app


_PAST = {"block": "blocked", "unblock": "unblocked", "hold": "put on hold", "release": "released"}


def set_application_blocked(db: Database, clock: Clock, utility_id_: int, application_id: int, blocked: bool,
                            by: str = STAFF_USERNAME) -> Application:
    """Block a third party (its status becomes 'blocked'), or unblock it back to the status it had."""
    return set_application_status(db, clock, utility_id_, application_id, "block" if blocked else "unblock", by)


def applications(db: Database, utility_id_: int) -> list[tuple[Application, int]]:
    """The utility's third parties with their number of active authorizations."""
    with db.sessions() as s:
        apps = s.scalars(select(Application).where(Application.utility_id == utility_id_)
                         .order_by(Application.name, Application.id)).all()
        counts = dict(s.execute(select(Authorization.application_id, func.count(Authorization.id))
                                .where(Authorization.utility_id == utility_id_, Authorization.status == "active")
                                .group_by(Authorization.application_id)).all())
        return [(a, counts.get(a.id, 0)) for a in apps]


def directory(db: Database, utility_id_: int) -> list[Application]:
    """Third parties the utility has onboarded and customers may choose (status production)."""
    with db.sessions() as s:
        return list(s.scalars(select(Application).where(Application.utility_id == utility_id_,
                                                        Application.status == "production")
                              .order_by(Application.name)))


# --- customers (staff) -----------------------------------------------------------------

SEARCH_LIMIT = 50


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_customers(db: Database, utility_id_: int, query: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers whose name, account number, username, e-mail or address match every word of `query`.

    Digits typed with spaces or dashes also match account numbers; an empty query lists the first customers.
    """
    words = query.split()
    stmt = select(Customer).where(Customer.utility_id == utility_id_)
    if words:
        number = normalise_account_number(query)
        conds = []
        for w in words:
            p = _like(w)
            conds.append(or_(*(col.ilike(p, escape="\\") for col in (
                Customer.first_name, Customer.last_name, Customer.username, Customer.email, Customer.account_number,
                Customer.street, Customer.city, Customer.postal_code))))
        match_words = and_(*conds)
        if number.isdigit():
            match_words = or_(match_words, Customer.account_number.like(_like(number), escape="\\"))
        stmt = stmt.where(match_words)
    with db.sessions() as s:
        return list(s.scalars(stmt.order_by(Customer.number).limit(limit)))


def customer_of_utility(s: Session, utility_id_: int, customer_id: int) -> Customer:
    """The customer (in session `s`, usage points loaded), or NotFound if it is not this utility's."""
    c = s.scalars(select(Customer).where(Customer.id == customer_id, Customer.utility_id == utility_id_)
                  .options(selectinload(Customer.usage_points), selectinload(Customer.utility))).one_or_none()
    if c is None:
        raise NotFound(customer_id)
    return c


def chosen_usage_points(customer: Customer, ids: list[int]) -> list[UsagePoint]:
    """The customer's usage points with these ids, in the customer's order; NotFound if any is not theirs."""
    by_id = {up.id: up for up in customer.usage_points}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(missing[0])
    wanted = set(ids)
    return [up for up in customer.usage_points if up.id in wanted]


@dataclass(frozen=True)
class SignInLock:
    failures: int  # failed attempts in a row so far (0 while locked)
    locked_until: dt.datetime | None  # aware UTC, if locked now


def sign_in_lock(db: Database, clock: Clock, utility_id_: int, customer_id: int) -> SignInLock | None:
    """The customer's failed sign-ins in a row and any lock in force, or None if there are none."""
    with db.sessions() as s:
        row = s.scalars(select(LoginThrottle).where(LoginThrottle.utility_id == utility_id_,
                                                    LoginThrottle.key == f"customer:{customer_id}")).one_or_none()
    if row is None:
        return None
    locked = row.locked_until is not None and row.locked_until > clock.naive_now()
    if not locked and (row.locked_until is not None or row.failures == 0):
        return None
    return SignInLock(row.failures if not locked else 0, utc(row.locked_until) if locked else None)


def clear_sign_in_lock(db: Database, utility_id_: int, customer_id: int) -> None:
    """Staff action: forget the customer's failed sign-ins (ends a lock at once)."""
    with db.transaction() as s:
        s.execute(delete(LoginThrottle).where(LoginThrottle.utility_id == utility_id_,
                                              LoginThrottle.key == f"customer:{customer_id}"))


# --- Download My Data periods ---------------------------------------------------------

PERIOD_CHOICES = ("last_month", "last_12_months", "custom")


def _months_back(day: dt.date, n: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - n, 12)
    return dt.date(y, m + 1, 1)


def preset_period(choice: str, history: History) -> tuple[dt.date, dt.date] | None:
    """The whole calendar month(s) before the end of the data, clamped to the history; None if empty."""
    ref = month_start(history.end)
    start = _months_back(ref, 1 if choice == "last_month" else 12)
    start, end = history.clamp(start, ref)
    return (start, end) if start < end else None


def parse_day(text: str | None, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise Refused(f"{param}: enter a date as YYYY-MM-DD.", param) from None


def dmd_period(choice: str | None, start_text: str | None, end_text: str | None, history: History,
               max_span_days: int) -> tuple[dt.date, dt.date]:
    """(start, end exclusive) of a Download My Data request, or Refused naming the bad field.

    `end_text` is the last day wanted (inclusive), as a person writes it.
    """
    if history.empty:
        raise Refused("There is no data to download yet.", "period")
    if choice not in PERIOD_CHOICES:
        raise Refused(f"period must be one of {', '.join(PERIOD_CHOICES)}.", "period")
    if choice != "custom":
        found = preset_period(choice, history)
        if found is None:
            raise Refused("There is no whole month of data yet: choose custom dates.", "period")
        return found
    start = parse_day(start_text, "start")
    last = parse_day(end_text, "end")
    if last < start:
        raise Refused("The end date comes before the start date.", "end")
    end = last + dt.timedelta(days=1)
    if start < history.first:
        raise Refused(f"Your data starts on {history.first.isoformat()}: choose a later start date.", "start")
    if end > history.end:
        raise Refused(f"Your data runs to {(history.end - dt.timedelta(days=1)).isoformat()}: "
                      "choose an earlier end date.", "end")
    if (end - start).days > max_span_days:
        raise Refused(f"A download can cover at most {max_span_days} days; this one covers {(end - start).days}.", "end")
    return start, end


def last_month_label(start: dt.date, end: dt.date) -> str:
    if next_month(start) == end and start.day == 1:
        return start.strftime("%B %Y")
    return f"{start.isoformat()} to {(end - dt.timedelta(days=1)).isoformat()}"


