"""The sandbox clock kept in the database: every Clock over one database (as every thread and
process has) agrees on "now", changes made together all count, a request reads it once, and
reseeding the world leaves it as it was."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from conftest import ROOT

from sandbox.core.clock import Clock, MemoryClockStore
from sandbox.core.clock_store import DatabaseClockStore
from sandbox.core.db import Database
from sandbox.services.world import seed_world
from sandbox.synth.world import read_seed_dir

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 9, 9, 59, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'clock.db'}")
    d.create_all()
    yield d
    d.engine.dispose()


def _steps(clock: Clock, real: list[float]) -> list[float]:
    """A script of every change, the timestamp after each (real time moves between steps)."""
    seen = []
    for step in (
        lambda: clock.advance(60),
        lambda: clock.freeze(T0),
        lambda: clock.advance(dt.timedelta(hours=1)),
        lambda: clock.unfreeze(),
        lambda: clock.set(T0),
        lambda: clock.freeze(),
        lambda: clock.set(T0 + dt.timedelta(days=2)),
        lambda: clock.unfreeze(),
        lambda: clock.reset(),
    ):
        step()
        real[0] += 7.0
        seen.append(clock.timestamp())
    return seen


def test_the_database_store_moves_as_the_memory_store_does(db):
    real_m, real_d = [1_000_000.0], [1_000_000.0]
    in_memory = _steps(Clock(source=lambda: real_m[0], store=MemoryClockStore()), real_m)
    in_db = _steps(Clock(source=lambda: real_d[0], store=DatabaseClockStore(db)), real_d)
    assert in_db == in_memory
    # and the script's own arithmetic: 10:59 frozen, then running from there
    assert in_memory[2] == (T0 + dt.timedelta(hours=1)).timestamp()
    assert in_memory[-1] == real_m[0]  # reset: real time


def test_clocks_over_one_database_agree(db):
    a, b = Clock(store=DatabaseClockStore(db)), Clock(store=DatabaseClockStore(db))
    a.freeze(T0)
    assert b.now() == T0 and b.frozen
    b.advance(dt.timedelta(days=1))
    assert a.now() == T0 + dt.timedelta(days=1)
    a.unfreeze()
    assert not b.frozen and b.offset == pytest.approx(a.offset)


def test_a_missing_table_reads_as_real_time(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    c = Clock(source=lambda: 5.0, store=DatabaseClockStore(d))
    assert c.timestamp() == 5.0 and not c.frozen


def test_advances_made_together_all_count(db):
    store = DatabaseClockStore(db)
    Clock(store=store).freeze(T0)
    clocks = [Clock(store=DatabaseClockStore(db)) for _ in range(8)]
    go = threading.Barrier(len(clocks))

    def move(c: Clock) -> None:
        go.wait()
        for _ in range(5):
            c.advance(60)

    threads = [threading.Thread(target=move, args=(c,)) for c in clocks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Clock(store=store).now() == T0 + dt.timedelta(minutes=40)


class Counting(DatabaseClockStore):
    reads = 0

    def read(self) -> tuple[float | None, float]:
        self.reads += 1
        return super().read()


def test_a_pinned_clock_reads_once_and_sees_its_own_changes(db):
    store = Counting(db)
    mine, other = Clock(store=store), Clock(store=DatabaseClockStore(db))
    mine.freeze(T0)
    with mine.pinned():
        assert store.reads == 0  # a request that never asks the time costs no read
        assert mine.now() == T0
        other.advance(3600)
        assert mine.now() == T0 and store.reads == 1  # read once, when first asked
        mine.advance(60)
        assert mine.now() == T0 + dt.timedelta(seconds=3660)  # its own change is seen
    other.advance(60)
    assert mine.now() == T0 + dt.timedelta(seconds=3720)  # unpinned: every read is fresh


def test_binding_hands_the_clock_its_state(db):
    c = Clock()
    c.freeze(T0)
    c.bind(DatabaseClockStore(db))
    assert Clock(store=DatabaseClockStore(db)).now() == T0


def test_reseeding_keeps_the_clock(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'world.db'}")
    c = Clock(store=DatabaseClockStore(d))
    c.freeze(T0)
    seed_world(d, read_seed_dir(ROOT / "seed_data"), c, customers=0)
    assert Clock(store=DatabaseClockStore(d)).now() == T0
    d.engine.dispose()
