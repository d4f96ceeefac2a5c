"""What is announced, to whom: the events that put notifications in the outbox.

- Data published: the sandbox clock passing a local midnight (moved by the control API, or
  in real time) publishes the day before. `publish` compares each utility's published end with
  its PublicationMark and announces the days between: one BatchList per third party, naming
  every subscription with new data (or its Batch/Bulk, for a scope with a BR term), with
  published-min and published-max bounding exactly the new days. A clock moved back moves the
  mark back without a notification (those days are announced again when published again).
- Data uploaded for a customer: the subscriptions sharing the usage points uploaded, bounded by
  the uploaded readings' period.
- An authorization granted: its subscription (or bulk), unbounded (all of it is new to the
  third party).
- An asynchronous batch asked for (a behaviour profile's `batch.mode = "async"`): the
  subscription's per-UsagePoint URLs, after the profile's delay (`batch_later`).

Only third parties with a notification URI are notified, never for an authorization that is
not active at the time (revoked, denied, expired or not begun) nor while the third party is
on hold or blocked. Each announcement is part of the transaction of its change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import quote, urlencode

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, joinedload

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import Refused
from sandbox.core.models import Application, Authorization, Notification, PublicationMark, UsagePoint, Utility
from sandbox.core.models import authorization_usage_point as shares
from sandbox.espi import urls
from sandbox.espi.atom import iso
from sandbox.espi.scopes import content_of
from sandbox.services import access
from sandbox.services.access import ClientRole
from sandbox.services.authorizations import AuthState, state
from sandbox.services.notifications.outbox import (
    AUTHORIZED,
    BATCH_READY,
    DELIVERED,
    PENDING,
    PUBLISHED,
    UPLOADED,
    enqueue,
)
from sandbox.services.subscriptions import bulk_request_of
from sandbox.synth.calendar import local_midnight
from sandbox.synth.world import WorldDef


@dataclass(frozen=True)
class Span:
    """The new data of one subscription: epoch seconds, [start, end]."""

    start: int
    end: int


def _notified(app: Application) -> bool:
    return app.role == ClientRole.THIRD_PARTY and bool(app.notify_uri) and not access.suspended(app)


def _target(root: str, auth: Authorization) -> str:
    """Where a third party reads an authorization's data: its bulk's URL for a scope with a BR
    term, else its subscription's."""
    bulk = bulk_request_of(auth)
    return (
        urls.href(root, "BatchBulk", bulk_id=bulk)
        if bulk
        else urls.href(root, "BatchSubscription", subscription_id=auth.subscription_uuid)
    )


def _bounded(base: str, span: Span | None) -> str:
    if span is None:
        return base
    return (
        base
        + "?"
        + urlencode({"published-min": iso(span.start), "published-max": iso(span.end)}, safe=":", quote_via=quote)
    )


def _batch_lists(
    s: Session,
    root: str,
    found: Iterable[tuple[Authorization, Span | None]],
    event: str,
    at: dt.datetime,
    real: dt.datetime | None,
) -> list[int]:
    """One notification per third party: its subscriptions' URIs, a bulk's once (its span the union)."""
    per_app: dict[int, tuple[Application, dict[str, Span | None]]] = {}
    for auth, span in found:
        app = auth.application
        _, targets = per_app.setdefault(app.id, (app, {}))
        base = _target(root, auth)
        if base in targets:  # a bulk named by several authorizations
            old = targets[base]
            targets[base] = (
                None if old is None or span is None else Span(min(old.start, span.start), max(old.end, span.end))
            )
        else:
            targets[base] = span
    made = [
        enqueue(s, app, event, [_bounded(base, span) for base, span in targets.items()], at, real)
        for app, targets in per_app.values()
    ]
    s.flush()
    return [n.id for n in made]


def batch_later(db: Database, application_id: int, uris: list[str], at: dt.datetime, delay: float) -> bool:
    """An asynchronous batch: the BatchList naming `uris` POSTed `delay` real seconds from now. The
    same request asked again while that one is pending makes no second one (two at once included:
    the application's row is locked first); asked once that BatchList was delivered, its data is
    ready. True when ready (answer the data), False when it is being prepared (answer 202).
    Refused when the third party has no notification URI, since nothing could announce the data."""
    with db.transaction() as s:
        # the first statement takes the lock (a write: SQLite's database lock, PostgreSQL's row lock)
        s.execute(update(Application).where(Application.id == application_id).values(id=Application.id))
        app = s.get(Application, application_id)
        if app is None or not app.notify_uri:
            raise Refused(
                "this utility answers a subscription's batch asynchronously: the data is announced to the "
                "application's notification URI, and it has none (set one in the developer portal)"
            )
        earlier = s.scalars(
            select(Notification).where(
                Notification.application_id == application_id,
                Notification.event == BATCH_READY,
                Notification.state.in_((PENDING, DELIVERED)),
            )
        ).all()
        same = [n for n in earlier if list(n.uris) == uris]
        if any(n.state == DELIVERED for n in same):
            return True
        if not same:
            enqueue(s, app, BATCH_READY, uris, at, delay=delay)
        return False


def _active(auth: Authorization, now: dt.datetime) -> bool:
    return auth.customer_id is not None and state(auth, now)[0] == AuthState.ACTIVE and _notified(auth.application)


# --- data published -------------------------------------------------------------------------


def mark_all(s: Session, world: WorldDef, clock: Clock) -> None:
    """Every utility's mark at its published end now (a new world announces nothing it was born with)."""
    marks = [
        {"utility_id": row_id, "through": clock.published_end(world.utility(slug).time_zone)}
        for row_id, slug in s.execute(select(Utility.id, Utility.slug))
    ]
    s.execute(delete(PublicationMark))  # two statements, however many utilities (a sandbox is made in ms)
    if marks:
        s.execute(insert(PublicationMark), marks)


def _block_start(day: dt.date, block: str) -> dt.date:
    """The first day of the IntervalBlock a day's readings are in (a scope's BlockDuration)."""
    if block == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if block == "monthly":
        return day.replace(day=1)
    return day


def _synthetic_shares(s: Session, auth_ids: list[int]) -> set[int]:
    """The authorizations sharing a usage point whose data the clock makes (not only imported ones)."""
    if not auth_ids:
        return set()
    q = (
        select(shares.c.authorization_id)
        .join(UsagePoint, UsagePoint.id == shares.c.usage_point_id)
        .where(shares.c.authorization_id.in_(auth_ids), UsagePoint.source_uuid.is_(None))
        .group_by(shares.c.authorization_id)
        .having(func.count() > 0)
    )
    return set(s.scalars(q))


def _published(
    s: Session,
    world: WorldDef,
    utility_id: int,
    tz: str,
    first: dt.date,
    end: dt.date,
    root: str,
    at: dt.datetime,
    real: dt.datetime | None,
) -> list[int]:
    """Announce the local days first <= day < end of one utility."""
    auths = list(
        s.scalars(
            select(Authorization)
            .join(Application, Authorization.application_id == Application.id)
            .where(
                Authorization.utility_id == utility_id,
                Authorization.customer_id.is_not(None),
                Authorization.status == AuthState.ACTIVE,
                Application.notify_uri.is_not(None),
                Application.role == ClientRole.THIRD_PARTY,
            )
            .options(joinedload(Authorization.application), joinedload(Authorization.customer))
            .order_by(Authorization.id)
        )
    )
    auths = [a for a in auths if _active(a, at)]
    synthetic = _synthetic_shares(s, [a.id for a in auths])
    found = []
    for auth in auths:
        customer = auth.customer
        if customer is None:
            continue
        lo = max(first, customer.service_start, world.history_start)
        hi = end if customer.service_end is None else min(end, customer.service_end)
        if auth.id not in synthetic or lo >= hi:
            continue
        lo = _block_start(lo, content_of(auth.scope).block)
        found.append((auth, Span(local_midnight(tz, lo), local_midnight(tz, hi))))
    return _batch_lists(s, root, found, PUBLISHED, at, real) if found else []


def publish(db: Database, clock: Clock, world: WorldDef, base_url: str, real: dt.datetime | None = None) -> list[int]:
    """Announce what the clock has published since each utility's mark, and move the marks to the
    clock; the notifications' ids. Each utility's step is one transaction that moves its mark
    only if no other process moved it first (so a day is announced once)."""
    made: list[int] = []
    with clock.pinned():
        at = clock.now()
        with db.sessions() as s:
            marks = [
                (m.utility_id, m.through, slug)
                for m, slug in s.execute(select(PublicationMark, Utility.slug).join(Utility))
            ]
        for utility_id, through, slug in marks:
            u = world.utility(slug)
            end = clock.published_end(u.time_zone)
            if end == through:
                continue
            with db.transaction() as s:
                moved = (
                    s.connection()
                    .execute(
                        update(PublicationMark)
                        .where(PublicationMark.utility_id == utility_id, PublicationMark.through == through)
                        .values(through=end)
                    )
                    .rowcount
                )
                if moved and end > through:
                    made += _published(
                        s, world, utility_id, u.time_zone, through, end, urls.resource_root(base_url, slug), at, real
                    )
    return made


# --- data uploaded, authorization granted ---------------------------------------------------


def uploaded(
    s: Session, customer_id: int, usage_point_ids: list[int], start: int, end: int, root: str, at: dt.datetime
) -> list[int]:
    """Announce readings uploaded for a customer's usage points (epoch seconds, [start, end])."""
    if not usage_point_ids or end <= start:
        return []
    sharing = select(shares.c.authorization_id).where(shares.c.usage_point_id.in_(usage_point_ids))
    q = (
        select(Authorization)
        .where(Authorization.id.in_(sharing), Authorization.customer_id == customer_id)
        .options(joinedload(Authorization.application))
        .order_by(Authorization.id)
    )
    found = [(a, Span(start, end)) for a in s.scalars(q) if _active(a, at)]
    return _batch_lists(s, root, found, UPLOADED, at, None) if found else []


def authorized(s: Session, auth: Authorization, root: str, at: dt.datetime) -> list[int]:
    """Announce a new authorization's data to its third party."""
    if not _active(auth, at):
        return []
    return _batch_lists(s, root, [(auth, None)], AUTHORIZED, at, None)
