"""World templates (core/world_templates.py): a seeded world's people are made once and copied after,
the same rows (ids included) with no customer generated and no password hashed; a different seed,
count or seed file makes its own; a damaged or unwritable cache never stops a seed."""

from __future__ import annotations

import pytest
from conftest import FIXED_NOW
from sqlalchemy import func, select

from sandbox import create_app
from sandbox.core import secrets
from sandbox.core.clock import Clock
from sandbox.core.config import ROOT
from sandbox.core.db import Database
from sandbox.core.models import Application, Customer, UsagePoint
from sandbox.core.world_templates import WorldTemplates, default_folder, template_key
from sandbox.services import world as world_service
from sandbox.services.signin import login_with_password
from sandbox.synth import people
from sandbox.synth.world import read_seed_dir


def _files() -> dict[str, str]:
    return read_seed_dir(ROOT / "seed_data")


def _clock() -> Clock:
    c = Clock()
    c.freeze(FIXED_NOW)
    return c


def _seed(tmp_path, name: str, templates, **kw) -> Database:
    db = Database(f"sqlite:///{tmp_path / name}")
    world_service.seed_world(db, _files(), _clock(), customers=kw.pop("customers", 2), templates=templates, **kw)
    return db


def _people(db: Database) -> list[tuple]:
    """Every row of the people's tables; a named identity's move (scheduled from the clock, which a
    reset sends back to real time) shown as scheduled or not."""
    with db.sessions() as s:
        rows = [
            tuple(unscheduled(r._mapping))
            for t in ("utility", "customer", "usage_point")
            for r in s.connection().exec_driver_sql(f"SELECT * FROM {t} ORDER BY id")
        ]
    db.engine.dispose()
    return rows


def unscheduled(row) -> list:
    if "service_end" in row and row["number"] < 0:
        return [v if k != "service_end" else v is not None for k, v in row.items()]
    return list(row.values())


@pytest.fixture
def templates(tmp_path) -> WorldTemplates:
    return WorldTemplates(tmp_path / "cache")


def no_generating(monkeypatch) -> None:
    """Generating customers or hashing a password fails the test from here on."""
    monkeypatch.setattr(people.PeopleFactory, "customers", lambda *a, **k: pytest.fail("generated again"))
    monkeypatch.setattr(secrets, "generate_password_hash", lambda *a, **k: pytest.fail("hashed again"))


def test_a_seed_keeps_a_template_and_the_next_copies_it(tmp_path, templates, monkeypatch):
    first = _people(_seed(tmp_path, "a.db", templates))
    kept = list(templates.folder.glob("world-*.sqlite"))
    assert len(kept) == 1
    no_generating(monkeypatch)
    assert _people(_seed(tmp_path, "b.db", templates)) == first
    assert list(templates.folder.glob("world-*.sqlite")) == kept


def test_a_copied_world_is_whole(tmp_path, templates, monkeypatch):
    """Copied people sign in with the published passwords; the clients are made afresh; customers added
    later follow on (ids and numbers) with the world's own password hash."""
    _seed(tmp_path, "template.db", templates).engine.dispose()
    no_generating(monkeypatch)
    db = _seed(tmp_path, "b.db", templates)
    world = world_service.stored_world(db)
    assert world is not None
    with db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.username == "demo")).first()
        assert login_with_password(db, _clock(), demo.utility_id, "demo", people.DEMO_PASSWORD).ok
        count = s.scalar(select(func.count(Customer.id)))
        assert s.scalar(select(func.count(Application.id))) == 3 * len(world.utilities)
    made = world_service.add_customers(db, world, "bayview", 2)
    with db.sessions() as s:
        added = s.scalars(select(Customer).where(Customer.username == made[-1])).one()
        assert added.id == count + 2 and added.number == 4
        assert login_with_password(db, _clock(), added.utility_id, added.username, world.customer_password).ok
        assert s.scalar(select(func.max(UsagePoint.id))) == max(up.id for up in added.usage_points)
    db.engine.dispose()


def test_another_seed_count_or_file_makes_its_own(tmp_path, templates):
    files = _files()
    key = template_key(files, 42, 2)
    assert (
        len(
            {
                key,
                template_key(files, 43, 2),
                template_key(files, 42, 3),
                template_key(files, 42, None),
                template_key({**files, "world.toml": files["world.toml"] + "\n"}, 42, 2),
            }
        )
        == 5
    )
    a = _people(_seed(tmp_path, "a.db", templates))
    b = _people(_seed(tmp_path, "b.db", templates, seed=7))
    assert a != b
    assert len(list(templates.folder.glob("world-*.sqlite"))) == 2


def test_a_damaged_template_is_made_again(tmp_path, templates):
    first = _people(_seed(tmp_path, "a.db", templates))
    (kept,) = templates.folder.glob("world-*.sqlite")
    kept.write_bytes(b"not a database" * 100)
    assert _people(_seed(tmp_path, "b.db", templates)) == first
    assert _people(_seed(tmp_path, "c.db", templates)) == first
    assert kept.read_bytes().startswith(b"SQLite format 3")


def test_an_unwritable_cache_still_seeds(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would be")
    assert _people(_seed(tmp_path, "a.db", WorldTemplates(blocked / "cache"))) == _people(_seed(tmp_path, "b.db", None))


def test_the_setting(tmp_path, monkeypatch):
    assert WorldTemplates.configured("off") is None and WorldTemplates.configured(" OFF ") is None
    assert WorldTemplates.configured(str(tmp_path)).folder == tmp_path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if default_folder().is_relative_to(tmp_path):  # Linux: the XDG cache folder
        assert WorldTemplates.configured(None).folder == tmp_path / "xdg" / "green-button-sandbox" / "worlds"
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'off.db'}", "CUSTOMERS": 1, "WORLD_CACHE": "off"}, clock=_clock()
    )
    assert app.extensions["sandbox"].templates is None
    app.extensions["sandbox"].db.engine.dispose()
    monkeypatch.setenv("SANDBOX_WORLD_CACHE", str(tmp_path / "env"))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}", "CUSTOMERS": 1}, clock=_clock())
    assert list((tmp_path / "env").glob("world-*.sqlite"))
    app.extensions["sandbox"].db.engine.dispose()


def test_flask_reset_forgets_the_templates(tmp_path, templates):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "CUSTOMERS": 1, "WORLD_CACHE": str(templates.folder)},
        clock=_clock(),
    )
    assert list(templates.folder.glob("world-*.sqlite"))
    result = app.test_cli_runner().invoke(args=["reset", "--yes", "--templates"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 world template(s)" in result.output
    assert not list(templates.folder.glob("world-*.sqlite"))
    app.extensions["sandbox"].db.engine.dispose()


def test_a_reset_keeps_ids_and_hashes_nothing(tmp_path, templates, monkeypatch):
    """The control API's reset empties the tables rather than making them again: the ids start at 1
    again, and the world is copied, not generated."""
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
            "CUSTOMERS": 2,
            "ADMIN_KEY": "k",
            "WORLD_CACHE": str(templates.folder),
        },
        clock=_clock(),
    )
    db = app.extensions["sandbox"].db
    before = _people(db)
    client = app.test_client()
    assert (
        client.post(
            "/sandbox-api/seed", json={"utility": "bayview", "customers": 3}, headers={"Authorization": "Bearer k"}
        ).status_code
        == 200
    )
    no_generating(monkeypatch)
    r = client.post("/sandbox-api/reset", headers={"Authorization": "Bearer k"})
    assert r.status_code == 200, r.get_json()
    assert _people(db) == before
    db.engine.dispose()
