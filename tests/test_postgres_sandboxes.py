"""Private sandboxes on PostgreSQL: each a schema of the deployment's database (sb_<id>), reached through
the connection's search_path; made, used, reset and dropped without touching the default world."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox import create_app
from sandbox.core.db import SCHEMA_VERSION
from sandbox.services.sandboxes import READY_SCHEMAS, READY_WORLD_AGE, READY_WORLDS, WORLD_PREFIX

pytestmark = pytest.mark.postgres
KEY = "postgres-operator-key-0123456789abcdef"
H = {"Authorization": f"Bearer {KEY}"}
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


def _schemas(url: str, prefix: str = "sb") -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            found = c.scalars(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"), {"p": prefix + "_"}
            )
            return set(found)
    finally:
        engine.dispose()


def test_a_private_sandbox_is_a_schema_of_its_own(postgres_url, clock):  # noqa: F811
    app = create_app({"DATABASE_URL": postgres_url, "CUSTOMERS": 1, "RESET": True, "ADMIN_KEY": KEY}, clock=clock)
    c = app.test_client()
    try:
        registry = app.extensions["sandboxes"]
        made = c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 1}).get_json()
        registry.refilling.join(60)  # schemas of empty tables made ahead for the next ones
        ready = {n for n in _schemas(postgres_url, "sbready") if n.startswith(f"sbready_{SCHEMA_VERSION}_")}
        assert len(ready) == READY_SCHEMAS
        other = c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 0}).get_json()
        assert len(ready - _schemas(postgres_url, "sbready")) == 1  # claimed one of them, renamed to its own
        assert {f"sb_{made['id']}", f"sb_{other['id']}"} <= _schemas(postgres_url)
        base, own = f"/s/{made['id']}", {"Authorization": f"Bearer {made['admin_key']}"}
        t = c.post(
            f"{base}/sandbox-api/authorizations",
            headers=own,
            json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
        ).get_json()
        feed = "/" + t["resourceURI"].split("/", 3)[3]
        bearer = {"Authorization": f"Bearer {t['access_token']}"}
        first = c.get(feed, headers=bearer)
        assert first.status_code == 200 and f"{base}/dc/bayview/".encode() in first.get_data()
        assert c.get(feed.replace(base, f"/s/{other['id']}"), headers=bearer).status_code == 401
        assert c.get(feed.replace(base, ""), headers=bearer).status_code == 401
        # a world's rebuild holds its own lock: another sandbox's reset goes on meanwhile
        import threading

        other_reset: list[int] = []
        with app.extensions["sandbox"].db.rebuilding():  # the default sandbox's world, held
            t = threading.Thread(
                target=lambda: other_reset.append(c.post(f"{base}/sandbox-api/reset", headers=own).status_code)
            )
            t.start()
            t.join(60)
        assert other_reset == [200]
        assert c.get(feed, headers=bearer).status_code == 401  # the reset forgot its token; the default's world stays
        assert c.get("/healthz").get_json()["utilities"] == 5
        assert c.delete(f"/sandbox-api/sandboxes/{made['id']}", headers=H).status_code == 204
        assert f"sb_{made['id']}" not in _schemas(postgres_url)
        assert c.get(f"{base}/healthz").status_code == 404
        assert c.get(f"/s/{other['id']}/healthz").status_code == 200
    finally:
        if app.extensions["sandboxes"].refilling is not None:
            app.extensions["sandboxes"].refilling.join(60)
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()


@pytest.fixture
def deployment(postgres_url, clock):  # noqa: F811
    """A deployment on the session's PostgreSQL: its app's test client, and its registry (closed after)."""
    app = create_app({"DATABASE_URL": postgres_url, "CUSTOMERS": 1, "RESET": True, "ADMIN_KEY": KEY}, clock=clock)
    registry = app.extensions["sandboxes"]
    try:
        yield app.test_client(), registry
    finally:
        if registry.refilling is not None:
            registry.refilling.join(60)
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()


def _rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def _consented_feed(c, made: dict) -> int:
    """The status of the sandbox's demo customer's feed, pulled with a token its admin key issued."""
    own = {"Authorization": f"Bearer {made['admin_key']}"}
    t = c.post(
        f"/s/{made['id']}/sandbox-api/authorizations",
        headers=own,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    ).get_json()
    return c.get(
        "/" + t["resourceURI"].split("/", 3)[3], headers={"Authorization": f"Bearer {t['access_token']}"}
    ).status_code


def test_a_sandbox_of_the_default_world_is_a_world_seeded_ahead_with_keys_of_its_own(postgres_url, deployment):  # noqa: F811
    c, registry = deployment
    first = c.post("/sandbox-api/sandboxes", headers=H, json={"label": "first"}).get_json()
    registry.refilling.join(60)
    ahead = _schemas(postgres_url, f"{WORLD_PREFIX}{SCHEMA_VERSION}")
    assert len(ahead) == READY_WORLDS
    second = c.post("/sandbox-api/sandboxes", headers=H, json={"label": "second"}).get_json()
    registry.refilling.join(60)
    claimed = ahead - _schemas(postgres_url, f"{WORLD_PREFIX}{SCHEMA_VERSION}")
    assert len(claimed) == 1 and f"sb_{second['id']}" in _schemas(postgres_url)
    # its own keys: nothing of the first sandbox's, or of the world made ahead beside it, opens it
    assert second["admin_key"] != first["admin_key"]
    assert second["demo"]["third_party"]["client_secret"] != first["demo"]["third_party"]["client_secret"]
    assert _consented_feed(c, second) == 200 and _consented_feed(c, first) == 200
    wrong = {"Authorization": f"Bearer {first['admin_key']}"}
    assert c.post(f"/s/{second['id']}/sandbox-api/reset", headers=wrong).status_code == 401
    # its marks are where a world made now would have them (nothing published while it waited is announced)
    marks = _rows(postgres_url, f'SELECT through FROM "sb_{second["id"]}".publication_mark ORDER BY utility_id')
    fresh = _rows(postgres_url, f'SELECT through FROM "sb_{first["id"]}".publication_mark ORDER BY utility_id')
    assert marks == fresh and len(marks) == 5
    assert c.get(f"/s/{second['id']}/healthz").get_json()["utilities"] == 5


def test_worlds_seeded_ahead_too_long_ago_are_dropped_not_claimed(postgres_url, deployment):  # noqa: F811
    c, registry = deployment
    c.post("/sandbox-api/sandboxes", headers=H, json={})
    registry.refilling.join(60)
    old, their_keys = set(), set()
    for name in _schemas(postgres_url, f"{WORLD_PREFIX}{SCHEMA_VERSION}"):
        head, _, rand = name.rsplit("_", 2)
        stale = f"{head}_{int(time.time() - READY_WORLD_AGE - 5)}_{rand}"
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text(f'ALTER SCHEMA "{name}" RENAME TO "{stale}"'))
        engine.dispose()
        old.add(stale)
        their_keys |= {k for (k,) in _rows(postgres_url, f'SELECT admin_key FROM "{stale}".world_state')}
    made = c.post("/sandbox-api/sandboxes", headers=H, json={}).get_json()
    assert not old & _schemas(postgres_url, WORLD_PREFIX.rstrip("_"))  # dropped...
    assert len(their_keys) == READY_WORLDS and made["admin_key"] not in their_keys  # ...not claimed
    assert _consented_feed(c, made) == 200


def test_a_reset_copies_the_people_from_the_template_schema_as_they_were_seeded(postgres_url, deployment):  # noqa: F811
    c, registry = deployment
    made = c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 2}).get_json()
    schema = f"sb_{made['id']}"
    people = f'SELECT id, uuid, username, postal_code FROM "{schema}".customer ORDER BY id'
    seeded = _rows(postgres_url, people)
    assert len(seeded) == 5 * 3 + 7 and _schemas(postgres_url, "sbtpl")  # 7 named identities; the template kept
    own = {"Authorization": f"Bearer {made['admin_key']}"}
    added = c.post(f"/s/{made['id']}/sandbox-api/seed", headers=own, json={"utility": "bayview", "customers": 2})
    assert added.status_code == 200 and len(_rows(postgres_url, people)) == 5 * 3 + 7 + 2
    assert c.post(f"/s/{made['id']}/sandbox-api/reset", headers=own).status_code == 200
    assert _rows(postgres_url, people) == seeded  # ids included
    apps = _rows(postgres_url, f'SELECT min(id), count(*) FROM "{schema}".application')
    assert apps == [(1, 15)]  # ids start again at 1, as in new tables
    assert _consented_feed(c, made) == 200
