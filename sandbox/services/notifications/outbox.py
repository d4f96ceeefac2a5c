"""The outbox: notifications written in the same transaction as the change they announce, and
read back for the developer portal and the control API.

A notification is one BatchList for one third party. It is `pending` until a POST to the
third party's notification URI is answered 2xx (`delivered`), or until the retry schedule is
spent (`failed`). Deliveries keep real time (a receiver is down for real seconds, whatever the
sandbox clock says); the event's own time is sandbox time.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, selectinload

from sandbox.core.clock import iso_z, to_naive_utc
from sandbox.core.config import ConfigError
from sandbox.core.db import Database
from sandbox.core.errors import NotFound
from sandbox.core.models import Application, Notification
from sandbox.espi.resources import batch_list
from sandbox.services import quotas

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
PUBLISHED, UPLOADED, AUTHORIZED = "published", "uploaded", "authorized"  # the events that notify
BATCH_READY = "batch_ready"  # an asynchronous Batch/Subscription's data (a behaviour profile's batch.mode)
EVENTS = (PUBLISHED, UPLOADED, AUTHORIZED, BATCH_READY)


@dataclass(frozen=True)
class Schedule:
    """When a failed delivery is tried again: `base` seconds after the first failure, doubling
    after each one, never more than `cap` seconds apart; after `attempts` attempts have failed the
    notification is failed (the defaults: 2, 4, 8 ... 256, 300 s, so ten attempts over about
    13 minutes). Configured by NOTIFY_RETRY_BASE, NOTIFY_RETRY_CAP and NOTIFY_ATTEMPTS."""

    base: float = 2.0
    cap: float = 300.0
    attempts: int = 10

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> "Schedule":
        """The schedule configured; ConfigError for one that cannot work."""
        schedule = cls(
            float(config["NOTIFY_RETRY_BASE"]), float(config["NOTIFY_RETRY_CAP"]), int(config["NOTIFY_ATTEMPTS"])
        )
        if not (0 < schedule.base <= schedule.cap) or not math.isfinite(schedule.cap) or schedule.attempts < 1:
            raise ConfigError(
                "notification retries: NOTIFY_RETRY_BASE must be above 0 and at most NOTIFY_RETRY_CAP, "
                "and NOTIFY_ATTEMPTS at least 1"
            )
        return schedule

    def delay(self, failures: int) -> float | None:
        """Seconds to wait after the `failures`-th failed attempt, or None: give up."""
        if failures >= self.attempts:
            return None
        return min(self.cap, self.base * 2 ** (failures - 1))


def real_now(source=time.time) -> dt.datetime:
    """Real time as the database stores times (naive UTC)."""
    return dt.datetime.fromtimestamp(source(), dt.timezone.utc).replace(tzinfo=None)


# --- waking the workers of this process when a transaction adds notifications ---------------

_LISTENERS: "weakref.WeakSet[threading.Event]" = weakref.WeakSet()


def listen(wake: threading.Event) -> None:
    """Set `wake` whenever a transaction of this process that enqueued notifications commits."""
    _LISTENERS.add(wake)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("notifications_enqueued", False):
        for wake in list(_LISTENERS):
            wake.set()
        told = session.info.get("on_notifications")  # its Database's (a private sandbox's: web.private)
        if told is not None:
            told()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("notifications_enqueued", None)


def enqueue(
    s: Session,
    app: Application,
    event_name: str,
    uris: Sequence[str],
    at: dt.datetime,
    real: dt.datetime | None = None,
    delay: float = 0,
) -> Notification:
    """A BatchList naming `uris` for `app`, due at once (or `delay` real seconds later); part of
    the caller's transaction."""
    quotas.check(s, "outbox")
    now = real or real_now()
    n = Notification(
        utility_id=app.utility_id,
        application_id=app.id,
        event=event_name,
        created_at=to_naive_utc(at),
        enqueued_at=now,
        uris=list(uris),
        body=batch_list(uris).decode("utf-8"),
        state=PENDING,
        attempts=0,
        next_attempt_at=now + dt.timedelta(seconds=delay),
    )
    s.add(n)
    s.info["notifications_enqueued"] = True
    return n


# --- reading --------------------------------------------------------------------------------


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else iso_z(when)


def as_json(n: Notification) -> dict:
    """A notification and its delivery attempts, as the control API gives them."""
    return {
        "id": n.id,
        "client_id": n.application.client_id,
        "event": n.event,
        "created_at": _iso(n.created_at),
        "enqueued_at": _iso(n.enqueued_at),
        "state": n.state,
        "attempts": n.attempts,
        "next_attempt_at": _iso(n.next_attempt_at) if n.state == PENDING else None,
        "delivered_at": _iso(n.delivered_at),
        "uris": list(n.uris),
        "body": n.body,
        "deliveries": [
            {
                "at": _iso(a.at),
                "uri": a.uri,
                "status": a.status,
                "milliseconds": a.milliseconds,
                "answer": a.answer,
                "manual": a.manual,
            }
            for a in n.deliveries
        ],
    }


def listing(
    db: Database,
    utility_id: int | None = None,
    application_id: int | None = None,
    client_id: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[Notification]:
    """Notifications newest first, with their application and attempts loaded."""
    q = (
        select(Notification)
        .join(Application, Notification.application_id == Application.id)
        .options(selectinload(Notification.deliveries), selectinload(Notification.application))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if utility_id is not None:
        q = q.where(Notification.utility_id == utility_id)
    if application_id is not None:
        q = q.where(Notification.application_id == application_id)
    if client_id is not None:
        q = q.where(Application.client_id == client_id)
    if state is not None:
        q = q.where(Notification.state == state)
    with db.sessions() as s:
        return list(s.scalars(q))


def after(db: Database, notification_id: int, limit: int = 20) -> list[Notification]:
    """The notifications made after `notification_id`, oldest first (a listener's next ones), loaded."""
    q = (
        select(Notification)
        .where(Notification.id > notification_id)
        .options(selectinload(Notification.deliveries), selectinload(Notification.application))
        .order_by(Notification.id)
        .limit(limit)
    )
    with db.sessions() as s:
        return list(s.scalars(q))


def next_due(db: Database) -> float | None:
    """When the next pending notification is due, real time in seconds since the epoch (None: none)."""
    with db.sessions() as s:
        when = s.scalar(select(func.min(Notification.next_attempt_at)).where(Notification.state == PENDING))
    return when.replace(tzinfo=dt.timezone.utc).timestamp() if when is not None else None


def latest_id(db: Database) -> int:
    """The newest notification's id (0: none yet): where a listener that starts now begins."""
    with db.sessions() as s:
        return s.scalar(select(func.max(Notification.id))) or 0


def one(
    db: Database, notification_id: int, utility_id: int | None = None, application_id: int | None = None
) -> Notification:
    """One notification (of the utility or application, if given), loaded; NotFound otherwise."""
    with db.sessions() as s:
        n = s.scalars(
            select(Notification)
            .where(Notification.id == notification_id)
            .options(selectinload(Notification.deliveries), selectinload(Notification.application))
        ).first()
    if (
        n is None
        or (utility_id is not None and n.utility_id != utility_id)
        or (application_id is not None and n.application_id != application_id)
    ):
        raise NotFound(f"notification {notification_id}")
    return n
