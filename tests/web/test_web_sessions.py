"""Sign-ins kept on the server: a cookie copied before a sign-out (or a reset of the world) signs
nobody in afterwards, and the check costs one primary-key lookup per request that relies on a
sign-in and none for an ESPI call."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import ADMIN_KEY
from sqlalchemy import event, select, update
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)
from web.helpers import csrf, sb_of, text
from web.oauth_steps import BASIC, sign_in

from sandbox import create_app
from sandbox.core.models import WebSession

COOKIE = "session"


def staff_sign_in(client, slug="bayview"):
    r = client.post(
        f"/dc/{slug}/admin/login",
        data={"csrf_token": csrf(text(client.get(f"/dc/{slug}/admin/"))), "username": "staff", "password": "staff"},
    )
    assert r.status_code == 303


def developer_sign_up(client, slug="bayview"):
    page = text(client.get(f"/dc/{slug}/developer/"))
    r = client.post(
        f"/dc/{slug}/developer/signup",
        data={"csrf_token": csrf(page), "name": "Ann", "email": "ann@example.com", "password": "correct horse"},
    )
    assert r.status_code == 303


# role -> (sign in, a page only a signed-in user of the role sees, what it says, the sign-out path)
ROLES = {
    "customer": (sign_in, "/dc/bayview/sharing", "Sharing", "/dc/bayview/logout"),
    "staff": (staff_sign_in, "/dc/bayview/admin/applications", "Third parties", "/dc/bayview/admin/logout"),
    "developer": (developer_sign_up, "/dc/bayview/developer/apps/new", "Register", "/dc/bayview/developer/logout"),
}


def copy_of(client) -> str:
    return client.get_cookie(COOKIE).value


def with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def signed_in(client, page: str) -> bool:
    return client.get(page).status_code == 200


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, client, role):
    enter, page, says, leave = ROLES[role]
    enter(client)
    r = client.get(page)
    assert r.status_code == 200 and says in text(r)
    copied = copy_of(client)
    assert signed_in(with_cookie(app, copied), page)  # the copy works while the sign-in lasts
    token = csrf(text(client.get(page)))
    assert client.post(leave, data={"csrf_token": token}).status_code == 303
    assert not signed_in(client, page)
    assert not signed_in(with_cookie(app, copied), page)
    with sb_of(app).db.sessions() as s:
        assert s.scalars(select(WebSession).where(WebSession.role == role)).all() == []


def test_signing_out_at_one_utility_leaves_the_other(app, client):
    sign_in(client, "bayview")
    sign_in(client, "lakeshore")
    copied = copy_of(client)
    client.post("/dc/bayview/logout", data={"csrf_token": csrf(text(client.get("/dc/bayview/sharing")))})
    other = with_cookie(app, copied)
    assert not signed_in(other, "/dc/bayview/sharing")
    assert signed_in(other, "/dc/lakeshore/sharing")


def test_signing_in_again_ends_the_earlier_sign_in(app, client):
    sign_in(client)
    earlier = copy_of(client)
    sign_in(client)
    assert signed_in(client, "/dc/bayview/sharing")
    assert not signed_in(with_cookie(app, earlier), "/dc/bayview/sharing")
    with sb_of(app).db.sessions() as s:
        assert len(s.scalars(select(WebSession)).all()) == 1


def test_a_control_api_reset_ends_every_sign_in(app, client):
    """The reset keeps the session secret, so the copied cookie's signature stays valid: only the
    server's record says it has ended (the reset drops every table, this one with them)."""
    for role in ROLES.values():
        role[0](client)
    copied = copy_of(client)
    r = client.post("/sandbox-api/reset", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200
    other = with_cookie(app, copied)
    for _, page, _, _ in ROLES.values():
        assert not signed_in(other, page), page


def _app_on(path, **config):
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{path}",
            "CUSTOMERS": 1,
            "TESTING": True,
            "SECRET_KEY": "kept-across-resets",
            **config,
        }
    )


@pytest.mark.parametrize("how", ["--reset", "flask reset"])
def test_a_reset_at_start_or_from_the_command_line_ends_every_sign_in(tmp_path, how):
    first = _app_on(tmp_path / "w.db")
    client = first.test_client()
    sign_in(client)
    copied = copy_of(client)
    if how == "flask reset":
        assert first.test_cli_runner().invoke(args=["reset", "--yes"]).exit_code == 0
    sb_of(first).db.engine.dispose()
    second = _app_on(tmp_path / "w.db", RESET=how == "--reset")
    try:
        assert not signed_in(with_cookie(second, copied), "/dc/bayview/sharing")
        again = second.test_client()
        sign_in(again)  # the same secret key: a new sign-in works
        assert signed_in(again, "/dc/bayview/sharing")
    finally:
        sb_of(second).db.engine.dispose()


def test_a_sign_in_ends_after_the_session_lifetime(app, client):
    sign_in(client)
    assert signed_in(client, "/dc/bayview/sharing")
    old = (
        dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - app.permanent_session_lifetime - dt.timedelta(seconds=1)
    )
    with sb_of(app).db.transaction() as s:
        s.execute(update(WebSession).values(signed_in_at=old))
    assert not signed_in(client, "/dc/bayview/sharing")


def test_a_cookie_of_the_earlier_form_signs_nobody_in(client):
    """Before sign-ins were kept on the server the cookie held the customer's id itself."""
    with client.session_transaction() as s:
        s["customer"] = {"bayview": 1}
        s["staff"] = {"bayview": "staff"}
    assert not signed_in(client, "/dc/bayview/sharing")
    assert not signed_in(client, "/dc/bayview/admin/applications")


def test_a_sign_in_costs_one_lookup_and_an_espi_call_none(app, client):
    statements: list[str] = []
    engine = sb_of(app).db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sign_in(client)
    token = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": BASIC}
    ).get_json()["access_token"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert signed_in(client, "/dc/bayview/sharing")
        assert len([s for s in statements if "web_session" in s]) == 1
        statements.clear()
        r = client.get("/dc/bayview/espi/1_1/resource/ReadServiceStatus", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert not [s for s in statements if "web_session" in s]
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_sign_ins_end_on_postgresql_too(postgres_url, clock):  # noqa: F811  (the session's throw-away cluster)
    app = create_app(
        {"DATABASE_URL": postgres_url, "CUSTOMERS": 1, "RESET": True, "TESTING": True, "ADMIN_KEY": ADMIN_KEY},
        clock=clock,
    )
    try:
        client = app.test_client()
        sign_in(client)
        copied = copy_of(client)
        client.post("/dc/bayview/logout", data={"csrf_token": csrf(text(client.get("/dc/bayview/sharing")))})
        assert not signed_in(with_cookie(app, copied), "/dc/bayview/sharing")
        sign_in(client)
        copied = copy_of(client)
        assert client.post("/sandbox-api/reset", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
        assert not signed_in(with_cookie(app, copied), "/dc/bayview/sharing")
    finally:
        sb_of(app).db.engine.dispose()
