"""Private sandboxes on PostgreSQL: each a schema of the deployment's database (sb_<id>), reached through
the connection's search_path; made, used, reset and dropped without touching the default world."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox import create_app
from sandbox.core.db import SCHEMA_VERSION
from sandbox.services.sandboxes import READY_SCHEMAS

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
        assert c.get("/healthz").get_json()["utilities"] == 4
        assert c.delete(f"/sandbox-api/sandboxes/{made['id']}", headers=H).status_code == 204
        assert f"sb_{made['id']}" not in _schemas(postgres_url)
        assert c.get(f"{base}/healthz").status_code == 404
        assert c.get(f"/s/{other['id']}/healthz").status_code == 200
    finally:
        if app.extensions["sandboxes"].refilling is not None:
            app.extensions["sandboxes"].refilling.join(60)
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()
