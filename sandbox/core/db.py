"""Engine and sessions. Plain SQLAlchemy, so services and tests can use it without Flask."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from sqlalchemy import JSON, Date, Integer, Table, create_engine, delete, event, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from sandbox.core import models
from sandbox.core.errors import NotFound
from sandbox.core.errors import SchemaError as SchemaError  # its old home: importers keep it
from sandbox.core.models import SCHEMA_TABLE, Base

try:
    import fcntl
except ImportError:  # Windows: rebuilds of one process take turns, as with an in-memory database
    fcntl = None  # type: ignore[assignment]

# The schema's version: raise it whenever a table or column changes. A database made at another
# version is refused with a message to rebuild it (--reset), never reused silently.
SCHEMA_VERSION = (
    11  # 3: Application.role and its further registration metadata; 4: the clock_state table; 5: request_record;
)
# 6: notifications (publication_mark, notification, delivery_attempt); 7: Application.faults, Authorization.faults;
# 8: Application.profile, Customer.data_quality, Authorization.pending_calls; 9: keyed digests of client secrets and
# registration tokens, server-side web sessions; 10: rate_counter, RequestRecord.answered; 11: conformance_run


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine of `url`; `pool_size` bounds a server database's pool (a private sandbox's: many of them
    share one PostgreSQL server's connections), twice that with the overflow."""
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# the PostgreSQL advisory lock that rebuilding a world holds (any fixed number no other code uses)
REBUILD_LOCK = 0x6762_7362  # "gbsb"
_in_memory_rebuild = threading.Lock()


def own_log_file(engine: Engine) -> str | None:
    """The file of a SQLite world's request log, beside the world's own (None: the log is a table of
    the world's database, as on PostgreSQL or in memory).

    A file of its own because SQLite tells a reader that another connection committed (PRAGMA
    data_version, which core.changes keys every kept value on) per database file: the log's batch
    written by one worker would otherwise make every other worker read its tokens and clock again."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return f"{path}.request-log"


class Database:
    def __init__(self, url: str, pool_size: int | None = None):
        self.url = url
        self.engine = make_engine(url, pool_size)
        log_file = own_log_file(self.engine)
        # the request log's engine: a file of its own for a SQLite world (own_log_file), else the world's
        self.log_engine = make_engine(f"sqlite:///{log_file}") if log_file else self.engine
        log_table: Table = models.RequestRecord.__table__  # type: ignore[assignment]
        # the tables of the world's own database, parents first (the request log's aside when it has a file)
        self.tables = [t for t in Base.metadata.sorted_tables if not (log_file and t is log_table)]
        self._log_tables = [log_table] if log_file else []
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._rebuild_held = threading.local()
        self._joined = threading.local()  # .conn: the connection of this thread's one_transaction()
        self.sessions: Callable[[], Session] = self._session  # one object: callers may compare it
        self.quotas: object | None = None  # a private sandbox's (services.quotas), in every session's info
        # called after a commit that enqueued notifications (services.notifications.outbox), or started a
        # conformance run (services.conformance), if set: the world has something for its worker to do
        self.on_notifications: Callable[[], None] | None = None

    def _session(self) -> Session:
        """A new session: on the engine, or inside this thread's one_transaction() on its connection,
        whose transaction its commits then leave open (and its rollbacks end)."""
        conn = self.joined
        made = self._sessions() if conn is None else self._sessions(bind=conn, join_transaction_mode="rollback_only")
        if self.quotas is not None:
            made.info["quotas"] = self.quotas
        if self.on_notifications is not None:
            made.info["on_notifications"] = self.on_notifications
        return made

    @property
    def joined(self) -> Connection | None:
        """The connection of this thread's one_transaction(), if one is open."""
        return getattr(self._joined, "conn", None)

    @contextmanager
    def one_transaction(self) -> Iterator[Connection]:
        """Everything this thread does through sessions(), transaction(), connect() and begin() while
        inside is one transaction on one connection, committed at the end (rolled back on an error):
        other connections, in this process or another, see all of it or none of it. Entered again, it
        joins the open one."""
        conn = self.joined
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            self._joined.conn = conn
            try:
                with conn.begin():
                    yield conn
            finally:
                self._joined.conn = None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to read with: the engine's, or this thread's one_transaction()'s."""
        conn = self.joined
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction committed when the block ends: the engine's own, or this
        thread's one_transaction()'s (committed with it)."""
        conn = self.joined
        if conn is not None:
            with conn.begin_nested() if self.engine.dialect.name == "postgresql" else _nothing():
                yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Held while the world's tables are dropped and made again, so that rebuilds by several
        processes (a control-API reset in each worker, `flask reset`) take turns: PostgreSQL's session
        advisory lock on a connection of its own; for SQLite a lock on a file beside the database (a
        write transaction cannot serve, as the rebuild's own writes would wait for it). A thread that
        holds it may enter again (a reset reads the kept seed files, then seeds)."""
        if getattr(self._rebuild_held, "depth", 0):
            yield
            return
        self._rebuild_held.depth = 1
        try:
            with self._rebuild_lock():
                yield
        finally:
            self._rebuild_held.depth = 0

    @contextmanager
    def _rebuild_lock(self) -> Iterator[None]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                # one lock a world: the schema the connection works in (a private sandbox's is its own)
                key = {"k": REBUILD_LOCK, "world": conn.execute(text("SELECT current_schema()")).scalar() or ""}
                conn.execute(text("SELECT pg_advisory_lock(:k, hashtext(:world))"), key)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k, hashtext(:world))"), key)
                    conn.commit()
            return
        path = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not path or path == ":memory:" or fcntl is None:
            with _in_memory_rebuild:
                yield
            return
        with open(f"{path}.rebuild-lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def dispose(self) -> None:
        """Close every pooled connection (the request log's too): before a fork, and to leave a SQLite
        file whole (its WAL checkpointed)."""
        self.engine.dispose()
        if self.log_engine is not self.engine:
            self.log_engine.dispose()

    def has_table(self, name: str) -> bool:
        if self.engine.dialect.name == "postgresql":  # by name, through pg_class's index
            with self.connect() as c:
                return c.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": name}) is True
        return name in self.table_names()

    def table_names(self) -> set[str]:
        """The tables of the world's schema (on PostgreSQL: those of the world's tables that are there,
        looked up by name in one query), read on this thread's one_transaction() if one is open. Neither
        an Inspector (milliseconds of Python a reset repeats) nor a scan of pg_class (a deployment's
        database may hold a thousand sandboxes' tables)."""
        with self.connect() as c:
            if c.dialect.name != "postgresql":
                return set(c.dialect.get_table_names(c))
            names = list(Base.metadata.tables)
            looks = ", ".join(f"to_regclass(:t{i}) IS NOT NULL" for i in range(len(names)))
            found = c.execute(text(f"SELECT {looks}"), {f"t{i}": n for i, n in enumerate(names)}).one()
            return {n for n, there in zip(names, found) if there}

    def create_all(self, checkfirst: bool = True) -> None:
        """The schema's tables (those missing, or all without looking when `checkfirst` is False), at SCHEMA_VERSION."""
        Base.metadata.create_all(self.engine, tables=self.tables, checkfirst=checkfirst)
        self.log_ready(empty=True)
        with self.transaction() as s:
            s.execute(delete(models.SchemaVersion))
            s.add(models.SchemaVersion(version=SCHEMA_VERSION))

    def log_ready(self, empty: bool = False) -> None:
        """The request log's table in its own file, as this schema makes it (a file made by another
        version is made again), emptied if `empty`. Nothing to do when the log is a table of the world's."""
        if not self._log_tables:
            return
        with self.log_engine.begin() as c:
            if c.exec_driver_sql("PRAGMA user_version").scalar() != SCHEMA_VERSION:
                Base.metadata.drop_all(c, tables=self._log_tables)
                c.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            Base.metadata.create_all(c, tables=self._log_tables)
            if empty:
                for table in self._log_tables:
                    c.execute(table.delete())

    def clear_all(self, keep: Callable[[], frozenset[str]] = frozenset) -> frozenset[str]:
        """Every table of the schema, empty, at SCHEMA_VERSION. A database at that version keeps its
        tables and loses their rows in one transaction (the DDL of dropping and making them again
        cost more than the rest of a reset); ids start again at 1, as in new tables. Any other
        database is dropped and made again (one that holds none of the tables, as a new one, only made).
        PostgreSQL deletes rows rather than truncating: a world's tables are small, and TRUNCATE makes
        every table's files anew (two dozen tables: 60 ms of a 150 ms reset); its sequences restart
        in the same round trip. The tables `keep()` names, asked only of a database at SCHEMA_VERSION,
        keep their rows (their sequences move past them); the tables kept."""
        found = self.schema_version()
        if found != SCHEMA_VERSION:
            if found is not None:
                self.drop_all()
            self.create_all(checkfirst=found is not None)
            return frozenset()
        kept = keep()
        tables = self.tables
        self.log_ready(empty=True)
        with self.transaction() as s:
            if self.engine.dialect.name == "postgresql":
                quote = self.engine.dialect.identifier_preparer.format_table
                # writers wait for the reset (readers go on seeing the world replaced until it commits), so
                # that no row another process writes meanwhile outlives it
                statements = [f"LOCK TABLE {', '.join(quote(t) for t in tables)} IN EXCLUSIVE MODE"]
                statements += [f"DELETE FROM {quote(t)}" for t in reversed(tables) if t.name not in kept]
                statements += [  # each table's own sequence, found by name: next value 1, or past what is kept
                    f"SELECT setval(pg_get_serial_sequence('{quote(t)}', 'id'), "
                    + (f"(SELECT coalesce(max(id), 0) + 1 FROM {quote(t)})" if t.name in kept else "1")
                    + ", false)"
                    for t in tables
                    if "id" in t.c and t.c.id.primary_key and isinstance(t.c.id.type, Integer)
                ]
                s.connection().exec_driver_sql("; ".join(statements))
            else:  # SQLite gives a rowid key max + 1: 1 again in an emptied table
                for table in reversed(tables):
                    if table.name not in kept:
                        s.execute(table.delete())
            s.add(models.SchemaVersion(version=SCHEMA_VERSION))
        return kept

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine, tables=self.tables)
        if self._log_tables:
            Base.metadata.drop_all(self.log_engine, tables=self._log_tables)

    def schema_version(self) -> int | None:
        """The version the database's tables were made at: None for an empty database, 0 for
        one made before versions were kept."""

        names = self.table_names()
        if not names & set(Base.metadata.tables):
            return None
        if SCHEMA_TABLE not in names:
            return 0
        with self.sessions() as s:
            return s.scalar(select(func.max(models.SchemaVersion.version))) or 0

    def schema_problem(self) -> str | None:
        """Why the database cannot be used as it is (made at another schema version), or None
        for an empty one or one at SCHEMA_VERSION."""
        found = self.schema_version()
        if found is None or found == SCHEMA_VERSION:
            return None
        made = "an older" if found < SCHEMA_VERSION else "a newer"
        return (
            f"the database {self.engine.url.render_as_string(hide_password=True)} was made by {made} "
            f"version of the sandbox (schema {found}; this version uses schema {SCHEMA_VERSION}). "
            "Start with --reset to rebuild it from the seed (its data is replaced), or use another --database."
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block ends normally, rolled back otherwise."""
        with self.sessions() as session, session.begin():
            yield session


T = TypeVar("T")


def fetch(session: Session, model: type[T], ident: object) -> T:
    """The row of `model` with primary key `ident`, or NotFound."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{model.__name__} {ident}")
    return row


def bulk_insert(session: Session, table, rows: list[dict]) -> None:
    """executemany straight through the driver: seeding 100,000 customers cannot afford per-row
    parameter processing. Values are plain str/int/date/bool; JSON columns are encoded here."""
    if not rows:
        return
    conn = session.connection()
    cols = list(rows[0])
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    # SQLite stores dates as ISO text, as SQLAlchemy's Date type would
    date_cols = {c.name for c in table.columns if isinstance(c.type, Date)} if conn.dialect.name == "sqlite" else set()

    def value(r, c):
        v = r[c]
        if c in json_cols and v is not None:  # None: SQL NULL, as a column left out would be
            return json.dumps(v)
        if c in date_cols and v is not None:
            return v.isoformat()
        return v

    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    conn.exec_driver_sql(sql, [tuple(value(r, c) for c in cols) for r in rows])
