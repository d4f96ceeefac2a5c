"""Engine and sessions. Plain SQLAlchemy, so services and tests can use it without Flask."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import JSON, Date, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    kwargs = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
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


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def has_table(self, name: str) -> bool:
        return inspect(self.engine).has_table(name)

    def create_all(self) -> None:
        from . import models  # noqa: F401  (registers the tables)
        Base.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        from . import models  # noqa: F401
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block ends normally, rolled back otherwise."""
        with self.sessions() as session, session.begin():
            yield session


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
        if c in json_cols:
            return json.dumps(v)
        if c in date_cols and v is not None:
            return v.isoformat()
        return v

    sql = f'INSERT INTO {table.name} ({", ".join(cols)}) VALUES ({", ".join([mark] * len(cols))})'
    conn.exec_driver_sql(sql, [tuple(value(r, c) for c in cols) for r in rows])
