"""Private sandboxes of one deployment: each a world of its own, in a database of its own, listed in the
deployment's registry (the `sandbox_record` table in the default sandbox's database).

A world per database rather than a sandbox column on every row: every query, credential and lock of
the code that serves one world is then scoped to that sandbox by construction, a reset or a deletion
is the database's own (its tables emptied, its file or schema dropped), and the readings stay free
(they are computed from the seed, never stored). A SQLite deployment keeps each sandbox in a file
of the folder beside its database (`<database>.sandboxes/<id>.db`); a PostgreSQL one in a schema
of the same database (`sb_<id>`), reached through the connection's search_path.

Making one is seeding a world from the template of the seeded people (core.world_templates): the
same work as a reset, a few hundred rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import shutil
import threading
import time
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from sandbox.core.clock import Clock
from sandbox.core.db import SCHEMA_VERSION, Database
from sandbox.core.errors import NoPrivateSandboxes, QuotaExceeded
from sandbox.core.models import Base, RegistryBase, SandboxRecord, SchemaVersion
from sandbox.core.secrets import digest, matches
from sandbox.core.world_templates import WorldTemplates, template_key
from sandbox.services.world import Keys, seed_world, seeded_secrets, taken_up
from sandbox.synth.identities import FILE as IDENTITIES_FILE
from sandbox.synth.world import WorldDef

DEFAULT_TTL = 7 * 86400.0  # seconds a sandbox lives unless asked otherwise
MAX_TTL = 90 * 86400.0
MIN_TTL = 60.0
TOUCH_EVERY = 60.0  # seconds between two writes of a sandbox's last use
ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")  # what an id looks like (anything else is no sandbox)


@dataclass(frozen=True)
class Options:
    """What a new sandbox is made of (every field has a default: the default sandbox's world)."""

    label: str = ""
    seed: int | None = None
    customers: int | None = None  # generated customers per utility
    utilities: tuple[str, ...] | None = None  # the slugs it serves (None: all)
    profiles: dict[str, str] = field(default_factory=dict)  # slug -> behaviour profile
    ttl: float = DEFAULT_TTL  # seconds


@dataclass(frozen=True)
class Made:
    """A sandbox just made: its record, its world and the credentials only its maker is told."""

    record: SandboxRecord
    world: WorldDef
    admin_key: str
    client_secrets: dict[str, str]


def world_url(deployment_url: str, sandbox_id: str) -> str:
    """The database URL of a sandbox's world (see the module's docstring)."""
    url = make_url(deployment_url)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise NoPrivateSandboxes(
                "private sandboxes need the deployment's database to be a file or PostgreSQL, not in memory"
            )
        return f"sqlite:///{Path(f'{path}.sandboxes') / f'{sandbox_id}.db'}"
    if url.get_backend_name() == "postgresql":
        return _with_search_path(deployment_url, schema_of(sandbox_id))
    raise NoPrivateSandboxes(f"private sandboxes are kept in SQLite or PostgreSQL, not {url.get_backend_name()}")


def schema_of(sandbox_id: str) -> str:
    return f"sb_{sandbox_id}"


def _with_search_path(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


READY_SCHEMAS = 2  # PostgreSQL schemas of empty tables kept made ahead
BLANK_PREFIX = "sbready_"  # + schema version + _ + random: made ahead, waiting to be claimed
BLANK_MAKING = "sbmaking_"  # being made (never claimed)
# PostgreSQL: worlds of the default options seeded ahead, "sbworld_<version>_<files>_<made, epoch s>_<random>":
# claimed whole, a sandbox of the default world is made in milliseconds rather than by seeding it
READY_WORLDS = 2
ORIGIN = "seed_data (a private sandbox)"  # where a sandbox's world says it comes from
WORLD_PREFIX = "sbworld_"
READY_WORLD_AGE = 600.0  # seconds a world made ahead may wait (older ones are dropped: their times would show)


@lru_cache(maxsize=64)
def _slug_of(body: str) -> str | None:
    return tomllib.loads(body).get("slug")


def seed_files(files: dict[str, str], utilities: tuple[str, ...] | None, profiles: dict[str, str]) -> dict[str, str]:
    """The seed files with only the utilities asked for (and their named test identities), each with
    the behaviour profile asked for."""
    out = {}
    for name, body in files.items():
        if name.startswith("utilities/"):
            slug = _slug_of(body)
            if utilities is not None and slug not in utilities:
                continue
            if slug in profiles:
                body = _with_profile(body, profiles[slug])
        elif name == IDENTITIES_FILE and utilities is not None:
            body = _identities_at(body, utilities)
        out[name] = body
    return out


def _identities_at(body: str, utilities: tuple[str, ...]) -> str:
    """The catalogue's text with only the [[identity]] tables of those utilities (its comments kept)."""
    head, *tables = re.split(r"(?m)^(?=\[\[identity\]\])", body)
    return head + "".join(t for t in tables if tomllib.loads(t)["identity"][0].get("utility") in utilities)


def _with_profile(body: str, profile: str) -> str:
    """A utility file whose [profile] table uses `profile` (the line replaced, or the table added)."""
    table = re.search(r"(?m)^\[profile\][^\[]*", body)
    if table is None:
        return f'{body.rstrip()}\n\n[profile]\nuse = "{profile}"\n'
    section = table.group(0)
    if re.search(r"(?m)^use\s*=", section):
        section = re.sub(r"(?m)^use\s*=.*$", f'use = "{profile}"', section, count=1)
    else:
        section = section.replace("[profile]\n", f'[profile]\nuse = "{profile}"\n', 1)
    return body[: table.start()] + section + body[table.end() :]


class Registry:
    """The deployment's sandboxes: made, found, listed, extended and deleted (web.private deletes the
    expired ones, `expired_ids`, once it has closed their apps)."""

    def __init__(self, db: Database, files: Callable[[], dict[str, str]], templates: WorldTemplates | None = None):
        self.db = db
        self.files = files  # reads the seed files new sandboxes start from
        self.templates = templates
        self._ready = False
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}
        self._refilling = threading.Lock()
        self.refilling: threading.Thread | None = None  # the latest thread making PostgreSQL schemas ahead

    def _prepare(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    try:
                        RegistryBase.metadata.create_all(self.db.engine)
                    except SQLAlchemyError:  # another process made it at the same moment
                        if not self.db.has_table(SandboxRecord.__tablename__):
                            raise
                    self._ready = True

    def create(self, options: Options, limit: int | None = None, now: float | None = None) -> Made:
        """A new sandbox, its world seeded; its record is written last, so a sandbox half made is never
        found. QuotaExceeded when `limit` sandboxes live already (the deployment's SANDBOX_MAX_SANDBOXES)."""
        self._prepare()
        now = time.time() if now is None else now
        if limit is not None and self.count(now) >= limit:
            raise QuotaExceeded(
                "sandboxes", f"sandboxes: this deployment keeps at most {limit} live sandboxes (SANDBOX_MAX_SANDBOXES)"
            )
        sandbox_id = secrets.token_hex(6)
        files = seed_files(self.files(), options.utilities, options.profiles)
        postgres = self.db.engine.dialect.name == "postgresql"
        default = postgres and options == Options(options.label, ttl=options.ttl)  # the default world
        claimed = self._claim_world(sandbox_id, files) if default else None
        if claimed is not None:
            world, keys = claimed
        else:
            self._make_storage(sandbox_id)
            keys = Keys.new()
            try:
                world = self._seed(world_url(self.db.url, sandbox_id), files, keys, options.seed, options.customers)
            except BaseException:
                self._drop_storage(sandbox_id)
                raise
        if postgres:
            self._refill(files if default else None)
        record = SandboxRecord(
            id=sandbox_id,
            label=options.label,
            seed=world.seed,
            customers=options.customers,
            utilities=[u.slug for u in world.utilities],
            created=now,
            expires=now + options.ttl,
            last_used=now,
            admin_key_digest=digest(keys.admin_key),
        )
        with self.db.transaction() as s:
            s.add(record)
        return Made(record, world, keys.admin_key, seeded_secrets(keys.secret_key))

    def _seed(self, url: str, files: dict[str, str], keys: Keys, seed: int | None, customers: int | None) -> WorldDef:
        """A world seeded into a database no one reads yet (a sandbox's before its record is written)."""
        db = Database(url)
        try:
            return seed_world(
                db,
                files,
                Clock(),
                seed=seed,
                customers=customers,
                origin=ORIGIN,
                keys=keys,
                templates=self.templates,
                private=True,
                unseen=True,
            )
        finally:
            db.dispose()

    def get(self, sandbox_id: str, now: float | None = None) -> SandboxRecord | None:
        """The live sandbox of that id (None: no such sandbox, or expired)."""
        if not ID_PATTERN.match(sandbox_id):
            return None
        self._prepare()
        now = time.time() if now is None else now
        with self.db.sessions() as s:
            found = s.get(SandboxRecord, sandbox_id)
        return found if found is not None and found.expires > now else None

    def live(self, now: float | None = None) -> list[SandboxRecord]:
        self._prepare()
        now = time.time() if now is None else now
        with self.db.sessions() as s:
            return list(
                s.scalars(select(SandboxRecord).where(SandboxRecord.expires > now).order_by(SandboxRecord.created))
            )

    def count(self, now: float | None = None) -> int:
        self._prepare()
        now = time.time() if now is None else now
        with self.db.sessions() as s:
            return s.scalar(select(func.count()).select_from(SandboxRecord).where(SandboxRecord.expires > now)) or 0

    def touch(self, sandbox_id: str, now: float | None = None) -> None:
        """Note the sandbox's use (written at most once every TOUCH_EVERY seconds a process)."""
        now = time.time() if now is None else now
        if now - self._touched.get(sandbox_id, 0.0) < TOUCH_EVERY:
            return
        self._touched[sandbox_id] = now
        with self.db.transaction() as s:
            s.execute(update(SandboxRecord).where(SandboxRecord.id == sandbox_id).values(last_used=now))

    def note_due(self, sandbox_id: str, when: float) -> None:
        """A notification of the sandbox is due at `when` (kept if an earlier one is)."""
        with self.db.transaction() as s:
            s.execute(
                update(SandboxRecord)
                .where(SandboxRecord.id == sandbox_id)
                .where((SandboxRecord.notify_due.is_(None)) | (SandboxRecord.notify_due > when))
                .values(notify_due=when)
            )

    def clear_due(self, sandbox_id: str) -> None:
        """No notification of the sandbox is due (before its outbox is read again and `note_due` says when
        the next one is: one enqueued meanwhile is noted by its own commit, never lost)."""
        with self.db.transaction() as s:
            s.execute(update(SandboxRecord).where(SandboxRecord.id == sandbox_id).values(notify_due=None))

    def due(self, now: float | None = None) -> list[SandboxRecord]:
        """The live sandboxes with a notification due now (none before the first sandbox is made: the
        registry's table is not made for a look)."""
        if not self._ready:
            if not self.db.has_table(SandboxRecord.__tablename__):
                return []
            self._prepare()
        now = time.time() if now is None else now
        with self.db.sessions() as s:
            return list(
                s.scalars(select(SandboxRecord).where(SandboxRecord.notify_due <= now, SandboxRecord.expires > now))
            )

    def extend(self, sandbox_id: str, ttl: float, now: float | None = None) -> SandboxRecord | None:
        """The sandbox's life set to end `ttl` seconds from now (None: no such live sandbox)."""
        now = time.time() if now is None else now
        with self.db.transaction() as s:
            found = s.get(SandboxRecord, sandbox_id)
            if found is None or found.expires <= now:
                return None
            found.expires = now + ttl
            return found

    def owns(self, sandbox_id: str, admin_key: str | None) -> bool:
        """Is `admin_key` the live sandbox's own? (compared by digest: nothing of the sandbox is opened)"""
        record = self.get(sandbox_id)
        return record is not None and admin_key is not None and matches(admin_key, record.admin_key_digest)

    def expired_ids(self, now: float | None = None) -> list[str]:
        self._prepare()
        now = time.time() if now is None else now
        with self.db.sessions() as s:
            return list(s.scalars(select(SandboxRecord.id).where(SandboxRecord.expires <= now)))

    def delete(self, sandbox_id: str) -> bool:
        """The sandbox's record and world gone (False: there was none). Its record goes first: from then
        on nothing finds it, in any process."""
        if not ID_PATTERN.match(sandbox_id):
            return False
        self._prepare()
        with self.db.transaction() as s:
            gone = s.get(SandboxRecord, sandbox_id)
            if gone is not None:
                s.delete(gone)
        self._drop_storage(sandbox_id)
        self._touched.pop(sandbox_id, None)
        return gone is not None

    def _make_storage(self, sandbox_id: str) -> None:
        """An empty world database: a PostgreSQL schema, or a copy of the file of empty tables (made once
        a folder and schema version: the DDL of two dozen tables cost a third of a sandbox's making)."""
        if self.db.engine.dialect.name == "postgresql":
            self._claim_schema(sandbox_id)
            return
        path = Path(make_url(world_url(self.db.url, sandbox_id)).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        blank = path.parent / f".empty-schema-{SCHEMA_VERSION}.db"
        if not blank.exists():
            made = path.parent / f".empty-schema-{SCHEMA_VERSION}.{secrets.token_hex(4)}.tmp"
            db = Database(f"sqlite:///{made}")
            try:
                Base.metadata.create_all(db.engine, tables=db.tables)
                with db.transaction() as s:
                    s.add(SchemaVersion(version=SCHEMA_VERSION))
                with db.engine.connect() as c:
                    c.exec_driver_sql("PRAGMA journal_mode=DELETE")  # one file, whole: copied as it is
            finally:
                db.dispose()
            os.replace(made, blank)  # whole or not at all, whichever process made it first or last
        shutil.copyfile(blank, path)

    # --- PostgreSQL: schemas made ahead, empty or seeded (their DDL took most of a sandbox's making) ---

    def _claim_schema(self, sandbox_id: str) -> None:
        """Rename a schema of empty tables made ahead to the sandbox's (made now if none is ready). A
        rename is atomic: two processes never claim the same one. (`create` has more made.)"""
        target = schema_of(sandbox_id)
        for blank in self._schemas(f"{BLANK_PREFIX}{SCHEMA_VERSION}_"):
            if self._rename(blank, target):
                break
        else:
            self._make_blank_schema(target)

    def _claim_world(self, sandbox_id: str, files: dict[str, str]) -> tuple[WorldDef, Keys] | None:
        """A world of these seed files seeded ahead, renamed to the sandbox's, with its keys (None when
        no fresh one waits; the stale ones are dropped)."""
        now = time.time()
        for name in self._schemas(_world_name(files)):
            made = float(name.rsplit("_", 2)[1])
            if not now - READY_WORLD_AGE < made <= now + 60:
                self._drop_schema(name)
                continue
            if not self._rename(name, schema_of(sandbox_id)):
                continue  # another process claimed it first
            db = Database(world_url(self.db.url, sandbox_id))
            try:
                return taken_up(db, files, Clock(), ORIGIN)
            except BaseException:
                db.dispose()
                self._drop_storage(sandbox_id)
                raise
            finally:
                db.dispose()
        return None

    def _schemas(self, prefix: str) -> list[str]:
        """The schemas whose names start with `prefix`, by name."""
        with self.db.engine.connect() as c:
            return list(
                c.scalars(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :made ORDER BY nspname"),
                    {"made": prefix.replace("_", "\\_") + "%"},
                )
            )

    def _rename(self, schema: str, to: str) -> bool:
        try:
            with self.db.engine.begin() as c:
                c.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{to}"'))
            return True
        except SQLAlchemyError:  # gone: another process claimed or dropped it first
            return False

    def _drop_schema(self, schema: str) -> None:
        with self.db.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def _make_blank_schema(self, schema: str) -> None:
        """A schema of the world's tables, empty, at this schema version, in one round trip of DDL made
        once a process (made under another name and renamed when whole, in one transaction: a half-made
        one is never claimed)."""
        quote = self.db.engine.dialect.identifier_preparer.quote
        making = quote(f"{BLANK_MAKING}{secrets.token_hex(6)}")
        with self.db.engine.begin() as c:
            c.exec_driver_sql(
                f"CREATE SCHEMA {making}; SET LOCAL search_path TO {making}; {_world_ddl(self.db.engine.dialect)}; "
                f"ALTER SCHEMA {making} RENAME TO {quote(schema)}"
            )

    def _make_world(self, files: dict[str, str]) -> None:
        """A world of `files` seeded ahead, with keys of its own, renamed to be claimed when whole."""
        making = f"{BLANK_MAKING}{secrets.token_hex(6)}"
        self._make_blank_schema(making)
        try:
            self._seed(_with_search_path(self.db.url, making), files, Keys.new(), None, None)
            renamed = self._rename(making, f"{_world_name(files)}{int(time.time())}_{secrets.token_hex(4)}")
        except BaseException:
            self._drop_schema(making)
            raise
        if not renamed:
            self._drop_schema(making)

    def _refill(self, files: dict[str, str] | None = None) -> None:
        """Make schemas ahead in a thread until READY_SCHEMAS empty ones and (given the default world's
        seed files) READY_WORLDS seeded ones wait (one thread a process at a time)."""
        if not self._refilling.acquire(blocking=False):
            return

        def run() -> None:
            try:
                while files is not None and len(self._schemas(_world_name(files))) < READY_WORLDS:
                    self._make_world(files)
                while len(self._schemas(f"{BLANK_PREFIX}{SCHEMA_VERSION}_")) < READY_SCHEMAS:
                    self._make_blank_schema(f"{BLANK_PREFIX}{SCHEMA_VERSION}_{secrets.token_hex(6)}")
            except SQLAlchemyError as exc:
                logging.getLogger(__name__).warning("sandboxes: making a schema ahead: %s", exc)
            finally:
                self._refilling.release()

        self.refilling = threading.Thread(target=run, name="sandbox-schemas", daemon=True)
        self.refilling.start()

    def _drop_storage(self, sandbox_id: str) -> None:
        """The sandbox's schema dropped, or its files removed (the world's, its request log's, their journals)."""
        if self.db.engine.dialect.name == "postgresql":
            with self.db.engine.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{schema_of(sandbox_id)}" CASCADE'))
            return
        path = Path(make_url(world_url(self.db.url, sandbox_id)).database or "")
        for suffix in (
            "",
            "-wal",
            "-shm",
            "-journal",
            ".rebuild-lock",
            ".request-log",
            ".request-log-wal",
            ".request-log-shm",
        ):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@lru_cache(maxsize=2)
def _world_ddl(dialect: Dialect) -> str:
    """The statements that make a world's tables and indexes in the current schema, and mark its
    version (what Base.metadata.create_all would run, without its look at what exists)."""
    statements = []
    for table in Base.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    statements.append(f"INSERT INTO {SchemaVersion.__tablename__} (version) VALUES ({int(SCHEMA_VERSION)})")
    return "; ".join(statements)


def _world_name(files: dict[str, str]) -> str:
    """How the names of worlds made ahead from these seed files (at this schema version and generator)
    start; the time each was made follows."""
    return f"{WORLD_PREFIX}{SCHEMA_VERSION}_{template_key(files, 0, None)[:12]}_"


def iso(seconds: float) -> str:
    """Real time, seconds since the epoch, as the API writes it (2026-12-06T14:00:00Z)."""
    return dt.datetime.fromtimestamp(round(seconds), dt.timezone.utc).isoformat().replace("+00:00", "Z")
