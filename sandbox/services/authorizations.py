"""An authorization's whole lifecycle: granted (a customer's consent, or a client-credentials
token), listed for the customer and staff, and ended (the customer revokes, the third party
revokes, a code is reused, the customer moves out).

Its state at a moment is `state`, and ending one goes through `end` or `cut_short`, all here,
so the portal, staff view, OAuth server and control API agree. Whether an authorization lets
its tokens work is the access policy's (`access.grants_access`).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from sandbox.core.clock import Clock, to_naive_utc
from sandbox.core.db import Database
from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Application, Authorization, Customer, UsagePoint
from sandbox.core.profile import Profile
from sandbox.core.secrets import new_token
from sandbox.espi.uuids import resource_uuid_str
from sandbox.services import tokens
from sandbox.synth.calendar import local_midnight


class AuthState(enum.StrEnum):
    """An authorization's state at a moment. ACTIVE, REVOKED and DENIED are stored
    (Authorization.status); EXPIRED and PENDING follow from its period and the clock."""

    ACTIVE = "active"
    REVOKED = "revoked"
    DENIED = "denied"
    EXPIRED = "expired"  # its period is over
    PENDING = "pending"  # its period has not begun


# status_reason of an ended authorization
MOVED_OUT = "moved out"
REVOKED_BY_CUSTOMER = "revoked by the customer"
REVOKED_BY_THIRD_PARTY = "revoked by the third party"
REUSED_CODE = "code reused"
REVOKED_BY_UTILITY = "revoked by the utility"


# how an ended authorization ended, as its customer reads it (by reason, else by state)
_ENDED_WORDS = {
    REVOKED_BY_CUSTOMER: "You revoked this",
    REVOKED_BY_THIRD_PARTY: "The app gave up its access",
    MOVED_OUT: "Ended when you moved out",
    REUSED_CODE: "Ended for safety: the app's one-time code was used twice",
    REVOKED_BY_UTILITY: "The utility ended it",
}
_STATE_WORDS = {"expired": "Its time ran out", "denied": "You said no", "revoked": "Access was revoked"}


def ended_in_words(st: "AuthState | str", reason: str | None) -> str:
    """How an authorization ended, in the words its customer's Sharing page uses."""
    return _ENDED_WORDS.get(reason or "", _STATE_WORDS.get(str(st), str(st)))


# --- granting ---------------------------------------------------------------------------


def _new(
    s: Session,
    seed: int,
    slug: str,
    app: Application,
    customer: Customer | None,
    scope: str,
    grant_type: str,
    start: dt.datetime,
    end: dt.datetime,
) -> Authorization:
    name = new_token(12)  # authorizations are created at run time: a fresh name, still a version-5 id
    uuid = resource_uuid_str(seed, slug, "authorization", name)
    auth = Authorization(
        utility_id=app.utility_id,
        uuid=uuid,
        subscription_uuid=uuid,  # a Subscription has its Authorization's id (DESIGN.md)
        application_id=app.id,
        customer_id=customer.id if customer else None,
        scope=scope,
        grant_type=grant_type,
        status=AuthState.ACTIVE,
        authorized_start=start,
        authorized_end=end,
        created_at=start,
    )
    s.add(auth)
    return auth


def service_end_instant(customer: Customer, tz_name: str) -> dt.datetime | None:
    """When the customer's service ends (naive UTC: local midnight starting the moving day), if it does."""
    if customer.service_end is None:
        return None
    return to_naive_utc(dt.datetime.fromtimestamp(local_midnight(tz_name, customer.service_end), dt.timezone.utc))


def grant_for_customer(
    s: Session,
    seed: int,
    slug: str,
    tz_name: str,
    app: Application,
    customer: Customer,
    scope: str,
    usage_point_ids: list[int],
    profile: Profile,
    now: dt.datetime,
    revokes_after: dt.timedelta | None = None,
) -> Authorization:
    """The customer's grant (made when its code is exchanged); shares only the chosen usage points.

    It lasts the utility's authorization length, or until the customer moves out if sooner. A
    customer who `revokes_after` a while (a named test identity) has the revocation scheduled now:
    from then on the authorization reads as revoked by the customer."""
    start = to_naive_utc(now)
    auth = _new(
        s,
        seed,
        slug,
        app,
        customer,
        scope,
        "authorization_code",
        start,
        start + dt.timedelta(days=profile.authorization_days),
    )
    moved = service_end_instant(customer, tz_name)
    if moved is not None:  # a move already scheduled ends it as a move made later would
        cut_short(auth, moved, MOVED_OUT)
    if revokes_after is not None:
        cut_short(auth, start + revokes_after, REVOKED_BY_CUSTOMER)
    wanted = set(usage_point_ids)
    auth.usage_points = [up for up in customer.usage_points if up.id in wanted]
    s.flush()
    return auth


def grant_for_client(
    s: Session, seed: int, slug: str, app: Application, scope: str, profile: Profile, now: dt.datetime
) -> Authorization:
    """The Authorization a client-credentials token gets (ESPI.md 4.1)."""
    start = to_naive_utc(now)
    return _new(
        s,
        seed,
        slug,
        app,
        None,
        scope,
        "client_credentials",
        start,
        start + dt.timedelta(days=profile.authorization_days),
    )


# --- its state ----------------------------------------------------------------------------


class Span(Protocol):
    """What an authorization's state is read from: an Authorization row, or the plain values the
    resource server reads per call (tokens.CallAuthorization)."""

    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def ended_at(self) -> dt.datetime | None: ...
    @property
    def authorized_start(self) -> dt.datetime: ...
    @property
    def authorized_end(self) -> dt.datetime: ...


def state(auth: Span, now: dt.datetime) -> tuple[AuthState, dt.datetime]:
    """(state, until): the state at `now` and when it ends or ended (naive UTC)."""
    n = to_naive_utc(now)
    if auth.status != AuthState.ACTIVE:
        return AuthState(auth.status), auth.ended_at or auth.authorized_end
    if n >= auth.authorized_end:
        # a revocation scheduled ahead (cut_short by the customer) has come
        scheduled = auth.status_reason == REVOKED_BY_CUSTOMER
        return AuthState.REVOKED if scheduled else AuthState.EXPIRED, auth.authorized_end
    if n < auth.authorized_start:
        return AuthState.PENDING, auth.authorized_end
    return AuthState.ACTIVE, auth.authorized_end


def can_end(auth: Authorization, now: dt.datetime) -> bool:
    """Whether revoking means anything: the authorization is active or has yet to begin."""
    return state(auth, now)[0] in (AuthState.ACTIVE, AuthState.PENDING)


# --- listing ----------------------------------------------------------------------------


def of_customer(s: Session, customer_id: int) -> list[Authorization]:
    """Every authorization of the customer or covering one of their usage points, oldest first."""
    covers = Authorization.usage_points.any(UsagePoint.customer_id == customer_id)
    return list(
        s.scalars(
            select(Authorization)
            .where(or_(Authorization.customer_id == customer_id, covers))
            .options(selectinload(Authorization.application), selectinload(Authorization.usage_points))
            .order_by(Authorization.created_at, Authorization.id)
        )
    )


def with_state(s: Session, customer_id: int, now: dt.datetime) -> list[tuple[Authorization, AuthState, dt.datetime]]:
    """(authorization, state, until) of each of `of_customer`, at `now`."""
    return [(a, *state(a, now)) for a in of_customer(s, customer_id)]


# --- ending -----------------------------------------------------------------------------


def end(s: Session, auth: Authorization, now: dt.datetime, reason: str) -> bool:
    """End `auth` at `now` if it is still active: status revoked, `ended_at` and `status_reason` set
    by a conditional UPDATE, so that of two requests ending it together one does (the other's
    reason does not overwrite the first's, on SQLite or PostgreSQL). Every token of it is revoked
    either way; `auth` is reloaded. True if this call ended it."""
    done = s.connection().execute(
        update(Authorization)
        .where(Authorization.id == auth.id, Authorization.status == AuthState.ACTIVE)
        .values(status=AuthState.REVOKED, ended_at=to_naive_utc(now), status_reason=reason)
    )
    s.refresh(auth)
    tokens.revoke_all_of(s, auth.id, now)
    return done.rowcount == 1


def _already_ended(auth: Authorization, now: dt.datetime) -> Refused:
    return Refused(f"This authorization has already ended ({state(auth, now)[0]}).", "authorization")


def cut_short(auth: Authorization, at: dt.datetime, reason: str) -> bool:
    """Make an active authorization end at `at` (naive UTC) if it would outlast it; True if it did."""
    if auth.status != AuthState.ACTIVE or auth.authorized_end <= at:
        return False
    auth.authorized_end = max(at, auth.authorized_start)
    auth.status_reason = reason
    return True


def revoke_by_customer(db: Database, clock: Clock, customer_id: int, authorization_id: int) -> Authorization:
    """The customer withdraws a third party's access, at once."""
    with db.transaction() as s:
        auth = s.get(Authorization, authorization_id)
        if auth is None or auth not in of_customer(s, customer_id):
            raise NotFound(authorization_id)
        now = clock.naive_now()
        if not can_end(auth, now) or not end(s, auth, now, REVOKED_BY_CUSTOMER):
            raise _already_ended(auth, now)
        _ = auth.application  # loaded for the caller
        return auth


def expire_now(db: Database, clock: Clock, utility_id: int, authorization_id: int) -> Authorization:
    """Bring an authorization's end forward to now, as if its period had run out: its tokens stop
    working with "authorization_expired" (the control API's way to test expiry without waiting)."""
    with db.transaction() as s:
        auth = s.get(Authorization, authorization_id)
        if auth is None or auth.utility_id != utility_id:
            raise NotFound(authorization_id)
        now = clock.naive_now()
        if state(auth, now)[0] != AuthState.ACTIVE or not expire(s, auth, now):
            raise _already_ended(auth, now)
        return auth


def expire(s: Session, auth: Authorization, now: dt.datetime) -> bool:
    """Bring an active authorization's end forward to `now` (expired, not moved out) by a conditional
    UPDATE, so that of two requests ending it together one does; `auth` is reloaded. True if this call did."""
    n = to_naive_utc(now)
    done = s.connection().execute(
        update(Authorization)
        .where(Authorization.id == auth.id, Authorization.status == AuthState.ACTIVE, Authorization.authorized_end > n)
        .values(authorized_end=max(n, auth.authorized_start), status_reason=None)
    )
    s.refresh(auth)
    return done.rowcount == 1


def by_uuid(s: Session, utility_id: int | None, uuid: str) -> Authorization:
    """The authorization with this id (at this utility, if given); NotFound otherwise."""
    q = select(Authorization).where(Authorization.uuid == uuid)
    if utility_id is not None:
        q = q.where(Authorization.utility_id == utility_id)
    auth = s.scalars(q).first()
    if auth is None:
        raise NotFound(uuid)
    return auth


def revoke_by_third_party(
    db: Database, clock: Clock, utility_id: int, authorization_id: int, custodian: bool = False
) -> Authorization:
    """The third party (or the utility's admin client) ends an authorization over the API
    (DELETE Authorization/{id}): every token of it stops working at once."""
    with db.transaction() as s:
        auth = s.get(Authorization, authorization_id)
        if auth is None or auth.utility_id != utility_id:
            raise NotFound(authorization_id)
        now = clock.naive_now()
        if not can_end(auth, now) or not end(s, auth, now, REVOKED_BY_UTILITY if custodian else REVOKED_BY_THIRD_PARTY):
            raise _already_ended(auth, now)
        return auth
