"""The utility staff view through the Flask test client."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from espi.checks import SAMPLES
from sqlalchemy import func, select
from web.helpers import demo_grant, sb_of, text, token_from

from sandbox.core.models import (
    Application,
    ApplicationStatusChange,
    Customer,
    ImportedReading,
    UsagePoint,
)
from sandbox.services.dmd import usage_document

token = token_from("/dc/bayview/admin/")


def staff_login(client, slug="bayview", username="staff", password="staff"):
    return client.post(
        f"/dc/{slug}/admin/login",
        data={"csrf_token": token(client, f"/dc/{slug}/admin/"), "username": username, "password": password},
    )


def customers(app, slug="bayview") -> list[Customer]:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Customer).where(Customer.utility.has(slug=slug)).order_by(Customer.number)).all()


def demo_app(app, slug="bayview") -> Application:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Application).where(Application.utility.has(slug=slug), Application.role == "third_party")
        ).one()


def test_staff_view_needs_the_staff_login(client):
    html = text(client.get("/dc/bayview/admin/"))
    assert "staff sign-in" in html.lower() and "<code>staff</code>" in html
    assert client.get("/dc/bayview/admin/applications").status_code == 302
    r = staff_login(client, password="demo")
    assert r.status_code == 401 and "do not match" in text(r)
    assert client.get("/dc/bayview/admin").status_code == 308  # /admin -> /admin/


def test_a_customer_session_is_not_a_staff_session_and_staff_is_per_utility(client):
    client.post(
        "/dc/bayview/login",
        data={
            "csrf_token": token(client, "/dc/bayview/"),
            "method": "password",
            "username": "demo",
            "password": "demo",
        },
    )
    assert client.get("/dc/bayview/admin/applications").status_code == 302
    assert staff_login(client).status_code == 303
    assert client.get("/dc/bayview/admin/applications").status_code == 200
    assert client.get("/dc/lakeshore/admin/applications").status_code == 302
    client.post("/dc/bayview/admin/logout", data={"csrf_token": token(client)})
    assert client.get("/dc/bayview/admin/applications").status_code == 302
    assert "Your account" in text(client.get("/dc/bayview/"))  # the customer is still signed in


def test_staff_login_locks_after_five_failures(client):
    for _ in range(4):
        assert staff_login(client, password="x").status_code == 401
    assert staff_login(client, password="x").status_code == 429
    assert staff_login(client).status_code == 429


@pytest.mark.parametrize("query", ["last_name", "account_number", "street", "postal_code", "full_name"])
def test_find_customers_by_name_account_or_address(client, app, query):
    staff_login(client)
    target = customers(app)[2]
    q = {
        "last_name": target.last_name,
        "account_number": target.account_number,
        "street": target.street.split(" ", 1)[1],
        "postal_code": target.postal_code,
        "full_name": f"{target.first_name} {target.last_name}",
    }[query]
    html = text(client.get("/dc/bayview/admin/", query_string={"q": q}))
    table = html.split('id="customers"')[1]
    assert f"/customers/{target.id}" in table
    for other in customers(app, "lakeshore"):
        assert f'/customers/{other.id}"' not in table  # only this utility's customers


def test_search_matches_nothing_for_nonsense(client):
    staff_login(client)
    assert "No customer matches." in text(client.get("/dc/bayview/admin/?q=zzzqqq%25"))


def test_customer_page_shows_usage_points_and_authorizations(client, app):
    staff_login(client)
    demo = customers(app)[0]
    auth = demo_grant(app)
    html = text(client.get(f"/dc/bayview/admin/customers/{demo.id}"))
    with sb_of(app).db.sessions() as s:
        ups = s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id)).all()
    for up in ups:
        assert f'data-usage-point="{up.id}"' in html and up.uuid in html
    assert f'data-authorization="{auth.id}"' in html and "demo-third-party" in html
    other = customers(app, "lakeshore")[0]
    assert client.get(f"/dc/bayview/admin/customers/{other.id}").status_code == 404


def test_block_and_unblock_a_third_party(client, app, clock):
    staff_login(client)
    a = demo_app(app)
    assert "production" in text(client.get("/dc/bayview/admin/applications"))
    r = client.post(f"/dc/bayview/admin/applications/{a.id}/block", data={"csrf_token": token(client)})
    assert r.status_code == 303
    assert demo_app(app).status == "blocked"
    html = text(client.get("/dc/bayview/admin/applications"))
    assert "is blocked" in html and "Unblock" in html
    again = client.post(
        f"/dc/bayview/admin/applications/{a.id}/block", data={"csrf_token": token(client)}, follow_redirects=True
    )
    assert "already blocked" in text(again)
    client.post(f"/dc/bayview/admin/applications/{a.id}/unblock", data={"csrf_token": token(client)})
    assert demo_app(app).status == "production"  # the status it had
    with sb_of(app).db.sessions() as s:
        changes = s.scalars(select(ApplicationStatusChange).order_by(ApplicationStatusChange.id)).all()
    assert [(c.old_status, c.new_status, c.changed_by) for c in changes] == [
        ("production", "blocked", "staff"),
        ("blocked", "production", "staff"),
    ]
    assert changes[0].changed_at == clock.now().replace(tzinfo=None)
    other = demo_app(app, "lakeshore")
    assert (
        client.post(f"/dc/bayview/admin/applications/{other.id}/block", data={"csrf_token": token(client)}).status_code
        == 404
    )
    assert demo_app(app, "lakeshore").status == "production"


def test_block_needs_staff_and_csrf(client, app):
    a = demo_app(app)
    client.post(f"/dc/bayview/admin/applications/{a.id}/block", data={"csrf_token": token(client)})
    staff_login(client)
    assert client.post(f"/dc/bayview/admin/applications/{a.id}/block").status_code == 400
    assert demo_app(app).status == "production"


def _imported(app, customer_id):
    with sb_of(app).db.sessions() as s:
        ups = s.scalars(select(UsagePoint).where(UsagePoint.customer_id == customer_id)).all()
        return [u for u in ups if u.imported], s.scalar(select(func.count(ImportedReading.id)))


def upload(client, customer_id, data: bytes, name="file.xml", with_token=True):
    form = {"file": (io.BytesIO(data), name)}
    if with_token:
        form["csrf_token"] = token(client, f"/dc/bayview/admin/customers/{customer_id}")
    return client.post(
        f"/dc/bayview/admin/customers/{customer_id}/import", data=form, content_type="multipart/form-data"
    )


def test_import_a_green_button_file_for_a_customer(client, app):
    sb = sb_of(app)
    demo, target = customers(app)[0], customers(app)[1]
    data = b"".join(usage_document(sb, demo.id, None, dt.date(2025, 6, 1), dt.date(2025, 6, 3), True, "http://x.test"))
    staff_login(client)
    r = upload(client, target.id, data)
    assert r.status_code == 200, text(r)[:300]
    ups, readings = _imported(app, target.id)
    assert len(ups) == data.count(b"<espi:UsagePoint>") >= 2 and readings > 0
    assert f"Imported {len(ups)} usage point(s) with {readings} readings." in text(r)
    assert all(f'data-usage-point="{u.id}"' in text(r) for u in ups)
    # the customer sees it on their home page
    client.post(
        "/dc/bayview/login",
        data={
            "csrf_token": token(client, "/dc/bayview/"),
            "method": "password",
            "username": target.username,
            "password": "password",
        },
    )
    home = text(client.get("/dc/bayview/"))
    assert all(f'data-usage-point="{u.id}"' in home for u in ups) and "Loaded from a Green Button file" in home


def test_a_refused_import_shows_why_and_stores_nothing(client, app):
    target = customers(app)[1]
    staff_login(client)
    r = upload(client, target.id, (SAMPLES / "Customer-Subscription-Feed-Anonymized.xml").read_bytes())
    assert r.status_code == 400 and "Import refused, nothing was stored" in text(r)
    assert _imported(app, target.id) == ([], 0)
    r = upload(client, target.id, b"<not xml")
    assert r.status_code == 400 and "not well-formed" in text(r)
    r = upload(client, target.id, b"", name="")
    assert r.status_code == 400 and "file: choose" in text(r)
    assert _imported(app, target.id) == ([], 0)


def test_an_oversize_upload_is_413_and_the_token_is_still_checked(client, app, monkeypatch):
    import sandbox.services.dmd as dmd

    target = customers(app)[1]
    staff_login(client)
    assert upload(client, target.id, b"<feed/>", with_token=False).status_code == 400
    monkeypatch.setattr(dmd, "MAX_IMPORT_BYTES", 2000)
    assert upload(client, target.id, b"x" * 100_000).status_code == 413
    assert upload(client, target.id, b" " * 2001).status_code == 413
    assert _imported(app, target.id) == ([], 0)


def test_staff_can_see_and_clear_a_customer_sign_in_lock(client, app):
    demo = customers(app)[0]
    for _ in range(5):
        client.post(
            "/dc/bayview/login",
            data={
                "csrf_token": token(client, "/dc/bayview/"),
                "method": "password",
                "username": "demo",
                "password": "nope",
            },
        )
    staff_login(client)
    html = text(client.get(f"/dc/bayview/admin/customers/{demo.id}"))
    assert "locked until" in html
    client.post(f"/dc/bayview/admin/customers/{demo.id}/unlock", data={"csrf_token": token(client)})
    assert "normal" in text(client.get(f"/dc/bayview/admin/customers/{demo.id}"))
    r = client.post(
        "/dc/bayview/login",
        data={
            "csrf_token": token(client, "/dc/bayview/"),
            "method": "password",
            "username": "demo",
            "password": "demo",
        },
    )
    assert r.status_code == 303


def test_put_on_hold_and_release(client, app):
    staff_login(client)
    a = demo_app(app)
    client.post(f"/dc/bayview/admin/applications/{a.id}/hold", data={"csrf_token": token(client)})
    assert demo_app(app).status == "on_hold"
    html = text(client.get("/dc/bayview/admin/applications"))
    assert "is on hold" in html and "Release" in html
    refused = client.post(
        f"/dc/bayview/admin/applications/{a.id}/unblock", data={"csrf_token": token(client)}, follow_redirects=True
    )
    assert "cannot be unblocked" in text(refused) and demo_app(app).status == "on_hold"
    client.post(f"/dc/bayview/admin/applications/{a.id}/release", data={"csrf_token": token(client)})
    assert demo_app(app).status == "production"


def test_staff_approval_needs_the_finished_checklist(client, app):
    from sandbox.services import onboarding

    with sb_of(app).db.transaction() as s:
        a = s.scalars(
            select(Application)
            .where(Application.client_id == "demo-third-party")
            .where(Application.utility.has(slug="lakeshore"))
        ).one()
        a.status = "review"
        app_id = a.id
    staff_login(client, "lakeshore")
    page = text(client.get("/dc/lakeshore/admin/applications"))
    assert "Approve" in page and "when staff approve it" in page
    r = client.post(
        f"/dc/lakeshore/admin/applications/{app_id}/approve",
        data={"csrf_token": token(client, "/dc/lakeshore/admin/")},
        follow_redirects=True,
    )
    assert "cannot be approved yet" in text(r)
    with sb_of(app).db.sessions() as s:
        assert s.get(Application, app_id).status == "review"
        todo = [
            c.key
            for c in onboarding.checklist(
                s.get(Application, app_id),
                app.extensions["sandbox"].world.utility("lakeshore").profile,
                now=sb_of(app).clock.now(),
            )
        ]
    assert "terms" in todo
