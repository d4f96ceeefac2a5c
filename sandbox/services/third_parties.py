"""Third parties as the utility's staff manage them: the status lifecycle (the one way a status
changes, with its history), staff actions (hold, release, block, unblock), and the lists staff
and customers see. Review -> Production is onboarding's (`onboarding.status`)."""

from __future__ import annotations

import datetime as dt
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from sandbox.core.clock import Clock, to_naive_utc
from sandbox.core.db import Database
from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Application, ApplicationStatusChange, Authorization
from sandbox.core.profile import Behaviour
from sandbox.services import tokens
from sandbox.services.access import LISTED, STATUS_LABELS, SUSPENDED, AppStatus, ClientRole
from sandbox.services.authorizations import AuthState
from sandbox.services.signin import STAFF_USERNAME

# action -> (statuses it applies to, new status or None for "the status before"), in the
# order the staff page offers them
STATUS_ACTIONS: dict[str, tuple[tuple[AppStatus, ...], AppStatus | None]] = {
    "hold": ((AppStatus.REVIEW, AppStatus.PRODUCTION), AppStatus.ON_HOLD),
    "release": ((AppStatus.ON_HOLD,), None),
    "unblock": ((AppStatus.BLOCKED,), None),
    "block": ((AppStatus.REVIEW, AppStatus.PRODUCTION, AppStatus.ON_HOLD), AppStatus.BLOCKED),
}
APPROVE = "approve"  # Review -> Production, by onboarding.approve_application (the checklist must be done)
_PAST = {"block": "blocked", "unblock": "unblocked", "hold": "put on hold", "release": "released"}


def set_status(app: Application, new: str, now: dt.datetime, by: str) -> None:
    """The one way an application's status changes: set it and, when `app` belongs to a session,
    record an ApplicationStatusChange (at `now`, by `by`) in that session. Suspending it voids the
    authorization codes it has not exchanged yet: released, it does not get their tokens."""
    s = object_session(app)
    if s is not None and app.id is not None:
        s.add(
            ApplicationStatusChange(
                application_id=app.id,
                old_status=app.status,
                new_status=new,
                changed_at=to_naive_utc(now),
                changed_by=by,
            )
        )
        if new in SUSPENDED:
            tokens.void_codes(s, app.id, now)
    app.status = new


def staff_actions(status: str) -> list[str]:
    """What staff can do to an application in `status`: approve (in Review), then STATUS_ACTIONS."""
    return ([APPROVE] if status == AppStatus.REVIEW else []) + [
        a for a, (allowed, _) in STATUS_ACTIONS.items() if status in allowed
    ]


def status_text(status: str) -> str:
    """An application status as staff read it: the developers' label in lower case."""
    return STATUS_LABELS.get(AppStatus(status), status).lower()


def _previous_status(s: Session, app: Application, suspended: str) -> str:
    """The status the application had before it was put in `suspended` (review if unrecorded)."""
    last = s.scalars(
        select(ApplicationStatusChange)
        .where(ApplicationStatusChange.application_id == app.id)
        .order_by(ApplicationStatusChange.id.desc())
    ).first()
    recorded = last is not None and last.new_status == suspended and last.old_status != suspended
    return last.old_status if recorded and last is not None else AppStatus.REVIEW


def set_application_status(
    db: Database, clock: Clock, utility_id: int, application_id: int, action: str, by: str = STAFF_USERNAME
) -> Application:
    """Staff actions on a third party: block or put on hold (access suspended), and unblock or
    release, which restore the status it had before."""
    allowed, target = STATUS_ACTIONS[action]
    with db.transaction() as s:
        app = s.get(Application, application_id)
        if app is None or app.utility_id != utility_id or app.role != ClientRole.THIRD_PARTY:
            raise NotFound(application_id)  # the utility's own upload and admin clients are not third parties
        if app.status not in allowed:
            if app.status == target:
                raise Refused(f"{app.name} is already {_PAST[action]}.", "application")
            raise Refused(f"{app.name} is {status_text(app.status)}: it cannot be {_PAST[action]}.", "application")
        set_status(app, target or _previous_status(s, app, app.status), clock.naive_now(), by)
        return app


def set_status_to(
    db: Database, clock: Clock, utility_id: int, application_id: int, target: str, by: str
) -> Application:
    """Put a third party in `target` status (an AppStatus) at once, as the control API does: block
    and hold as staff do; Production and Review directly (a test needs no onboarding). Recorded as
    every status change is; Refused if it is in that status already."""
    status = AppStatus(target)
    with db.transaction() as s:
        app = s.get(Application, application_id)
        if app is None or app.utility_id != utility_id or app.role != ClientRole.THIRD_PARTY:
            raise NotFound(application_id)
        if app.status == status:
            raise Refused(f"{app.name} is {status_text(app.status)} already.", "status")
        set_status(app, status, clock.naive_now(), by)
        return app


def set_application_blocked(
    db: Database, clock: Clock, utility_id: int, application_id: int, blocked: bool, by: str = STAFF_USERNAME
) -> Application:
    """Block a third party (its status becomes 'blocked'), or unblock it back to the status it had."""
    return set_application_status(db, clock, utility_id, application_id, "block" if blocked else "unblock", by)


def applications(db: Database, utility_id: int) -> list[tuple[Application, int]]:
    """The utility's third parties with their number of active authorizations."""
    with db.sessions() as s:
        apps = s.scalars(
            select(Application)
            .where(Application.utility_id == utility_id, Application.role == ClientRole.THIRD_PARTY)
            .order_by(Application.name, Application.id)
        ).all()
        counts = dict(
            s.execute(
                select(Authorization.application_id, func.count(Authorization.id))
                .where(Authorization.utility_id == utility_id, Authorization.status == AuthState.ACTIVE)
                .group_by(Authorization.application_id)
            ).all()
        )
        return [(a, counts.get(a.id, 0)) for a in apps]


def directory(db: Database, utility_id: int) -> list[Application]:
    """Third parties the utility has onboarded and customers may choose (status production)."""
    with db.sessions() as s:
        return list(
            s.scalars(
                select(Application)
                .where(
                    Application.utility_id == utility_id,
                    Application.role == ClientRole.THIRD_PARTY,
                    Application.status.in_(LISTED),
                )
                .order_by(Application.name)
            )
        )


def choose_profile(app: Application, name: str | None, profiles: Mapping[str, Behaviour]) -> str | None:
    """Give an application a behaviour profile by name (None or "": its utility's again), in the
    caller's transaction; Refused naming the profiles there are."""
    chosen = (name or "").strip() or None
    if chosen is not None and chosen not in profiles:
        raise Refused(
            f"profile: no behaviour profile {chosen!r}; use one of {', '.join(sorted(profiles))} "
            "(or null for the utility's own)"
        )
    app.profile = chosen
    return chosen


def name_of(db: Database, utility_id: int, client_id: str) -> str | None:
    """The name of the utility's third-party application with that client_id, if there is one."""
    with db.sessions() as s:
        return s.scalar(
            select(Application.name).where(
                Application.utility_id == utility_id,
                Application.client_id == client_id,
                Application.role == ClientRole.THIRD_PARTY,
            )
        )
