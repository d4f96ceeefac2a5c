"""The counters of the abuse limits (web.limits) in the world's database: a `limits` storage that
every process serving the world shares, so that granian's or gunicorn's workers count one limit
together (`memory://` counts in each process; redis:// and memcached:// need a server of their own).

A counter is one row, raised by one upsert whose answer is the new count: two processes counting at
once each get their own number. Its window ends at `expires` (real time); the first count after that
starts a new window. Only refused or counted attempts (failed sign-ins, failed client authentication,
registrations) reach it, never an ESPI call."""

from __future__ import annotations

import time
from typing import cast

from limits.storage import Storage
from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from sandbox.core.db import Database
from sandbox.core.models import RateCounter

_TABLE = cast(Table, RateCounter.__table__)


class DatabaseCounters(Storage):
    """A `limits` storage over the rate_counter table (SQLite and PostgreSQL)."""

    STORAGE_SCHEME = None  # made with its database, never from a storage URL

    def __init__(self, db: Database):
        super().__init__()
        self.db = db
        self._insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        ended = _TABLE.c.expires <= now
        stmt = (
            self._insert(_TABLE)
            .values(key=key, count=amount, expires=now + expiry)
            .on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={
                    "count": case((ended, amount), else_=_TABLE.c.count + amount),
                    "expires": case((ended, now + expiry), else_=_TABLE.c.expires),
                },
            )
            .returning(_TABLE.c.count)
        )
        with self.db.engine.begin() as c:
            return int(c.execute(stmt).scalar_one())

    def get(self, key: str) -> int:
        with self.db.engine.connect() as c:
            found = c.execute(
                select(_TABLE.c.count).where(_TABLE.c.key == key, _TABLE.c.expires > time.time())
            ).scalar()
        return int(found or 0)

    def get_expiry(self, key: str) -> float:
        with self.db.engine.connect() as c:
            found = c.execute(select(_TABLE.c.expires).where(_TABLE.c.key == key)).scalar()
        return float(found) if found is not None else time.time()

    def check(self) -> bool:
        with self.db.engine.connect() as c:
            c.execute(select(func.count()).select_from(_TABLE))
        return True

    def reset(self) -> int | None:
        with self.db.engine.begin() as c:
            return c.execute(delete(_TABLE)).rowcount

    def clear(self, key: str) -> None:
        with self.db.engine.begin() as c:
            c.execute(delete(_TABLE).where(_TABLE.c.key == key))
