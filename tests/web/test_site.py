"""The sandbox's own pages and the utility directory (Flask test client)."""

from __future__ import annotations

from sqlalchemy import func, select

from sandbox.core.models import Application, Authorization, Customer, UsagePoint


def test_healthz_and_version_header(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["status"] == "ok"
    assert r.headers["X-Sandbox-Version"] == r.json["version"]


def test_home_lists_every_utility_with_links(client, app):
    html = client.get("/").get_data(as_text=True)
    for u in app.extensions["sandbox"].world.utilities:
        assert u.name.replace("&", "&amp;") in html and f"/dc/{u.slug}/" in html
    assert "demo-secret" in html


def test_directory_and_postal_code_lookup(client):
    everyone = client.get("/utilities").json["utilities"]
    assert {u["slug"] for u in everyone} == {"bayview", "harbour", "lakeshore", "prairie", "trillium"}
    assert [u["slug"] for u in client.get("/utilities?postal_code=44113").json["utilities"]] == ["lakeshore"]
    assert [u["slug"] for u in client.get("/utilities?postal_code=s7k1a1").json["utilities"]] == ["prairie"]
    assert [u["slug"] for u in client.get("/utilities?postal_code=M5V 2T6").json["utilities"]] == ["trillium"]
    assert [u["slug"] for u in client.get("/utilities?postal_code=A1C 5H8").json["utilities"]] == ["harbour"]
    assert client.get("/utilities?postal_code=10001").json["utilities"] == []


def test_bad_postal_code_is_400_naming_it(client):
    r = client.get("/utilities?postal_code=%3Cscript%3E")
    assert r.status_code == 400 and "postal_code" in r.json["error_description"]


def test_seeded_world_has_demo_fixtures(app):
    db = app.extensions["sandbox"].db
    n = len(app.extensions["sandbox"].require_world().utilities)
    with db.sessions() as s:
        assert s.scalar(select(func.count(Customer.id)).where(Customer.number >= 0)) == n * (3 + 1)
        for slug in ("bayview", "lakeshore", "prairie", "trillium"):
            demo = s.scalars(
                select(Customer)
                .join(Customer.utility)
                .where(Customer.username == "demo")
                .where(Customer.utility.has(slug=slug))
            ).one()
            commodities = [up.commodity for up in demo.usage_points]
            assert commodities[:2] == ["electricity", "gas"]
            assert demo.usage_points[0].params["solar_kw"] > 0
            assert demo.is_test
        apps = s.scalars(select(Application).where(Application.client_id == "demo-third-party")).all()
        assert len(apps) == n and {a.status for a in apps} == {"production"}
        assert s.scalars(select(Authorization)).all() == []  # no grant is seeded: consents are the customers' own
        assert s.scalar(select(func.count(UsagePoint.id))) >= n * 4


def test_password_is_stored_hashed(app):
    from werkzeug.security import check_password_hash

    with app.extensions["sandbox"].db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.username == "demo")).first()
        assert demo.password_hash != "demo" and check_password_hash(demo.password_hash, "demo")
