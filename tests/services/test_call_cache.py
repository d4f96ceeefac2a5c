"""What a resource-server call keeps in its process (core.changes): its token, the clock and a usage
point's entry are read once and kept while nothing is committed to the database, and a change any
connection commits (another worker's: another engine here, or another process) is seen at the next call."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text, update
from test_postgres import postgres_url  # noqa: F401  (the throw-away cluster fixture)
from web.helpers import demo_grant, sb_of

from sandbox.core.changes import Kept, changes_of, kept
from sandbox.core.clock import Clock
from sandbox.core.clock_store import DatabaseClockStore
from sandbox.core.db import Database
from sandbox.core.models import Authorization, OAuthToken, UsagePoint
from sandbox.espi import urls
from sandbox.espi.scopes import content_of
from sandbox.feeds import documents as docs
from sandbox.services import subscriptions

ADMIN = {"Authorization": "Bearer test-admin-key"}
R = "/dc/bayview/espi/1_1/resource/"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture
def file_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'marks.db'}")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    yield db
    db.engine.dispose()


def _commit(db: Database, value: int = 1) -> None:
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})


def test_a_mark_stays_until_a_commit(file_db):
    changes = changes_of(file_db.engine)
    first = changes.mark()
    with file_db.engine.connect() as c:  # a read is no change
        c.execute(text("SELECT count(*) FROM t")).scalar()
    assert changes.mark() == first
    _commit(file_db)
    second = changes.mark()
    assert second != first
    assert changes.mark() == second


def test_a_commit_of_another_process_changes_the_mark(file_db):
    changes = changes_of(file_db.engine)
    before = changes.mark()
    path = file_db.engine.url.database
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; c = sqlite3.connect({path!r}); c.execute('INSERT INTO t VALUES (2)'); c.commit()",
        ],
        check=True,
        timeout=60,
    )
    assert changes.mark() != before


def _commit_elsewhere(db: Database, value: int) -> None:
    """A commit this process's engine does not make (as another process's is)."""
    with sqlite3.connect(db.engine.url.database) as c:
        c.execute("INSERT INTO t VALUES (?)", (value,))


def test_a_pinned_block_looks_once_and_the_next_block_sees_what_others_committed(file_db):
    changes = changes_of(file_db.engine)
    with changes.pinned():
        first = changes.mark()
        _commit_elsewhere(file_db, 2)
        assert changes.mark() == first  # the block's one look
    with changes.pinned():
        assert changes.mark() != first  # the next request sees it
    assert changes.mark() != first  # and so does a look outside any block


def test_a_pinned_block_sees_its_own_processs_commits_at_once(file_db):
    changes = changes_of(file_db.engine)
    with changes.pinned():
        first = changes.mark()
        _commit(file_db)
        second = changes.mark()
        assert second != first
        assert changes.mark() == second
        file_db.engine.dispose()  # a rebuilt world: looked at again, through a connection opened anew
        assert changes.mark() != second


def test_a_value_kept_in_a_pinned_block_is_read_again_after_this_processs_commit(file_db):
    reads: list[int] = []
    read = lambda: reads.append(1) or len(reads)  # noqa: E731
    values = Kept(file_db.engine)
    with values._changes.pinned():
        assert values.get("k", read) == 1
        assert values.get("k", read) == 1
        _commit(file_db)
        assert values.get("k", read) == 2


def test_an_in_memory_database_keeps_nothing():
    changes = changes_of(Database("sqlite://").engine)
    assert changes.mark() != changes.mark()


def test_disposing_the_engine_closes_its_look_so_the_file_alone_is_the_database(file_db, tmp_path):
    """The tests' seeded template relies on this: copied after dispose(), a file holds every commit."""
    changes_of(file_db.engine).mark()
    _commit(file_db, 7)
    file_db.engine.dispose()
    path = file_db.engine.url.database
    assert not (tmp_path / "marks.db-wal").exists()
    shutil.copyfile(path, tmp_path / "copy.db")
    with sqlite3.connect(tmp_path / "copy.db") as c:
        assert c.execute("SELECT x FROM t").fetchall() == [(7,)]
    before = changes_of(file_db.engine).mark()  # opened again when next asked: a new mark
    assert changes_of(file_db.engine).mark() == before


def _child_marks(path: str, out) -> None:
    db = Database(f"sqlite:///{path}")
    changes = changes_of(db.engine)
    first = changes.mark()
    same = changes.mark() == first
    _commit(db, 3)
    out.send((same, changes.mark() != first))


def test_a_forked_worker_looks_with_a_connection_of_its_own(file_db):
    changes = changes_of(file_db.engine)
    before = changes.mark()
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_child_marks, args=(file_db.engine.url.database, theirs))
    child.start()
    assert mine.recv() == (True, True)
    child.join(30)
    assert changes.mark() != before  # the child's commit is seen here too


def test_kept_values_are_read_once_until_a_commit(file_db):
    reads = []

    def read():
        reads.append(1)
        return len(reads)

    values = Kept(file_db.engine)
    assert values.get("k", read) == 1
    assert values.get("k", read) == 1
    _commit(file_db)
    assert values.get("k", read) == 2
    assert kept(file_db.engine, "a") is kept(file_db.engine, "a") and kept(file_db.engine, "a") is not kept(
        file_db.engine, "b"
    )


def test_kept_values_are_bounded(file_db):
    values = Kept(file_db.engine, size=3)
    for i in range(10):
        values.get(i, lambda i=i: i)
    assert all(len(kept_values) <= 3 for _, kept_values in values._states.values())


def test_a_thread_that_finds_the_shared_look_busy_looks_on_its_own_and_sees_a_commit(file_db):
    """While one thread looks through the process's shared connection, another does not wait: it
    looks through a connection of its own, keeps its values apart, and sees a commit all the same."""
    import threading

    values = Kept(file_db.engine)
    changes = values._changes
    shared = changes.mark()
    reads: list[int] = []
    read = lambda: reads.append(1) or len(reads)  # noqa: E731
    got: dict[str, object] = {}

    def look() -> None:
        got["mark"] = changes.mark()
        got["first"] = values.get("k", read)
        got["again"] = values.get("k", read)
        _commit(file_db)
        got["after"] = values.get("k", read)

    with changes._lock:  # the shared connection is busy
        t = threading.Thread(target=look)
        t.start()
        t.join(10)
        assert not t.is_alive(), "a look waited on the shared connection"
    assert got["mark"][0] != shared[0]  # its own connection
    assert (got["first"], got["again"], got["after"]) == (1, 1, 2)  # kept, then read again after the commit


def test_a_value_read_while_a_commit_lands_is_not_kept_past_it(file_db):
    """The value is kept under the mark looked at before it was read: a commit made meanwhile is
    a change at the next look, so the next get reads again."""
    values = Kept(file_db.engine)
    seen = []

    def read_then_commit():
        seen.append("read")
        _commit(file_db)  # lands after the look, before the value is kept
        return "old"

    assert values.get("k", read_then_commit) == "old"
    assert values.get("k", lambda: "new") == "new"


# --- the resource server: what another worker changes is seen at the next call --------------------


def _granted(client) -> tuple[dict, str]:
    r = client.post(
        "/sandbox-api/authorizations",
        headers=ADMIN,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200, r.data
    t = r.get_json()
    head = {"Authorization": "Bearer " + t["access_token"]}
    sub = R + f"Subscription/{t['subscription_id']}/UsagePoint"
    up = re.search(r'/UsagePoint/([0-9a-f-]{36})"', client.get(sub, headers=head).get_data(as_text=True)).group(1)
    return head, f"{sub}/{up}"


@pytest.fixture
def other_worker(app):
    """The app's database through an engine of its own, as another worker process has it."""
    db = Database(sb_of(app).db.url)
    yield db
    db.engine.dispose()


def test_a_call_looks_for_commits_once(app, client, monkeypatch):
    """The clock, the token and the entry are kept values: one look at the database answers for all three."""
    head, entry = _granted(client)
    changes = changes_of(sb_of(app).db.engine)
    looks: list[int] = []
    look = changes._look
    monkeypatch.setattr(changes, "_look", lambda: looks.append(1) or look())
    assert client.get(entry, headers=head).status_code == 200
    assert len(looks) == 1
    assert client.get(entry, headers=head).status_code == 200
    assert len(looks) == 2


def test_a_token_revoked_by_another_worker_is_refused_at_the_next_call(client, other_worker):
    head, entry = _granted(client)
    assert client.get(entry, headers=head).status_code == 200
    assert client.get(entry, headers=head).status_code == 200  # kept
    with other_worker.transaction() as s:
        s.execute(update(OAuthToken).values(revoked_at=dt.datetime(2025, 7, 15, 18, 0)))
    r = client.get(entry, headers=head)
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "token_revoked"


def test_an_authorization_ended_by_another_worker_is_refused_at_the_next_call(client, other_worker):
    head, entry = _granted(client)
    assert client.get(entry, headers=head).status_code == 200
    with other_worker.transaction() as s:
        s.execute(
            update(Authorization).values(
                status="revoked", status_reason="revoked by the utility", ended_at=dt.datetime(2025, 7, 15, 18, 0)
            )
        )
    r = client.get(entry, headers=head)
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"].startswith("authorization_revoked")


def test_a_usage_point_changed_by_another_worker_is_served_changed(client, other_worker):
    head, entry = _granted(client)
    assert b"<title>Renamed</title>" not in client.get(entry, headers=head).data
    with other_worker.transaction() as s:
        s.execute(update(UsagePoint).values(label="Renamed"))
    assert b"<title>Renamed</title>" in client.get(entry, headers=head).data


def test_the_clock_moved_by_another_worker_is_seen_at_the_next_call(app, client, other_worker):
    head, entry = _granted(client)  # its access token lives an hour
    assert client.get(entry, headers=head).status_code == 200
    with app.app_context():
        now = sb_of(app).clock.now()
    DatabaseClockStore(other_worker).advance(2 * 3600)
    with app.app_context():
        assert sb_of(app).clock.now() - now == dt.timedelta(hours=2)
    r = client.get(entry, headers=head)
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "token_expired"


def test_a_kept_entry_follows_the_day_published_data_ends(app):
    """A running clock passes midnight without any commit: the entry's published and updated times
    follow the day the data ends, never a day kept from before."""
    sb = sb_of(app)
    world = sb.require_world()
    utility = world.utility("bayview")
    clock = Clock()
    clock.freeze(dt.datetime(2025, 7, 15, 18, 30, tzinfo=dt.timezone.utc))
    granted = demo_grant(app)
    with sb.db.sessions() as s:
        auth = s.get(Authorization, granted.id)
        up = auth.usage_points[0]
        shared = subscriptions.Shared(s, auth.id, auth.subscription_uuid, auth.customer_id, content_of(SCOPE))
        place = docs.Place(world, utility, clock, urls.resource_root("http://localhost/", "bayview"))
        tree = docs.subscription_tree(place, shared)
        first = docs.usage_point_entry(place, tree, up.uuid)
        assert docs.usage_point_entry(place, tree, up.uuid) == first
        clock.advance(dt.timedelta(days=1))
        tree = docs.subscription_tree(place, shared)
        assert docs.usage_point_entry(place, tree, up.uuid) != first
        with pytest.raises(Exception, match="not-a-usage-point"):
            docs.usage_point_entry(place, tree, "not-a-usage-point")


# --- PostgreSQL: the current snapshot -----------------------------------------------------------------


@pytest.mark.postgres
def test_postgresql_marks_follow_commits_of_any_connection(postgres_url):  # noqa: F811  (the fixture)
    db = Database(postgres_url)
    other = Database(postgres_url)
    try:
        with db.engine.begin() as c:
            c.execute(text("CREATE TABLE IF NOT EXISTS marks_t (x INTEGER)"))
        changes = changes_of(db.engine)
        first = changes.mark()
        assert changes.mark() == first  # a value of the database's, not a new object each time
        with db.engine.connect() as c:  # a read is no change
            c.execute(text("SELECT count(*) FROM marks_t")).scalar()
        assert changes.mark() == first
        with other.engine.begin() as c:  # another worker's commit
            c.execute(text("INSERT INTO marks_t VALUES (1)"))
        assert changes.mark() != first
        with other.engine.connect() as c:  # a transaction under way at a look, committed after it
            c.execute(text("INSERT INTO marks_t VALUES (2)"))
            during = changes.mark()
            c.commit()
        assert changes.mark() != during
        settled = changes.mark()
        with other.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("CHECKPOINT"))  # work that writes WAL but changes no row: nothing to read again
            c.execute(text("VACUUM marks_t"))
        assert changes.mark() == settled
        db.engine.dispose()  # its own connection closed with the pool (the database can then be dropped)
        assert changes._conn is None
    finally:
        with other.engine.begin() as c:
            c.execute(text("DROP TABLE IF EXISTS marks_t"))
        db.engine.dispose()
        other.engine.dispose()
