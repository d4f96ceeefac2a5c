"""Database.one_transaction: everything a thread does inside is one transaction, seen by other
connections (other processes) all at once or not at all; a world reset is made that way."""

from __future__ import annotations

import pytest
from conftest import FIXED_NOW
from sqlalchemy import func, select, text

from sandbox.core.clock import Clock
from sandbox.core.config import ROOT
from sandbox.core.db import Database
from sandbox.core.models import Application, Customer, SchemaVersion, Utility, WorldState
from sandbox.core.world_templates import WorldTemplates
from sandbox.services import world as world_service
from sandbox.synth.world import read_seed_dir


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'one.db'}"


def _count(db: Database, model) -> int:
    with db.engine.connect() as c:  # a connection of its own: what another process sees
        return c.execute(select(func.count()).select_from(model)).scalar_one()


def test_every_way_in_joins_it_and_others_see_it_only_at_the_end(url):
    db, other = Database(url), Database(url)
    db.create_all()
    with db.one_transaction():
        with db.transaction() as s:
            s.add(SchemaVersion(version=777))
        with db.sessions() as s:  # a session's own commit leaves the transaction open
            s.add(SchemaVersion(version=778))
            s.commit()
        with db.begin() as c:
            c.execute(text("INSERT INTO schema_version (version) VALUES (779)"))
        with db.connect() as c:  # this thread reads what it wrote
            assert c.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == 4
        with db.one_transaction():  # entered again: the same one
            with db.sessions() as s:
                assert s.scalar(select(func.count()).select_from(SchemaVersion)) == 4
        assert _count(other, SchemaVersion) == 1  # another connection: none of it yet
    assert _count(other, SchemaVersion) == 4


def test_an_error_inside_leaves_nothing(url):
    db = Database(url)
    db.create_all()
    with pytest.raises(RuntimeError), db.one_transaction():
        with db.transaction() as s:
            s.add(SchemaVersion(version=777))
        raise RuntimeError("half way")
    assert _count(db, SchemaVersion) == 1 and db.joined is None


def test_a_reset_is_seen_by_another_process_only_when_it_is_whole(url, tmp_path):
    seed_files = read_seed_dir(ROOT / "seed_data")
    clock = Clock()
    clock.freeze(FIXED_NOW)
    db, other = Database(url), Database(url)
    templates = WorldTemplates(tmp_path / "templates")
    world_service.seed_world(db, seed_files, clock, customers=2, templates=templates)
    before = _seen(other)
    assert before[0] and before[1] and before[2]
    seen_midway = []
    restore = templates.restore

    def watched(target, key):
        done = restore(target, key)  # the people are copied in, the applications not made yet
        seen_midway.append(_seen(other))
        return done

    templates.restore = watched  # type: ignore[method-assign]
    world_service.reset_to_seed(db, clock, customers=2, templates=templates)
    assert seen_midway == [before]  # midway another process still saw the whole old world
    assert _seen(other) == before  # and then the whole new one (the same rows again)


def _seen(db: Database) -> tuple:
    """What a process reading `db` finds: utilities, customers, applications, whether the world is complete."""
    with db.engine.connect() as c:
        complete = c.execute(select(WorldState.complete)).scalar()
    return (_count(db, Utility), _count(db, Customer), _count(db, Application), complete)
