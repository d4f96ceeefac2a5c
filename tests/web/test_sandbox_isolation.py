"""The isolation matrix: every route of a private sandbox's route table, called with every kind of
credential a neighbouring sandbox gave out (its customer's and staff's and developer's sessions, its
access and refresh tokens, its client secret, its admin key), answers as it answers with none at all:
a neighbour's credential opens nothing. And the neighbour's own data never appears in the answers."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, urlsplit

import pytest
from conftest import ADMIN_KEY
from web.helpers import csrf

SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
REFUSED = {400, 401, 403, 404, 405, 409, 413, 415}


def _make(client, **body) -> dict:
    r = client.post("/sandbox-api/sandboxes", headers=H, json={"customers": 1, **body})
    assert r.status_code == 201
    return r.get_json()


def _session(client, name: str) -> str:
    return next(c.value for c in client._cookies.values() if c.key == name)


def _signed_in(app, base: str, name: str) -> dict[str, str]:
    """The session cookie of the demo customer, of the utility's staff and of a developer signed in at
    bayview of the sandbox at `base` (each in a browser of its own), by role."""
    out = {}
    client = app.test_client()
    page = client.get(f"{base}/dc/bayview/").get_data(as_text=True)
    form = {"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page)}
    assert client.post(f"{base}/dc/bayview/login", data=form).status_code == 303
    out["customer"] = _session(client, name)
    client = app.test_client()
    admin = client.get(f"{base}/dc/bayview/admin/").get_data(as_text=True)
    form = {"csrf_token": csrf(admin), "username": "staff", "password": "staff"}
    assert client.post(f"{base}/dc/bayview/admin/login", data=form).status_code in (302, 303)
    out["staff"] = _session(client, name)
    client = app.test_client()
    dev = client.get(f"{base}/dc/bayview/developer/").get_data(as_text=True)
    form = {"csrf_token": csrf(dev), "name": "Ann", "email": "ann@example.com", "password": "correct horse"}
    assert client.post(f"{base}/dc/bayview/developer/signup", data=form).status_code == 303
    out["developer"] = _session(client, name)
    return out


def _consent(client, made: dict) -> dict:
    r = client.post(
        f"{urlsplit(made['base_url']).path}/sandbox-api/authorizations",
        headers={"Authorization": f"Bearer {made['admin_key']}"},
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200
    return r.get_json()


@pytest.fixture
def neighbours(app, client):
    """(a's credentials, b's base path, b's path values, b's app): a is the neighbour whose credentials
    are tried at b."""
    a, b = _make(client, label="a"), _make(client, label="b")
    base_a, base_b = urlsplit(a["base_url"]).path, urlsplit(b["base_url"]).path
    sessions = _signed_in(app, base_a, f"session_{a['id']}")  # a's signed sessions, by role
    tokens_a, tokens_b = _consent(client, a), _consent(client, b)
    feed = client.get(
        urlsplit(tokens_b["resourceURI"]).path.replace("/Batch/Subscription/", "/Subscription/") + "/UsagePoint",
        headers={"Authorization": f"Bearer {tokens_b['access_token']}"},
    ).get_data(as_text=True)
    found = re.search(r"/UsagePoint/([0-9a-f-]{36})", feed)
    assert found, feed[:500]
    usage_point = found.group(1)
    secret_a = a["demo"]["third_party"]["client_secret"]
    credentials = {
        **{f"a's {role} session": {"Cookie": f"session_{b['id']}={value}"} for role, value in sessions.items()},
        "a's access token": {"Authorization": f"Bearer {tokens_a['access_token']}"},
        "a's refresh token": {"Authorization": f"Bearer {tokens_a['refresh_token']}"},
        "a's client secret": {
            "Authorization": "Basic " + base64.b64encode(f"demo-third-party:{secret_a}".encode()).decode()
        },
        "a's admin key": {"Authorization": f"Bearer {a['admin_key']}"},
    }
    values = {
        "slug": "bayview",
        "subscription_id": tokens_b["subscription_id"],
        "authorization_id": tokens_b["authorization_id"],
        "usage_point_id": usage_point,
        "client_id": "demo-third-party",
        "bulk_id": "demo-third-party",
        "username": "demo",
        "filename": "css/sandbox.css",
        "rest": "nothing-here",
        "action": "hold",
        "sandbox_id": b["id"],
    }
    private_b = app.extensions["private_sandboxes"].built(app.extensions["sandboxes"].get(b["id"]))
    controls = {"sessions": (base_a, a["id"], sessions), "token": tokens_a}
    return credentials, base_b, values, private_b, controls


def _url(base: str, rule, values: dict[str, str]) -> str:
    return base + ARGUMENT.sub(lambda m: quote(values.get(m.group(1), "1"), safe="/"), rule.rule)


def test_no_credential_of_a_neighbour_opens_any_route(app, neighbours):
    credentials, base_b, values, private_b, controls = neighbours
    tokens_a = controls["token"]
    calls = 0
    for rule in private_b.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(set(rule.methods) - {"HEAD", "OPTIONS"}):
            url = _url(base_b, rule, values)
            bare = app.test_client(use_cookies=False).open(url, method=method, data={})  # no credential at all
            for what, headers in credentials.items():
                # no cookie jar: the Cookie header goes as it is (a jar would write its own over it)
                r = app.test_client(use_cookies=False).open(url, method=method, data={}, headers=headers)
                calls += 1
                where = f"{method} {url} with {what}"
                if bare.status_code in REFUSED or bare.status_code in (302, 303):
                    assert r.status_code == bare.status_code or r.status_code in REFUSED, (where, r.status_code)
                    if bare.status_code in (302, 303):  # sent to sign in, as with no credential
                        assert r.headers.get("Location") == bare.headers.get("Location"), where
                body = r.get_data()
                assert tokens_a["access_token"].encode() not in body and tokens_a["refresh_token"].encode() not in body
    assert calls > 7 * 100  # every route of the table, each credential


def test_the_credentials_tried_do_open_their_own_sandbox(app, client, neighbours):
    """The controls of the matrix above (a refusal there would make it pass for the wrong reason): a's
    session cookie and access token open a's pages and data, and b's own token opens b's."""
    credentials, base_b, values, private_b, controls = neighbours
    base_a, a_id, sessions = controls["sessions"]
    pages = {
        "customer": "/dc/bayview/sharing",
        "staff": "/dc/bayview/admin/applications",
        "developer": "/dc/bayview/developer/apps/new",
    }
    for role, page in pages.items():
        cookie = {"Cookie": f"session_{a_id}={sessions[role]}"}
        r = app.test_client(use_cookies=False).get(base_a + page, headers=cookie)
        assert r.status_code == 200, (role, base_a + page, r.status_code, r.get_data()[:300])
        bare = app.test_client(use_cookies=False).get(base_a + page)
        assert bare.status_code in (302, 303), role  # the page is one a session opens
    tokens_a = controls["token"]
    r = client.get(
        urlsplit(tokens_a["resourceURI"]).path, headers={"Authorization": f"Bearer {tokens_a['access_token']}"}
    )
    assert r.status_code == 200 and b"<feed" in r.get_data()  # read whole: a stream left open is closed by whoever
    own = _consent(
        client, {"base_url": f"http://localhost{base_b}", "admin_key": private_b.extensions["sandbox"].admin_key}
    )
    r = client.get(urlsplit(own["resourceURI"]).path, headers={"Authorization": f"Bearer {own['access_token']}"})
    assert r.status_code == 200 and b"<feed" in r.get_data()
