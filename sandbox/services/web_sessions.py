"""Sign-ins kept on the server (core.models.WebSession): begun at sign-in, looked up by their key
on each request that relies on one, ended at sign-out.

The browser keeps only the random key (in Flask's signed cookie); the table keeps its digest. So
a cookie copied before a sign-out names a row that is gone, and a reset of the world (which drops
every table) ends every sign-in. A sign-in lives at most `lifetime` (real time): the rows of those
never signed out are deleted at a later sign-in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from sandbox.core import secrets
from sandbox.core.db import Database
from sandbox.core.models import WebSession


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def begin(
    db: Database, utility_id: int, role: str, subject: object, lifetime: dt.timedelta, replaces: str | None = None
) -> str:
    """A new sign-in of `subject` (a customer's or developer's id, the staff login) as `role`: its
    key, for the cookie. One transaction, which also ends the sign-in it `replaces` (the key the
    cookie held) and deletes the sign-ins older than `lifetime`."""
    key = secrets.new_token()
    now = _now()
    with db.transaction() as s:
        s.execute(delete(WebSession).where(WebSession.signed_in_at < now - lifetime))
        if replaces is not None:
            s.execute(delete(WebSession).where(WebSession.key_digest == secrets.digest(replaces)))
        s.add(
            WebSession(
                key_digest=secrets.digest(key), utility_id=utility_id, role=role, subject=str(subject), signed_in_at=now
            )
        )
    return key


def subject(s: Session, key: str, utility_id: int, role: str, lifetime: dt.timedelta) -> str | None:
    """Who the sign-in of `key` is (as begun), if it is one of `role` at this utility that has not
    ended or outlived `lifetime`; None otherwise. One primary-key lookup."""
    row = s.get(WebSession, secrets.digest(key))
    if row is None or row.utility_id != utility_id or row.role != role or row.signed_in_at < _now() - lifetime:
        return None
    return row.subject


def end(db: Database, key: str) -> None:
    """End the sign-in of `key` (nothing happens if it has ended already)."""
    with db.transaction() as s:
        s.execute(delete(WebSession).where(WebSession.key_digest == secrets.digest(key)))
