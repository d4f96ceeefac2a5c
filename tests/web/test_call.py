"""The Call of one ESPI call (web.call): its database session, which a call answered from kept values
never uses, goes to the thread's next call instead of being closed and made again."""

from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from sandbox.core.db import Database
from sandbox.web.call import Call


@pytest.fixture
def db(tmp_path):
    found = Database(f"sqlite:///{tmp_path / 'call.db'}")
    yield found
    found.engine.dispose()


def _call(db: Database) -> Call:
    now = dt.datetime(2025, 7, 15, tzinfo=dt.timezone.utc)
    return Call("UsagePoint", "GET", "bayview", None, 1, SimpleNamespace(db=db), "http://localhost/", now)  # type: ignore[arg-type]


def test_an_unused_session_goes_to_the_threads_next_call(db):
    first = _call(db)
    s = first.session()
    first.close_session()
    assert _call(db).session() is s


def test_a_session_a_call_used_is_closed_and_never_handed_on(db):
    first = _call(db)
    s = first.session()
    s.execute(text("SELECT 1"))
    assert s.in_transaction()
    first.close_session()
    assert not s.in_transaction()  # closed: its connection went back to the pool
    assert _call(db).session() is not s


def test_an_unused_session_stays_with_its_thread_and_its_database(db, tmp_path):
    first = _call(db)
    s = first.session()
    first.close_session()
    got: list = []
    worker = threading.Thread(target=lambda: got.append(_call(db).session()))
    worker.start()
    worker.join()
    assert got[0] is not s  # another thread makes its own
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert _call(other).session() is not s  # another database's call too
    finally:
        other.engine.dispose()
