"""World templates on PostgreSQL: a world copied from a template (and one reset through the control API,
which empties the tables with TRUNCATE ... RESTART IDENTITY) is the generated one, row for row, and the
sequences moved past the ids the copy gave, so rows made after get new ones."""

from __future__ import annotations

import pytest
from conftest import FIXED_NOW
from sqlalchemy import func, select
from test_postgres import postgres_url  # noqa: F401  (the throw-away cluster of the session)

from core.test_world_templates import unscheduled
from sandbox import create_app
from sandbox.core import secrets
from sandbox.core.clock import Clock
from sandbox.core.models import Customer, UsagePoint, Utility
from sandbox.services import world as world_service

pytestmark = pytest.mark.postgres
KEY = "pg-key"


def _app(url: str, cache, reset: bool):
    clock = Clock()
    clock.freeze(FIXED_NOW)
    return create_app(
        {"DATABASE_URL": url, "CUSTOMERS": 2, "RESET": reset, "ADMIN_KEY": KEY, "WORLD_CACHE": str(cache)}, clock=clock
    )


def _people(app) -> list[tuple]:
    with app.extensions["sandbox"].db.sessions() as s:
        return [
            tuple(unscheduled(r._mapping))
            for m in (Utility, Customer, UsagePoint)
            for r in s.execute(select(*m.__table__.columns).order_by(m.id))
        ]


def test_a_copied_world_on_postgresql(postgres_url, tmp_path, monkeypatch):  # noqa: F811
    made = _app(postgres_url, tmp_path, reset=True)  # generated, and kept as a template
    generated = _people(made)
    made.extensions["sandbox"].db.engine.dispose()
    monkeypatch.setattr(secrets, "generate_password_hash", lambda *a: pytest.fail("hashed again"))  # copied, not made
    app = _app(postgres_url, tmp_path, reset=True)
    assert _people(app) == generated
    client = app.test_client()
    assert client.post("/sandbox-api/reset", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert _people(app) == generated
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        customers, points = s.scalar(select(func.max(Customer.id))), s.scalar(select(func.max(UsagePoint.id)))
    usernames = world_service.add_customers(sb.db, sb.require_world(), "bayview", 1)
    with sb.db.sessions() as s:
        added = s.scalars(select(Customer).where(Customer.username == usernames[0])).one()
        assert added.id == customers + 1 and added.usage_points[0].id == points + 1  # past every copied id
        assert s.scalar(select(func.count(Utility.id))) == len(sb.require_world().utilities)
        s.add(Utility(slug="extra", name="Extra"))  # the utility sequence moved past the copied ids too
        s.flush()
    sb.db.engine.dispose()
