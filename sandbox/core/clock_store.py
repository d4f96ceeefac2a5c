"""The sandbox clock's state in the database: one row per world (ClockState), so that every
request thread, worker process, CLI command and the notification worker agree on "now".

Each change is one UPDATE computed by the database from the row as it is (advance adds to the
stored instant or offset), so two processes moving the clock together both count. A database
without the row (or the table: before the first seed) reads as real time; the first change
makes them.

A read is kept in the process while nothing is committed to the database (core.changes): a request
costs no query for "now", and a change made by any process is seen at the next read.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from sandbox.core.changes import kept
from sandbox.core.clock import MemoryClockStore
from sandbox.core.db import Database
from sandbox.core.models import ClockState

DEFAULT_WORLD = "default"
_T = ClockState
_RUNNING = ClockState.frozen_at.is_(None)


class DatabaseClockStore:
    def __init__(self, db: Database, world: str = DEFAULT_WORLD):
        self.db = db
        self.world = world
        self._read = select(_T.frozen_at, _T.offset_seconds).where(_T.world == world)
        self._kept = kept(db.engine, "clock")

    def read(self) -> tuple[float | None, float]:
        if self.db.joined is not None:  # a rebuild under way in this thread reads what it has written
            return self._read_stored()
        return self._kept.get(self.world, self._read_stored)

    def _read_stored(self) -> tuple[float | None, float]:
        try:
            with self.db.connect() as c:
                row = c.execute(self._read).first()
        except (OperationalError, ProgrammingError):
            if self.db.has_table(ClockState.__tablename__):
                raise  # a database error, not a database never seeded: never a silent "real time"
            return None, 0.0
        return (None, 0.0) if row is None else (row[0], row[1])

    def _change(self, values: dict, op) -> None:
        """UPDATE the row with `values`; if there is none yet, insert the state `op` makes of real time."""
        for attempt in range(3):
            try:
                with self.db.begin() as c:
                    if c.execute(update(_T).where(_T.world == self.world).values(**values)).rowcount:
                        return
                    start = MemoryClockStore()
                    op(start)
                    frozen, offset = start.read()
                    c.execute(insert(_T).values(world=self.world, frozen_at=frozen, offset_seconds=offset))
                    return
            except IntegrityError:  # another process inserted it meanwhile: update that one
                if attempt == 2:
                    raise
            except (OperationalError, ProgrammingError):
                if attempt == 2 or self.db.has_table(ClockState.__tablename__):
                    raise
                cast(Table, ClockState.__table__).create(self.db.engine, checkfirst=True)  # before the first seed

    def freeze(self, at: float | None, real: float) -> None:
        value = (
            literal(at) if at is not None else case((_RUNNING, literal(real) + _T.offset_seconds), else_=_T.frozen_at)
        )
        self._change({"frozen_at": value}, lambda m: m.freeze(at, real))

    def unfreeze(self, real: float) -> None:
        self._change(
            {
                "offset_seconds": case((_RUNNING, _T.offset_seconds), else_=_T.frozen_at - literal(real)),
                "frozen_at": None,
            },
            lambda m: m.unfreeze(real),
        )

    def set(self, at: float, real: float) -> None:
        self._change(
            {
                "frozen_at": case((_RUNNING, None), else_=literal(at)),
                "offset_seconds": case((_RUNNING, literal(at - real)), else_=_T.offset_seconds),
            },
            lambda m: m.set(at, real),
        )

    def advance(self, seconds: float) -> None:
        self._change(
            {
                "frozen_at": _T.frozen_at + literal(seconds),
                "offset_seconds": case((_RUNNING, _T.offset_seconds + literal(seconds)), else_=_T.offset_seconds),
            },
            lambda m: m.advance(seconds),
        )

    def replace(self, frozen: float | None, offset: float) -> None:
        self._change({"frozen_at": frozen, "offset_seconds": offset}, lambda m: m.replace(frozen, offset))
