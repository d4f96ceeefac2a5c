"""The request log: every call to a utility's ESPI API (the resource server and the registration
API) with its time, method, path, token kind, status and refusal reason, so that a third party
sees what its client really sent and why it was refused (the developer portal and the control
API show it). Each utility keeps its latest KEEP calls; older ones are dropped as new ones come.
Calls are written in batches off the request (`Writer`).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from sandbox.core.clock import iso_z, to_naive_utc
from sandbox.core.db import Database
from sandbox.core.models import Application, RequestRecord

KEEP = 5000  # calls kept per utility
# a utility's older calls are dropped once this many more were written (not at every batch: finding the
# KEEP-th newest cost the writer as much as the insert); a reader drops them first, so it sees KEEP at most
PRUNE_EVERY = 1000


@dataclass(frozen=True)
class Call:
    at: dt.datetime
    method: str
    path: str
    token_kind: str | None
    status: int
    reason: str | None
    client_id: str | None
    milliseconds: float

    def as_json(self) -> dict:
        return {
            "at": iso_z(self.at),
            "method": self.method,
            "path": self.path,
            "token_kind": self.token_kind,
            "status": self.status,
            "reason": self.reason,
            "client_id": self.client_id,
            "milliseconds": round(self.milliseconds, 1),
        }


class Writer:
    """The calls of one process, written in batches by a thread of its own: keeping a call costs
    the request nothing but a list append (a write per call would double a small GET's cost).
    A batch is written every INTERVAL seconds, or at once when MAX_BATCH calls wait; `flush()`
    writes what waits now (the readers below call it, so a process sees its own calls at once;
    another process's appear within INTERVAL)."""

    INTERVAL = 0.2
    MAX_BATCH = 500

    def __init__(self, db: Database):
        self.db = db
        self._pending: list[dict] = []
        self._lock = threading.Lock()  # guards _pending and _running
        self._writing = threading.Lock()  # one batch written at a time, in order
        self._wake = threading.Event()
        self._running = False
        self._unpruned: dict[int, int] = {}  # by utility: calls written since its older ones were last dropped
        _WRITERS.add(self)
        db.log_ready()

    def add(self, row: dict) -> None:
        with self._lock:
            self._pending.append(row)
            full = len(self._pending) >= self.MAX_BATCH
            if not self._running:  # the thread runs while there are calls to write (and in a forked worker anew)
                self._running = True
                threading.Thread(target=self._run, name="request-log", daemon=True).start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.INTERVAL)
            self._wake.clear()
            try:
                self.flush()
            except SQLAlchemyError as exc:  # a world being reset: these calls are dropped, later ones kept
                logging.getLogger(__name__).warning("request log: %s", exc)
            with self._lock:
                if not self._pending:
                    self._running = False
                    return

    def flush(self, reading: bool = False) -> None:
        """Write the calls waiting now; a utility's older calls are dropped when PRUNE_EVERY were written
        since the last time, and every utility's when `reading` (a reader sees at most KEEP)."""
        with self._writing:
            with self._lock:
                rows, self._pending = self._pending, []
            unpruned = self._unpruned
            for r in rows:
                unpruned[r["utility_id"]] = unpruned.get(r["utility_id"], 0) + 1
            due = None if reading else {u for u, n in unpruned.items() if n >= PRUNE_EVERY}
            if rows or reading:
                _write(self.db, rows, due)
                for u in list(unpruned) if due is None else due:
                    del unpruned[u]

    def discard(self) -> None:
        """Forget the calls not written yet (the world they belong to is being replaced)."""
        with self._writing, self._lock:
            self._pending = []

    def _after_fork(self) -> None:
        """A forked child starts with no thread and its own locks; the parent writes what it had."""
        self._lock, self._writing, self._wake = threading.Lock(), threading.Lock(), threading.Event()
        self._pending, self._running, self._unpruned = [], False, {}


_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def flush_all() -> None:
    """Calls still waiting when the process ends are written (a server stopped cleanly loses none;
    a worker process, which ends without exit handlers, calls this itself)."""
    for writer in list(_WRITERS):
        try:
            writer.flush()
        except SQLAlchemyError:
            pass


def _write(db: Database, rows: list[dict], prune: set[int] | None) -> None:
    """Insert `rows`, then keep the latest KEEP calls of the utilities in `prune` (None: of every one)."""
    with db.log_engine.begin() as c:
        if rows:
            c.execute(insert(RequestRecord), rows)
        if prune is None:
            prune = set(c.execute(select(RequestRecord.utility_id).distinct()).scalars())
        for utility_id in prune:
            oldest = c.execute(
                select(RequestRecord.id)
                .where(RequestRecord.utility_id == utility_id)
                .order_by(RequestRecord.id.desc())
                .offset(KEEP)
                .limit(1)
            ).scalar()
            if oldest is not None:
                c.execute(
                    delete(RequestRecord).where(RequestRecord.utility_id == utility_id, RequestRecord.id <= oldest)
                )


def record(
    writer: Writer,
    utility_id: int,
    application_id: int | None,
    at: dt.datetime,
    method: str,
    path: str,
    token_kind: str | None,
    status: int,
    reason: str | None,
    milliseconds: float,
) -> None:
    """Keep one call (written with the next batch). A NUL in a refused call's path is kept as it was
    sent (%00): PostgreSQL stores no NUL, and one would lose the whole batch."""
    writer.add(
        {
            "utility_id": utility_id,
            "application_id": application_id,
            "at": to_naive_utc(at),
            "method": method[:8],
            "path": path.replace("\x00", "%00")[:500],
            "token_kind": token_kind,
            "status": status,
            "reason": reason[:64] if reason else None,
            "milliseconds": milliseconds,
            "answered": time.time(),
        }
    )


_SETTLE = 0.0  # seconds a reader waits for the batches of other processes (several_processes())


def several_processes() -> None:
    """This process is one of several serving the world (granian's or gunicorn's workers): a reader
    of the log first waits one batch interval, and a little more, so that the calls the other
    processes answered before the read began are written and shown."""
    global _SETTLE
    _SETTLE = Writer.INTERVAL + 0.1


def recent(
    writer: Writer,
    utility_id: int | None = None,
    application_id: int | None = None,
    client_id: str | None = None,
    limit: int = 100,
) -> list[Call]:
    """The latest calls, newest first (of one utility, one application or client_id, if given)."""
    if _SETTLE:
        time.sleep(_SETTLE)  # the other processes' batches of calls answered before now
    try:
        writer.flush(reading=True)
    except SQLAlchemyError as exc:  # those calls are lost; the ones written before are still shown
        logging.getLogger(__name__).warning("request log: %s", exc)
    db = writer.db
    q = select(RequestRecord).order_by(RequestRecord.answered.desc(), RequestRecord.id.desc()).limit(limit)
    if utility_id is not None:
        q = q.where(RequestRecord.utility_id == utility_id)
    if application_id is not None:
        q = q.where(RequestRecord.application_id == application_id)
    with db.sessions() as s:  # the applications' client_ids are the world's; the calls may be in a file of their own
        if client_id is not None:
            q = q.where(
                RequestRecord.application_id.in_(
                    list(s.scalars(select(Application.id).where(Application.client_id == client_id)))
                )
            )
        with db.log_engine.connect() as c:
            rows = list(c.execute(q))
        ids = {r.application_id for r in rows} - {None}
        found = s.execute(select(Application.id, Application.client_id).where(Application.id.in_(ids))) if ids else ()
        names = {app_id: name for app_id, name in found}
    return [
        Call(r.at, r.method, r.path, r.token_kind, r.status, r.reason, names.get(r.application_id), r.milliseconds)
        for r in rows
    ]
