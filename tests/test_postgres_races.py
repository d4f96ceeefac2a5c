"""Races and long inputs on PostgreSQL (the throw-away cluster of test_postgres.py): two overlapping
exchanges of one authorization code, two overlapping refreshes of one rotating refresh token, two
overlapping revocations of one authorization (by the third party and by the utility), and
300-character names at every sign-in form. Requests run in threads released together by a barrier,
each with its own test client (and so its own app and request context); psycopg waits outside the
GIL, so the two transactions really overlap in the database."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from conftest import FIXED_NOW
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)
from web.helpers import csrf, overlapping, text

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.services.signin import BAD_LOGIN

pytestmark = pytest.mark.postgres

SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
CALLBACK = "http://127.0.0.1:9999/callback"
BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()
ROUNDS = 5


@pytest.fixture(scope="module")
def pg_app(postgres_url):  # noqa: F811
    clock = Clock()
    clock.freeze(FIXED_NOW)
    app = create_app({"DATABASE_URL": postgres_url, "CUSTOMERS": 1, "RESET": True, "TESTING": True}, clock=clock)
    yield app
    app.extensions["sandbox"].db.engine.dispose()


@pytest.fixture(scope="module")
def customer(pg_app):
    client = pg_app.test_client()
    page = text(client.get("/dc/bayview/"))
    r = client.post(
        "/dc/bayview/login",
        data={"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page)},
    )
    assert r.status_code == 303
    return client


def get_code(client) -> str:
    url = "/dc/bayview/oauth/authorize?" + urlencode(
        {
            "client_id": "demo-third-party",
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": SCOPE,
            "state": "pg",
        }
    )
    html = text(client.get(url))
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    r = client.post(url, data={"csrf_token": csrf(html), "decision": "accept", "usage_point": ids})
    assert r.status_code == 302, text(r)[:300]
    return dict(parse_qsl(urlsplit(r.headers["Location"]).query))["code"]


def token(client, **data):
    r = client.post("/dc/bayview/oauth/token", data=data, headers={"Authorization": BASIC})
    return r.status_code, r.get_json(silent=True) or {"raw": text(r)[:300]}


def in_parallel(app, fn, n: int = 2) -> list:
    """fn(client) in n threads, each with its own test client, released together."""
    clients = [app.test_client() for _ in range(n)]
    return overlapping(lambda i: fn(clients[i]), n)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_exchanges_of_one_code_one_wins_on_postgresql(pg_app, customer, round_):
    code = get_code(customer)
    results = in_parallel(pg_app, lambda c: token(c, grant_type="authorization_code", code=code, redirect_uri=CALLBACK))
    assert sorted(s for s, _ in results) == [200, 400], results
    (loser,) = [body for s, body in results if s != 200]
    assert loser["error"] == "invalid_grant" and "access_token" not in loser, loser


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_refreshes_of_a_rotating_token_one_wins_on_postgresql(pg_app, customer, round_):
    status, t = token(
        pg_app.test_client(), grant_type="authorization_code", code=get_code(customer), redirect_uri=CALLBACK
    )
    assert status == 200, t
    old = t["refresh_token"]
    results = in_parallel(pg_app, lambda c: token(c, grant_type="refresh_token", refresh_token=old))
    assert sorted(s for s, _ in results) == [200, 400], results
    (winner,) = [body for s, body in results if s == 200]
    (loser,) = [body for s, body in results if s != 200]
    assert loser["error"] == "invalid_grant" and "refresh_token" not in loser, loser
    client = pg_app.test_client()
    assert token(client, grant_type="refresh_token", refresh_token=old)[0] == 400
    assert token(client, grant_type="refresh_token", refresh_token=winner["refresh_token"])[0] == 200


def client_token(client, credentials: bytes) -> str:
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )
    assert r.status_code == 200, text(r)[:300]
    return r.get_json()["access_token"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_revocations_one_ends_it_and_its_reason_stays_on_postgresql(pg_app, customer, round_):
    """The third party and the utility's admin client DELETE one authorization at once: one gets 204,
    the other 400 (already ended), and the refusal a customer token gets next names the winner."""
    status, t = token(
        pg_app.test_client(), grant_type="authorization_code", code=get_code(customer), redirect_uri=CALLBACK
    )
    assert status == 200, t
    path = urlsplit(t["authorizationURI"]).path
    setup = pg_app.test_client()
    callers = [
        (client_token(setup, b"demo-third-party:demo-secret"), "authorization_revoked_by_third_party"),
        (client_token(setup, b"data-custodian:data-custodian-secret"), "authorization_revoked_by_utility"),
    ]
    clients = [pg_app.test_client() for _ in callers]
    answers = overlapping(lambda i: clients[i].delete(path, headers={"Authorization": f"Bearer {callers[i][0]}"}), 2)
    assert sorted(r.status_code for r in answers) == [204, 400], [(r.status_code, text(r)[:200]) for r in answers]
    (winner,) = [reason for (_, reason), r in zip(callers, answers) if r.status_code == 204]
    (loser,) = [r for r in answers if r.status_code == 400]
    assert "already ended" in loser.get_json()["error_description"]
    after = pg_app.test_client().get(
        urlsplit(t["resourceURI"]).path, headers={"Authorization": f"Bearer {t['access_token']}"}
    )
    assert after.status_code == 401 and after.headers["X-Sandbox-Reason"] == winner


LONG = "u" * 300


def test_a_300_character_name_is_refused_not_an_error_on_postgresql(pg_app):
    client = pg_app.test_client()
    page = text(client.get("/dc/bayview/"))
    cases = [
        ("customer", "/dc/bayview/login", {"method": "password", "username": LONG, "password": "demo"}),
        ("customer unicode", "/dc/bayview/login", {"method": "password", "username": "ü" * 300, "password": "x"}),
        ("account", "/dc/bayview/login", {"method": "account", "account_number": "9" * 300, "postal_code": "X" * 300}),
        ("staff", "/dc/bayview/admin/login", {"username": LONG, "password": "staff"}),
        ("developer", "/dc/bayview/developer/login", {"email": LONG + "@example.com", "password": "correct horse"}),
    ]
    for what, path, data in cases:
        r = client.post(path, data={**data, "csrf_token": csrf(page)})
        assert r.status_code in (400, 401), (what, r.status_code, text(r)[:300])
        if r.status_code == 401:
            assert BAD_LOGIN in text(r), what
