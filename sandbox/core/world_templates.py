"""Seeded people kept as templates: a world's utilities, customers and usage points are made once
per (seed, customer count, seed files, schema and generator code) and copied thereafter.

Seeding is deterministic, but generating customers and hashing the published passwords (scrypt) cost
about a second a world; a copy of the rows costs milliseconds. A template is a small SQLite file in a
cache folder (WORLD_CACHE; "off" keeps none), written whole and moved into place, so several processes
may make and read them at once; a file that cannot be read or written is passed over, never an error.
What depends on the time or on the world's random keys (applications, the identities' moves, the
world's state) is made afresh after each copy.

On PostgreSQL a template is also kept as a schema of the same database (`sbtpl_<key>`), copied by the
server (INSERT ... SELECT) in one round trip: a private sandbox's making cannot afford the rows'
journey through the driver."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Table, create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from sandbox.core.config import PACKAGE
from sandbox.core.db import SCHEMA_VERSION, Database, bulk_insert
from sandbox.core.models import Base, Customer, UsagePoint, Utility

# the tables a template holds, parents first
TABLES: tuple[Table, ...] = (Utility.__table__, Customer.__table__, UsagePoint.__table__)  # type: ignore[assignment]
# the sources whose change may change the people made from the same seed files
GENERATOR_CODE = (
    "synth",
    "espi/uuids.py",
    "core/models.py",
    "core/db.py",
    "services/world.py",
    "core/world_templates.py",
)
OFF = "off"
PG_PREFIX = "sbtpl_"  # + the template's key: a PostgreSQL schema holding its rows
PG_MAKING = "sbtplmk_"  # + random: one being made, renamed when whole


def default_folder() -> Path:
    """The user's cache folder for the sandbox (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "green-button-sandbox" / "worlds"


@lru_cache(maxsize=1)
def generator_digest() -> str:
    """A digest of the code that turns seed files into people (read once a process)."""
    h = hashlib.sha256()
    for name in GENERATOR_CODE:
        path = PACKAGE / name
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def template_key(files: dict[str, str], seed: int, customers: int | None) -> str:
    """What names a template: everything the seeded people depend on."""
    h = hashlib.sha256(
        json.dumps(
            {"schema": SCHEMA_VERSION, "seed": seed, "customers": customers, "files": files}, sort_keys=True
        ).encode()
    )
    h.update(generator_digest().encode())
    return h.hexdigest()[:40]


class WorldTemplates:
    """The templates of one cache folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._engines: dict[Path, Engine] = {}
        self._lock = threading.Lock()

    @classmethod
    def configured(cls, setting: str | None) -> "WorldTemplates | None":
        """The WORLD_CACHE setting's store: a folder, None for the user's cache folder, "off" for none."""
        if setting is not None and setting.strip().lower() == OFF:
            return None
        return cls(Path(setting) if setting else default_folder())

    def path(self, key: str) -> Path:
        return self.folder / f"world-{key}.sqlite"

    def _engine(self, path: Path) -> Engine:
        with self._lock:
            engine = self._engines.get(path)
            if engine is None:
                engine = self._engines[path] = create_engine(f"sqlite:///{path}", poolclass=NullPool)
            return engine

    def restore(self, db: Database, key: str) -> bool:
        """Insert the template's rows (ids included) into `db`, in one transaction; False, and nothing
        inserted, if there is no usable template. SQLite copies them as stored (ATTACH, INSERT ...
        SELECT), unless the copy is part of a larger transaction (Database.one_transaction: ATTACH
        cannot run inside one); otherwise they go through the driver in bulk."""
        sqlite = db.engine.dialect.name == "sqlite"
        if not sqlite and _copy_schema(db, key):
            return True
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            if sqlite and db.joined is None:
                _copy_attached(db.engine, path)
                return True
            with self._engine(path).connect() as src:
                tables = [
                    (t, [dict(r._mapping) for r in src.execute(select(t).order_by(*t.primary_key.columns))])
                    for t in TABLES
                ]
        except SQLAlchemyError:  # unreadable (damaged, copied by hand): removed, to be made again
            path.unlink(missing_ok=True)
            return False
        with db.transaction() as s:
            for table, rows in tables:
                bulk_insert(s, table, rows)
            # ids were given explicitly: move PostgreSQL's sequences past them
            for table in TABLES if not sqlite else ():
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
                    )
                )
            if not sqlite:  # the next copy is the server's
                _keep_schema(s, key)
        return True

    def unchanged(self, db: Database, key: str) -> frozenset[str]:
        """The template's tables whose rows the world holds as they are (all of them or none): compared by
        PostgreSQL, row by row, so that a reset keeps them rather than deleting and copying them again.
        Nothing on SQLite, or without the template's schema."""
        if db.engine.dialect.name != "postgresql":
            return frozenset()
        schema = _schema(key)
        with db.connect() as c:
            if c.scalar(text("SELECT to_regnamespace(:s)"), {"s": schema}) is None:
                return frozenset()
            quote = c.dialect.identifier_preparer.quote
            differ = []
            for table in TABLES:
                mine, kept = quote(table.name), f"{quote(schema)}.{quote(table.name)}"
                differ.append(f"(SELECT x::text FROM {mine} x EXCEPT ALL SELECT x::text FROM {kept} x)")
                differ.append(f"(SELECT x::text FROM {kept} x EXCEPT ALL SELECT x::text FROM {mine} x)")
            if c.scalar(text("SELECT EXISTS (" + " UNION ALL ".join(differ) + ")")):
                return frozenset()
        return frozenset(t.name for t in TABLES)

    def save(self, s: Session, key: str) -> None:
        """Keep the people `s` sees as the template `key` (the first process to finish one wins); on
        PostgreSQL as a schema of the database too."""
        if s.get_bind().dialect.name == "postgresql":
            _keep_schema(s, key)
        path = self.path(key)
        if path.is_file():
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".world-", suffix=".part")
            os.close(fd)
        except OSError:
            return
        engine = create_engine(f"sqlite:///{tmp}", poolclass=NullPool)
        try:
            Base.metadata.create_all(engine, tables=list(TABLES))
            with Session(engine) as dst, dst.begin():
                for table in TABLES:  # stored as seeding stores them (bulk_insert), so SQLite can copy them as they are
                    bulk_insert(
                        dst,
                        table,
                        [dict(r._mapping) for r in s.execute(select(table).order_by(*table.primary_key.columns))],
                    )
            engine.dispose()
            os.replace(tmp, path)
        except (OSError, SQLAlchemyError):
            pass
        finally:
            engine.dispose()
            if os.path.exists(tmp):
                os.unlink(tmp)

    def clear(self) -> int:
        """Remove every template of the folder; how many there were."""
        gone = 0
        for f in self.folder.glob("world-*.sqlite"):
            f.unlink(missing_ok=True)
            gone += 1
        return gone


def _copy_attached(engine: Engine, path: Path) -> None:
    """The template's rows into a SQLite database by SQL alone, on a connection of its own: ATTACH and
    DETACH cannot run inside a transaction, the copy is one."""
    with engine.connect() as conn:
        conn.exec_driver_sql("ATTACH DATABASE ? AS template", (str(path),))
        conn.commit()
        try:
            for table in TABLES:
                cols = ", ".join(c.name for c in table.columns)
                conn.exec_driver_sql(f"INSERT INTO main.{table.name} ({cols}) SELECT {cols} FROM template.{table.name}")
            conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("DETACH DATABASE template")
            conn.commit()


def _schema(key: str) -> str:
    return f"{PG_PREFIX}{key}"


def _copy_schema(db: Database, key: str) -> bool:
    """The template schema's rows into the world's tables, by the server, ids and sequences included;
    False, and nothing copied, when the database holds no such schema."""
    schema = _schema(key)
    with db.transaction() as s:
        conn = s.connection()
        if conn.scalar(text("SELECT to_regnamespace(:s)"), {"s": schema}) is None:
            return False
        quote = conn.dialect.identifier_preparer.quote
        statements = []
        for table in TABLES:
            cols = ", ".join(quote(c.name) for c in table.columns)
            statements.append(
                f"INSERT INTO {quote(table.name)} ({cols}) SELECT {cols} FROM {quote(schema)}.{quote(table.name)}"
            )
            statements.append(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {quote(table.name)}), false)"
            )
        conn.exec_driver_sql("; ".join(statements))  # one round trip: no parameters, several statements
    return True


def _keep_schema(s: Session, key: str) -> None:
    """The rows `s` sees kept as the template schema of `key`: made under another name and renamed
    when whole (a rename is atomic; when another process's is there first, this one is dropped)."""
    conn = s.connection()
    quote = conn.dialect.identifier_preparer.quote
    making = quote(f"{PG_MAKING}{os.urandom(6).hex()}")
    try:
        with conn.begin_nested():
            if conn.scalar(text("SELECT to_regnamespace(:s)"), {"s": _schema(key)}) is not None:
                return
            conn.exec_driver_sql(f"CREATE SCHEMA {making}")
            for table in TABLES:
                conn.exec_driver_sql(f"CREATE TABLE {making}.{quote(table.name)} AS SELECT * FROM {quote(table.name)}")
            conn.exec_driver_sql(f"ALTER SCHEMA {making} RENAME TO {quote(_schema(key))}")
    except SQLAlchemyError:  # another process kept it first
        pass
