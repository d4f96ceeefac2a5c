"""Delivering the outbox: claiming due notifications, POSTing them, recording each attempt and
moving the notification on (delivered, tried again later by the Schedule, or failed).

Several processes may run workers on one database. A worker claims notifications with one
conditional UPDATE that sets a lease (owner, until): a notification leased by one worker is not
taken by another until the lease runs out, which it does only if that worker died mid-POST.
The attempt is recorded only while the lease is still the worker's, so each notification is
POSTed once per attempt. A worker killed between its POST and its record may leave an attempt
that is made again after LEASE seconds (at least once, never lost).
"""

from __future__ import annotations

import datetime as dt
import secrets
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import and_, or_, select, update

from sandbox.core.db import Database
from sandbox.core.errors import Busy, NotFound, Refused
from sandbox.core.models import Application, DeliveryAttempt, Notification
from sandbox.services.access import SUSPENDED
from sandbox.services.notifications.outbox import DELIVERED, FAILED, PENDING, Schedule, real_now
from sandbox.services.notifications.posting import NOTIFY_TIMEOUT, NotifyResult, TargetPolicy, post_notification

LEASE = dt.timedelta(seconds=60)  # longer than a POST may take (NOTIFY_TIMEOUT)


def new_owner(name: str = "worker") -> str:
    return f"{name}-{secrets.token_hex(8)}"


def _free(now: dt.datetime):
    return or_(Notification.lease_until.is_(None), Notification.lease_until < now)


def claim_due(db: Database, owner: str, now: dt.datetime, limit: int = 64) -> list[int]:
    """Lease up to `limit` pending notifications whose next attempt is due; their ids, oldest first."""
    due = and_(Notification.state == PENDING, Notification.next_attempt_at <= now, _free(now))
    with db.transaction() as s:
        ids = list(s.scalars(select(Notification.id).where(due).order_by(Notification.id).limit(limit)))
        if not ids:
            return []
        # the condition again in the UPDATE: another worker may have taken some since the SELECT
        s.execute(
            update(Notification)
            .where(Notification.id.in_(ids), due)
            .values(lease_owner=owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    with db.sessions() as s:
        return list(
            s.scalars(
                select(Notification.id)
                .where(Notification.lease_owner == owner, Notification.id.in_(ids))
                .order_by(Notification.id)
            )
        )


def claim_one(
    db: Database,
    notification_id: int,
    owner: str,
    now: dt.datetime,
    utility_id: int | None = None,
    application_id: int | None = None,
) -> None:
    """Lease one notification whatever its state (Send again); NotFound, or Busy while a worker has it."""
    q = [Notification.id == notification_id]
    if utility_id is not None:
        q.append(Notification.utility_id == utility_id)
    if application_id is not None:
        q.append(Notification.application_id == application_id)
    with db.transaction() as s:
        done = (
            s.connection()
            .execute(update(Notification).where(*q, _free(now)).values(lease_owner=owner, lease_until=now + LEASE))
            .rowcount
        )
        if not done:
            if s.scalar(select(Notification.id).where(*q)) is None:
                raise NotFound(f"notification {notification_id}")
            raise Busy(notification_id)


def release(db: Database, owner: str) -> None:
    """Give back what `owner` leased and has not tried (a worker stopping)."""
    with db.transaction() as s:
        s.execute(
            update(Notification)
            .where(Notification.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Attempted:
    notification_id: int
    uri: str
    result: NotifyResult
    state: str  # the notification's state after the attempt ("" if it was gone meanwhile)


def deliver(
    db: Database,
    ids: list[int],
    owner: str,
    schedule: Schedule,
    policy: TargetPolicy,
    real: Callable[[], dt.datetime] = real_now,
    timeout: float = NOTIFY_TIMEOUT,
    manual: bool = False,
    pool: Executor | None = None,
    going_on: Callable[[], bool] | None = None,
) -> list[Attempted]:
    """POST notifications this owner has leased, each to its third party's notification URI as it is
    now (together, through `pool`), then record every attempt and move each notification on, in one
    transaction; the leases end. No transaction is open while the POSTs run. Once `going_on()` is
    false (a worker stopping), the POSTs not begun are left, still leased, for the caller to release."""
    with db.sessions() as s:
        rows = s.execute(
            select(Notification.id, Notification.body, Application.notify_uri, Application.status)
            .join(Application, Notification.application_id == Application.id)
            .where(Notification.id.in_(ids), Notification.lease_owner == owner)
            .order_by(Notification.id)
        ).all()

    def post(row) -> tuple[int, str, NotifyResult] | None:
        if going_on is not None and not going_on():
            return None
        n_id, body, uri, status = row
        uri = uri or ""
        if status in SUSPENDED:
            return (
                n_id,
                uri,
                NotifyResult(0, 0, f"not sent: the utility has put this third party {status.replace('_', ' ')}"),
            )
        if not uri:
            return n_id, uri, NotifyResult(0, 0, "no notification URI is registered")
        try:
            target = policy.target(uri)  # resolved once: the POST goes to the addresses checked
        except Refused as exc:
            return n_id, uri, NotifyResult(0, 0, exc.message)
        return n_id, uri, post_notification(target, body.encode("utf-8"), timeout)

    posted = list(pool.map(post, rows)) if pool is not None and len(rows) > 1 else [post(r) for r in rows]
    results = [r for r in posted if r is not None]
    now = real()
    done: list[Attempted] = []
    with db.transaction() as s:
        mine = {
            n.id: n
            for n in s.scalars(
                select(Notification).where(
                    Notification.id.in_([r[0] for r in results]), Notification.lease_owner == owner
                )
            )
        }
        for n_id, uri, result in results:
            n = mine.get(n_id)
            if n is None:  # gone (a reset) or no longer ours: nothing recorded
                done.append(Attempted(n_id, uri, result, ""))
                continue
            s.add(
                DeliveryAttempt(
                    notification_id=n.id,
                    at=now,
                    uri=uri[:500],
                    status=result.status,
                    milliseconds=result.ms,
                    answer=result.body,
                    manual=manual,
                )
            )
            _move_on(n, result, schedule, now)
            done.append(Attempted(n.id, uri, result, n.state))
    return done


def _move_on(n: Notification, result: NotifyResult, schedule: Schedule, now: dt.datetime) -> None:
    """A notification after an attempt: delivered on a 2xx, else tried again later or failed."""
    n.attempts += 1
    if result.ok:
        n.state = DELIVERED
        n.delivered_at = n.delivered_at or now
        n.next_attempt_at = None
    elif n.state == PENDING:
        wait = schedule.delay(n.attempts)
        if wait is None:
            n.state, n.next_attempt_at = FAILED, None
        else:
            n.next_attempt_at = now + dt.timedelta(seconds=wait)
    n.lease_owner = n.lease_until = None


def forwarded(
    db: Database, notification_id: int, target: str, status: int, milliseconds: int, answer: str, now: dt.datetime
) -> None:
    """A delivery made by a listener (`green-button-sandbox listen`) to a receiver the sandbox cannot
    reach, as the listener reports it: kept as an attempt; a 2xx makes the notification delivered.
    NotFound for no such notification."""
    with db.transaction() as s:
        n = s.get(Notification, notification_id)
        if n is None:
            raise NotFound(notification_id)
        s.add(
            DeliveryAttempt(
                notification_id=n.id,
                at=now,
                uri=f"forwarded to {target}"[:500],
                status=status,
                milliseconds=milliseconds,
                answer=answer[:2000],
                manual=True,
            )
        )
        n.attempts += 1
        if 200 <= status < 300:
            n.state, n.next_attempt_at = DELIVERED, None
            n.delivered_at = n.delivered_at or now


def attempt(
    db: Database,
    notification_id: int,
    owner: str,
    schedule: Schedule,
    policy: TargetPolicy,
    real: Callable[[], dt.datetime] = real_now,
    timeout: float = NOTIFY_TIMEOUT,
    manual: bool = False,
) -> Attempted:
    """One leased notification delivered (see `deliver`)."""
    done = deliver(db, [notification_id], owner, schedule, policy, real, timeout, manual)
    return done[0] if done else Attempted(notification_id, "", NotifyResult(0, 0, "the notification is gone"), "")


def send_now(
    db: Database,
    notification_id: int,
    schedule: Schedule,
    policy: TargetPolicy,
    real: Callable[[], dt.datetime] = real_now,
    timeout: float = NOTIFY_TIMEOUT,
    utility_id: int | None = None,
    application_id: int | None = None,
) -> Attempted:
    """Send again: one attempt now, whatever the notification's state (a delivered one is
    delivered again; a failed one answered 2xx becomes delivered). NotFound, or Busy."""
    owner = new_owner("manual")
    claim_one(db, notification_id, owner, real(), utility_id, application_id)
    return attempt(db, notification_id, owner, schedule, policy, real, timeout, manual=True)
