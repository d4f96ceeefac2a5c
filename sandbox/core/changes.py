"""Has anything been committed to the database since a given look? Values read from the database
(a call's token, the clock) are kept in a process while the answer is no, so that a repeated call
reads nothing, yet a change made by any process (a token revoked, the clock moved, a reset) is seen
at the next call.

The look (`Changes.mark`) is cheap: SQLite's `PRAGMA data_version` on a connection of the process's
own that never writes (it changes whenever any other connection, of this process or another, has
committed); PostgreSQL's current snapshot (`txid_current_snapshot()`: every transaction that
changes a row holds a transaction id, and its start or its end changes the snapshot's text). Not
the WAL insert position: on a deployment of many sandboxes, vacuuming their catalogs and checkpoints
write WAL all day, and every process's kept values were read again at every call.
An in-memory SQLite database or another database gives a new mark every time: nothing is kept.

A request looks once (`Changes.pinned`, around each request: web.app): its later looks return the
same mark, unless this process committed meanwhile (any commit through the engine, or the engine
disposed, takes the look again). Another process's commit is seen at the next request.
"""

from __future__ import annotations

import contextvars
import os
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

V = TypeVar("V")
_LOOK = object()  # pinned, not looked yet: the next mark() looks, for the rest of the block


class Changes:
    """The database's changes as this process sees them (one per engine: `changes_of`).

    Its own connection is closed with the engine's pool (`Engine.dispose`: a SQLite file is then
    whole, its WAL checkpointed; a PostgreSQL database can be dropped) and opened again when next
    asked; marks of two connections never compare equal."""

    def __init__(self, engine: Engine):
        name, path = engine.dialect.name, engine.url.database
        self._engine = weakref.ref(engine)  # not kept alive by its own Changes (_CHANGES is keyed by it)
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: Any = None
        self._opened = 0  # connections opened so far: part of every mark
        self._path: str | None = None
        # SQLite: a thread that finds the shared connection busy looks through one of its own, so that
        # threads never wait on one another to look (a Waitress server's eight threads did, at twice
        # the CPU per call); marks name their connection, and Kept keeps each connection's values apart
        self._local = threading.local()
        self._thread_conns: list[Any] = []
        self._generation = 0
        self._shared_id = 0
        self._ids_lock = threading.Lock()
        # a block's one look (`pinned`): (the commits this process had made, the mark) in its context
        self._pin: contextvars.ContextVar[Any] = contextvars.ContextVar(f"changes-pin-{id(self)}", default=None)
        self._commits = 0  # commits (and disposals) this process made through the engine: a pin older is looked again
        if name == "sqlite" and path and path != ":memory:" and not path.startswith("file::memory:"):
            self._path = path
            self._look = self._sqlite_mark  # type: ignore[method-assign]
        elif name == "postgresql":
            self._look = self._postgres_mark  # type: ignore[method-assign]
        else:
            return
        event.listen(engine, "engine_disposed", self._disposed)
        event.listen(engine, "commit", self._committed)

    def mark(self) -> Hashable:
        """A value equal to an earlier one only if nothing was committed in between (within a pinned
        block: the block's first look, while this process commits nothing)."""
        pin = self._pin.get()
        if pin is None:
            return self._look()
        if pin is not _LOOK and pin[0] == self._commits:
            return pin[1]
        commits = self._commits  # before looking: a commit made while looking is looked at again
        found = self._look()
        self._pin.set((commits, found))
        return found

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """One look for the block (a request), taken when first asked; this process's commits are seen at once."""
        before = self._pin.get()
        self._pin.set(_LOOK)
        try:
            yield
        finally:
            self._pin.set(before)

    def _look(self) -> Hashable:
        return object()

    def _committed(self, _conn: Any) -> None:
        with self._ids_lock:
            self._commits += 1

    def _disposed(self, _engine: Engine) -> None:
        self._committed(None)
        with self._lock:
            self._close()
        with self._ids_lock:
            for conn in self._thread_conns:  # SQLite: every thread's (check_same_thread=False)
                try:
                    conn.close()
                except Exception:  # noqa: BLE001  (already broken: nothing to close)
                    pass
            self._thread_conns = []
            self._generation += 1

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():  # a forked child leaves its parent's alone
            try:
                conn.close()
            except Exception:  # noqa: BLE001  (already broken: nothing to close)
                pass

    def _sqlite_mark(self) -> Hashable:
        """(connection id, data_version): through the process's shared connection when it is free,
        else through the thread's own (threads of a Waitress server never wait on one another)."""
        if self._lock.acquire(blocking=False):
            try:
                if self._conn is None or self._pid != os.getpid():
                    self._conn = self._sqlite_connect()
                    self._pid = os.getpid()
                    self._shared_id = self._next_id()
                return self._shared_id, self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                self._close()
                return object()
            finally:
                self._lock.release()
        local = self._local
        try:
            if getattr(local, "conn", None) is None or local.pid != os.getpid() or local.generation != self._generation:
                conn = self._sqlite_connect()
                with self._ids_lock:  # never the shared look's lock: that one may be busy
                    self._thread_conns.append(conn)
                local.conn, local.pid, local.generation, local.id = conn, os.getpid(), self._generation, self._next_id()
            return local.id, local.conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            local.conn = None
            return object()

    def _sqlite_connect(self) -> sqlite3.Connection:
        # it never writes, so every commit anyone makes changes its data_version; rw: never creates
        # the file (no database yet: an error, and nothing is kept)
        uri = Path(str(self._path)).absolute().as_uri() + "?mode=rw"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    def _next_id(self) -> int:
        with self._ids_lock:
            self._opened += 1
            return self._opened

    def _postgres_mark(self) -> Hashable:
        engine = self._engine()
        if engine is None:
            return object()
        with self._lock:
            try:
                if self._conn is None or self._pid != os.getpid():
                    self._conn = None
                    pooled = engine.raw_connection()
                    pooled.detach()  # the process's own, never returned to the pool
                    self._conn = pooled.dbapi_connection
                    self._conn.autocommit = True
                    self._pid, self._opened = os.getpid(), self._opened + 1
                cur = self._conn.cursor()
                cur.execute("SELECT txid_current_snapshot()::text")
                return self._opened, cur.fetchone()[0]
            except Exception:  # noqa: BLE001  (a dropped connection, a standby: nothing is kept this time)
                self._close()
                return object()


_CHANGES: weakref.WeakKeyDictionary[Engine, Changes] = weakref.WeakKeyDictionary()
_CHANGES_LOCK = threading.RLock()


def changes_of(engine: Engine) -> Changes:
    """The one Changes of an engine in this process."""
    found = _CHANGES.get(engine)
    if found is None:
        with _CHANGES_LOCK:
            found = _CHANGES.get(engine)
            if found is None:
                found = _CHANGES[engine] = Changes(engine)
    return found


_MISSING = object()


class Kept:
    """Values read from one database, kept while nothing is committed to it (at most `size` at a
    time: a flood of unknown keys empties it rather than growing it).

    A value is kept under the mark looked at before it was read, so a commit made while it was
    being read is a change at the next look: a value is never newer-labelled than it is."""

    def __init__(self, engine: Engine, size: int = 10_000):
        self._changes = changes_of(engine)
        self._size = size
        self._states: dict[Hashable, tuple[Hashable, dict]] = {}  # by connection: (its mark, values)

    def get(self, key: Hashable, read: Callable[[], V]) -> V:
        mark = self._changes.mark()
        if not isinstance(mark, tuple):  # no way to tell a change: nothing is kept
            return read()
        conn, version = mark
        state = self._states.get(conn)
        if state is None or state[0] != version:
            if len(self._states) > 64:  # connections of a disposed engine, of ended threads
                self._states = {}
            values: dict = {}
            self._states[conn] = (version, values)
        else:
            values = state[1]
        found = values.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = read()
        if len(values) >= self._size:
            values.clear()
        values[key] = value
        return value


_KEPT: weakref.WeakKeyDictionary[Engine, dict[str, Kept]] = weakref.WeakKeyDictionary()


def kept(engine: Engine, name: str, size: int = 10_000) -> Kept:
    """The process's Kept values called `name` of one database (each reader has its own; `size` is
    the first asker's)."""
    of_engine = _KEPT.get(engine)
    if of_engine is None:
        with _CHANGES_LOCK:
            of_engine = _KEPT.setdefault(engine, {})
    found = of_engine.get(name)
    if found is None:
        with _CHANGES_LOCK:
            found = of_engine.setdefault(name, Kept(engine, size))
    return found


def kept_of(s: Session, name: str, size: int = 10_000) -> Kept:
    """`kept` for the database a session reads."""
    bind = s.get_bind()
    return kept(bind if isinstance(bind, Engine) else bind.engine, name, size)
