"""The abuse limits' counters in the world's database: processes that share a database count one
limit together, atomically, and a window ends when its time is up (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from test_postgres import postgres_url  # noqa: F401  (the throw-away cluster of the session)

from sandbox.core import rate_counters
from sandbox.core.db import Database
from sandbox.core.rate_counters import DatabaseCounters


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'counters.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def two(url):
    """Two Database objects over one database: what two worker processes hold."""
    first = Database(url)
    first.drop_all()
    first.create_all()
    second = Database(url)
    yield DatabaseCounters(first), DatabaseCounters(second)
    first.engine.dispose()
    second.engine.dispose()


def test_two_processes_count_one_limit_together(two):
    a, b = two
    item = parse("3 per hour")
    limiter_a, limiter_b = FixedWindowRateLimiter(a), FixedWindowRateLimiter(b)
    assert [limiter_a.hit(item, "signin", "1.2.3.4"), limiter_b.hit(item, "signin", "1.2.3.4")] == [True, True]
    assert limiter_a.hit(item, "signin", "1.2.3.4") is True
    assert limiter_b.hit(item, "signin", "1.2.3.4") is False  # the fourth, wherever it is counted
    assert limiter_a.test(item, "signin", "1.2.3.4") is False
    assert limiter_b.hit(item, "signin", "5.6.7.8") is True  # another key has its own count
    assert limiter_a.get_window_stats(item, "signin", "1.2.3.4").remaining == 0


def test_counts_made_at_once_are_each_counted(two):
    a, b = two
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: (a if i % 2 else b).incr("k", 3600), range(40)))
    assert sorted(got) == list(range(1, 41))  # every count saw its own number: none lost, none twice
    assert a.get("k") == 40


def test_a_window_ends_and_the_next_count_starts_a_new_one(two, monkeypatch):
    a, b = two
    now = [1_000_000.0]
    monkeypatch.setattr(rate_counters.time, "time", lambda: now[0])
    assert [a.incr("k", 60), b.incr("k", 60)] == [1, 2]
    assert a.get_expiry("k") == 1_000_060.0
    now[0] += 60  # the window is over
    assert b.get("k") == 0
    assert a.incr("k", 60) == 1 and b.get_expiry("k") == 1_000_120.0


def test_clear_and_reset(two):
    a, b = two
    a.incr("x", 60)
    a.incr("y", 60)
    b.clear("x")
    assert (a.get("x"), a.get("y")) == (0, 1)
    assert b.reset() == 1 and a.get("y") == 0
    assert a.check() is True
