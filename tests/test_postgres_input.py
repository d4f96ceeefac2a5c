"""Text PostgreSQL cannot store (a NUL character) and ids beyond its BIGINT, sent to a sandbox on
PostgreSQL through every way a request carries text: query strings, form fields, JSON bodies, path
segments and client credentials. Each is refused with 400 naming the field (404 for the ids) before it
reaches the database, nothing is stored, and the calls around them (and the request log that records
the refused ones) go on working. The throw-away cluster is test_postgres's."""

from __future__ import annotations

import base64

import pytest
from conftest import FIXED_NOW
from sqlalchemy import func, select
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)
from web.helpers import csrf, text
from web.oauth_steps import BASIC, sign_in

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.core.models import Application, Authorization, Developer, LoginThrottle

pytestmark = pytest.mark.postgres
KEY = "postgres-input-key"
A = {"Authorization": f"Bearer {KEY}"}
SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
ROOT = "/dc/bayview/espi/1_1/resource"


@pytest.fixture(scope="module")
def pg_app(postgres_url):  # noqa: F811
    clock = Clock()
    clock.freeze(FIXED_NOW)
    app = create_app(
        {"DATABASE_URL": postgres_url, "CUSTOMERS": 1, "RESET": True, "TESTING": True, "ADMIN_KEY": KEY}, clock=clock
    )
    yield app
    app.extensions["sandbox"].db.engine.dispose()


@pytest.fixture
def client(pg_app):
    return pg_app.test_client()


def rows(app, model) -> int:
    with app.extensions["sandbox"].db.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def named(r, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.data[:300])
    body = r.get_json()
    assert body.get("field", field) == field and body["error_description"].startswith(f"{field}: holds a NUL"), body


def test_a_nul_in_a_query_parameter(client):
    named(client.get("/sandbox-api/requests?client_id=demo-third-party%00", headers=A), "client_id")
    named(client.get("/sandbox-api/notifications?utility=bay%00view", headers=A), "utility")
    named(
        client.get("/dc/bayview/oauth/authorize?response_type=code&scope=x&client_id=demo-third-party%00"), "client_id"
    )
    cc = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": BASIC}
    ).get_json()["access_token"]
    named(
        client.get(f"{ROOT}/Authorization?published-min=%00", headers={"Authorization": f"Bearer {cc}"}),
        "published-min",
    )
    assert client.get("/sandbox-api/requests?client_id=demo-third-party", headers=A).status_code == 200


def test_a_nul_in_a_path_segment(client):
    named(client.get("/sandbox-api/utilities/bayview/customers/de%00mo/data-quality", headers=A), "username")
    named(client.post("/sandbox-api/authorizations/a%00b/revoke", headers=A), "authorization_id")
    named(client.get(f"{ROOT}/Authorization/a%00b", headers=A), "authorization_id")
    named(client.get(f"{ROOT}/ApplicationInformation/a%00b", headers=A), "application_id")
    named(client.get("/dc/bayview/RetailCustomer/a%00b/ThirdPartyList"), "customer_uuid")


def test_a_nul_in_a_form_field_stores_nothing(pg_app, client):
    named(
        client.post(
            "/dc/bayview/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "demo-third-party\x00", "client_secret": "x"},
        ),
        "client_id",
    )
    page = text(client.get("/dc/bayview/"))
    throttles = rows(pg_app, LoginThrottle)
    named(
        client.post(
            "/dc/bayview/login",
            data={"csrf_token": csrf(page), "method": "password", "username": "de\x00mo", "password": "demo"},
        ),
        "username",
    )
    assert rows(pg_app, LoginThrottle) == throttles  # not even a failed attempt is counted
    developers = rows(pg_app, Developer)
    page = text(client.get("/dc/bayview/developer/"))
    named(
        client.post(
            "/dc/bayview/developer/signup",
            data={"csrf_token": csrf(page), "name": "Ann\x00", "email": "ann@example.com", "password": "correct horse"},
        ),
        "name",
    )
    assert rows(pg_app, Developer) == developers
    sign_in(client)  # the same forms still work
    assert rows(pg_app, Developer) == developers


def test_a_nul_in_a_json_body_stores_nothing(pg_app, client):
    apps, auths = rows(pg_app, Application), rows(pg_app, Authorization)
    r = client.post(
        "/dc/bayview/espi/1_1/register",
        json={"client_name": "Grid\x00Graph", "redirect_uris": ["https://gg.example.com/cb"]},
        headers={"Accept": "application/json"},
    )
    named(r, "client_name")
    named(
        client.post(
            "/sandbox-api/authorizations",
            headers=A,
            json={"utility": "bayview", "customer": "demo\x00", "client_id": "demo-third-party", "scope": SCOPE},
        ),
        "customer",
    )
    named(
        client.put(
            "/sandbox-api/utilities/bayview/third-parties/demo-third-party/notify-uri",
            headers=A,
            json={"notify_uri": "http://127.0.0.1:9/n\x00"},
        ),
        "notify_uri",
    )
    assert (rows(pg_app, Application), rows(pg_app, Authorization)) == (apps, auths)
    r = client.post(
        "/sandbox-api/authorizations",
        headers=A,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200 and rows(pg_app, Authorization) == auths + 1


@pytest.mark.parametrize(
    "credentials",
    [b"demo-third-party\x00:demo-secret", b"demo-third-party%00:demo-secret", b"demo-third-party:demo-secret%00"],
)
def test_a_nul_in_client_credentials(client, credentials):
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )
    assert r.status_code == 400 and r.get_json()["field"] == "Authorization"


def test_refused_calls_are_in_the_request_log(client):
    named(client.get(f"{ROOT}/ReadServiceStatus/x%00y"), "path")
    assert client.get(f"{ROOT}/ReadServiceStatus").status_code == 401  # answered and logged after it
    calls = client.get("/sandbox-api/requests?utility=bayview", headers=A).get_json()["requests"]
    paths = [c["path"] for c in calls]
    assert f"{ROOT}/ReadServiceStatus/x%00y" in paths and f"{ROOT}/ReadServiceStatus" in paths


def test_ids_beyond_bigint_match_no_route(client):
    page = text(client.get("/dc/bayview/admin/"))
    r = client.post(
        "/dc/bayview/admin/login", data={"csrf_token": csrf(page), "username": "staff", "password": "staff"}
    )
    assert r.status_code == 303
    for big in (2**63, 2**64):
        assert client.get(f"/dc/bayview/admin/customers/{big}").status_code == 404
        assert (
            client.post(f"/dc/bayview/admin/applications/{big}/approve", data={"csrf_token": csrf(page)}).status_code
            == 404
        )
