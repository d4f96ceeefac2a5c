"""The seeded world is the same, byte for byte, however it is made (seeded afresh, copied from a
template, restored by a reset): digests computed on the code before worlds were kept as templates
(issue 23) hold a feed, a Download My Data file and the seeded rows of a fresh default world at a
fixed clock. A change here is a change to every user's world: never update a digest lightly.
The rows digests were renewed once since, for a fifth utility (harbour) and the named test
identities (issue 25), and for the seeded grants' removal (issue 26); the feed and file digests, of
the first utilities' demo customers, held."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from conftest import FIXED_NOW
from sqlalchemy import select

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.core.models import Application, Authorization, Customer, UsagePoint, Utility
from sandbox.core.secrets import password_matches

KEY = "digest-admin-key"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
PERIOD = "published-min=2025-06-01T00:00:00Z&published-max=2025-06-08T00:00:00Z"

FEED_DIGEST = "3adb0c75dc841f3f7892d680d038746eda551e0ae12a7424ea489e0279e6f0be"
DMD_DIGEST = "0a1a0c3e598e4fd3d92803c118eb40eb8fa79ec85952027ff4af11e1f1b0da9b"
ROWS_DIGEST = "1eeb2209389377541e9e70af8069abf6864dd38628624fa38bc4736a7c8b5629"
# utilities, customers and usage points alone, an identity's scheduled move left out (the one time they hold)
PEOPLE_DIGEST = "b5691df6e64217003258ce3f5b0b6e2aae73e955808ff108df5944b1c206fd8b"

# what the rows digest leaves out: salted slow hashes and keyed digests (random per world by design)
UNHASHED = {"password_hash", "client_secret_hash"}


def _app(tmp_path, name: str = "world.db"):
    clock = Clock()
    clock.freeze(FIXED_NOW)
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / name}",
            "TESTING": True,
            "ADMIN_KEY": KEY,
            "PUBLIC_URL": "http://localhost/",
        },
        clock=clock,
    )


def feed_digest(app) -> str:
    """Batch/Subscription of bayview's demo customer over a fixed week, its run-time ids (a new
    authorization's, random by design, and the feed's id made from it) replaced by placeholders."""
    client = app.test_client()
    r = client.post(
        "/sandbox-api/authorizations",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200, r.get_json()
    token = r.get_json()
    sub = token["subscription_id"]
    path = token["resourceURI"].split("localhost", 1)[1]
    assert path.endswith(f"/Batch/Subscription/{sub}")
    feed = client.get(f"{path}?{PERIOD}", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert feed.status_code == 200, feed.data[:300]
    body = feed.data.replace(sub.encode(), b"SUBSCRIPTION").replace(token["authorization_id"].encode(), b"AUTH")
    body = re.sub(rb"(<feed[^>]*>\s*<id>)[^<]*", rb"\1FEED", body, count=1)  # named after the subscription
    assert b"<entry" in body and len(body) > 10_000
    return hashlib.sha256(body).hexdigest()


def dmd_digest(app, tmp_path) -> str:
    """The demo customer's Download My Data file for June 2025, written by `flask export`."""
    out = tmp_path / "dmd.xml"
    result = app.test_cli_runner().invoke(
        args=[
            "export",
            "--utility",
            "lakeshore",
            "--customer",
            "demo",
            "--start",
            "2025-06-01",
            "--end",
            "2025-07-01",
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert len(data) > 10_000
    return hashlib.sha256(data).hexdigest()


ALL_SEEDED = (Utility, Customer, UsagePoint, Application, Authorization)
PEOPLE = (Utility, Customer, UsagePoint)


def rows_digest(app, models=ALL_SEEDED, leave_out: frozenset[str] = frozenset()) -> str:
    """Every row of the seeded tables, column by column, as the database stores it (SQL NULL and JSON
    null differ here, as they do to a query); the columns `leave_out` names aside."""
    h = hashlib.sha256()
    with app.extensions["sandbox"].db.sessions() as s:
        for model in models:
            t = model.__table__
            cols = ", ".join(c.name for c in t.columns if c.name not in UNHASHED | leave_out)
            for row in s.connection().exec_driver_sql(f"SELECT {cols} FROM {t.name} ORDER BY id"):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


@pytest.fixture
def fresh(tmp_path):
    app = _app(tmp_path)
    yield app
    app.extensions["sandbox"].db.engine.dispose()


def test_a_fresh_default_world_is_the_one_seeded_before(fresh, tmp_path):
    assert rows_digest(fresh) == ROWS_DIGEST
    assert feed_digest(fresh) == FEED_DIGEST
    assert dmd_digest(fresh, tmp_path) == DMD_DIGEST


def test_the_published_passwords_still_sign_in(fresh):
    with fresh.extensions["sandbox"].db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.username == "demo")).first()
        other = s.scalars(select(Customer).where(Customer.number == 1)).first()
        world = fresh.extensions["sandbox"].world
        assert password_matches(demo.password_hash, "demo")
        assert password_matches(other.password_hash, world.customer_password)
        assert not password_matches(other.password_hash, "demo")


def test_a_reset_world_is_the_same_world(fresh, tmp_path):
    """A reset sends the clock back to real time (its applications and authorization are made now):
    the people are the same, and so are the feed and the file at the fixed clock again."""
    client = fresh.test_client()
    r = client.post("/sandbox-api/reset", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.get_json()
    # the one time a person's row holds: a named identity's move, scheduled from the clock (real time now)
    assert rows_digest(fresh, PEOPLE, frozenset({"service_end"})) == PEOPLE_DIGEST
    with fresh.extensions["sandbox"].db.sessions() as s:
        moving = s.scalars(select(Customer).where(Customer.username == "moving.out")).one()
        today = fresh.extensions["sandbox"].clock.today("America/St_Johns")
        assert moving.service_end - today == dt.timedelta(days=7)
    fresh.extensions["sandbox"].clock.freeze(FIXED_NOW)
    assert feed_digest(fresh) == FEED_DIGEST
    assert dmd_digest(fresh, tmp_path) == DMD_DIGEST


def test_a_second_fresh_database_is_the_same_world(fresh, tmp_path):
    """The second fresh database of a process (made from whatever the first left behind) is the same."""
    rows_digest(fresh)
    again = _app(tmp_path, "again.db")
    try:
        assert rows_digest(again) == ROWS_DIGEST
        assert feed_digest(again) == FEED_DIGEST
    finally:
        again.extensions["sandbox"].db.engine.dispose()
