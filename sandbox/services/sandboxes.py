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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sandbox.core.clock import Clock
from sandbox.core.db import SCHEMA_VERSION, Database
from sandbox.core.errors import NoPrivateSandboxes, QuotaExceeded
from sandbox.core.models import Base, RegistryBase, SandboxRecord, SchemaVersion
from sandbox.core.secrets import digest, matches
from sandbox.core.world_templates import WorldTemplates
from sandbox.services.world import Keys, seed_world, seeded_secrets
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


@lru_cache(maxsize=64)
def _slug_of(body: str) -> str | None:
    return tomllib.loads(body).get("slug")


def seed_files(files: dict[str, str], utilities: tuple[str, ...] | None, profiles: dict[str, str]) -> dict[str, str]:
    """The seed files with only the utilities asked for, each with the behaviour profile asked for."""
    out = {}
    for name, body in files.items():
        if name.startswith("utilities/"):
            slug = _slug_of(body)
            if utilities is not None and slug not in utilities:
                continue
            if slug in profiles:
                body = _with_profile(body, profiles[slug])
        out[name] = body
    return out


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
        url = world_url(self.db.url, sandbox_id)
        files = seed_files(self.files(), options.utilities, options.profiles)
        self._make_storage(sandbox_id)
        db = Database(url)
        try:
            keys = Keys.new()
            world = seed_world(
                db,
                files,
                Clock(),
                seed=options.seed,
                customers=options.customers,
                origin="seed_data (a private sandbox)",
                keys=keys,
                templates=self.templates,
                private=True,
                unseen=True,  # nothing finds it before its record is written
            )
        except BaseException:
            db.dispose()
            self._drop_storage(sandbox_id)
            raise
        db.dispose()
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

    # --- PostgreSQL: schemas of empty tables made ahead (their DDL took most of a sandbox's making) ---

    def _claim_schema(self, sandbox_id: str) -> None:
        """Rename a schema of empty tables made ahead to the sandbox's (made now if none is ready), and
        have another made in the background. A rename is atomic: two processes never claim the same one."""
        target = schema_of(sandbox_id)
        for blank in self._blank_schemas():
            try:
                with self.db.engine.begin() as c:
                    c.execute(text(f'ALTER SCHEMA "{blank}" RENAME TO "{target}"'))
            except SQLAlchemyError:  # another process claimed it first
                continue
            self._refill()
            return
        self._make_blank_schema(target)
        self._refill()

    def _blank_schemas(self) -> list[str]:
        with self.db.engine.connect() as c:
            return list(
                c.scalars(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :made ORDER BY nspname"),
                    {"made": f"{BLANK_PREFIX}{SCHEMA_VERSION}\\_%"},
                )
            )

    def _make_blank_schema(self, schema: str) -> None:
        """A schema of the world's tables, empty, at this schema version (made under another name and
        renamed when whole, so that a half-made one is never claimed)."""
        making = f"{BLANK_MAKING}{secrets.token_hex(6)}"
        with self.db.engine.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{making}"'))
        db = Database(_with_search_path(self.db.url, making))
        try:
            Base.metadata.create_all(db.engine, tables=db.tables)
            with db.transaction() as s:
                s.add(SchemaVersion(version=SCHEMA_VERSION))
        except BaseException:
            db.dispose()
            with self.db.engine.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{making}" CASCADE'))
            raise
        db.dispose()
        with self.db.engine.begin() as c:
            c.execute(text(f'ALTER SCHEMA "{making}" RENAME TO "{schema}"'))

    def _refill(self) -> None:
        """Make schemas ahead in a thread until READY_SCHEMAS wait (one thread a process at a time)."""
        if not self._refilling.acquire(blocking=False):
            return

        def run() -> None:
            try:
                while len(self._blank_schemas()) < READY_SCHEMAS:
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


def iso(seconds: float) -> str:
    """Real time, seconds since the epoch, as the API writes it (2026-12-06T14:00:00Z)."""
    return dt.datetime.fromtimestamp(round(seconds), dt.timezone.utc).isoformat().replace("+00:00", "Z")
