"""Private sandboxes (web.private, web.control.sandboxes, services.sandboxes): made by the control API at
the deployment's root, each a world of its own under /s/{id}/, isolated from the default sandbox and
from one another, gone when deleted or expired."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import ADMIN_KEY, APP_CONFIG
from web.helpers import csrf, demo_consent
from web.oauth_steps import CALLBACK, SCOPE, query

from sandbox import create_app
from sandbox.core.db import SCHEMA_VERSION
from sandbox.services.world import DEMO_CLIENT_SECRET

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
R = "/dc/bayview/espi/1_1/resource"


def make(client, **body) -> dict:
    r = client.post("/sandbox-api/sandboxes", headers=H, json=body)
    assert r.status_code == 201, r.get_data(as_text=True)[:500]
    return r.get_json()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def prefix(made: dict) -> str:
    return urlsplit(made["base_url"]).path  # /s/{id}


def consent(client, made: dict) -> dict:
    """The demo customer's consent to the demo third party in the sandbox, through its own control API."""
    r = client.post(
        f"{prefix(made)}/sandbox-api/authorizations",
        headers=bearer(made["admin_key"]),
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def two(client) -> tuple[dict, dict]:
    return make(client, label="a", customers=1), make(client, label="b", customers=1)


def test_a_sandbox_is_made_with_its_own_keys_and_urls(client):
    made = make(client, label="mine", customers=1, utilities=["bayview", "prairie"], ttl="PT2H")
    assert re.fullmatch(r"[0-9a-f]{12}", made["id"])
    assert made["base_url"] == f"http://localhost/s/{made['id']}" and made["label"] == "mine"
    assert [u["slug"] for u in made["utilities"]] == ["bayview", "prairie"]
    assert made["utilities"][0]["portal_url"] == f"{made['base_url']}/dc/bayview/"
    assert made["admin_key"] != ADMIN_KEY and len(made["admin_key"]) >= 24
    third = made["demo"]["third_party"]
    assert third["client_id"] == "demo-third-party" and third["client_secret"] != DEMO_CLIENT_SECRET
    expires = time.mktime(time.strptime(made["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 7200)) < 120
    health = client.get(f"{prefix(made)}/healthz")
    assert health.status_code == 200 and health.get_json()["utilities"] == 2
    assert client.get(prefix(made)).headers["Location"] == f"{prefix(made)}/"
    assert client.get(f"{prefix(made)}?postal_code=94612").headers["Location"] == f"{prefix(made)}/?postal_code=94612"
    page = client.get(f"{prefix(made)}/dc/bayview/").get_data(as_text=True)
    links = re.findall(r'(?:href|action)="(/[^"]*)"', page)
    assert links and all(link.startswith(f"{prefix(made)}/") for link in links), links
    listed = client.get("/sandbox-api/sandboxes", headers=H).get_json()["sandboxes"]
    assert [s["id"] for s in listed] == [made["id"]]


def test_every_url_a_sandbox_writes_carries_its_prefix(client):
    made = make(client, customers=1)
    t = consent(client, made)
    assert urlsplit(t["resourceURI"]).path.startswith(f"{prefix(made)}{R}/Batch/Subscription/")
    feed = client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).get_data()
    hrefs = re.findall(rb'href="([^"]+)"', feed)
    assert hrefs and all(h.startswith(made["base_url"].encode() + b"/dc/bayview/") for h in hrefs)
    meta = client.get(f"{prefix(made)}/dc/bayview/.well-known/oauth-authorization-server").get_json()
    assert meta["token_endpoint"] == f"{made['base_url']}/dc/bayview/oauth/token"


def test_a_customer_consents_and_the_third_party_gets_tokens_inside_the_sandbox(client):
    """The whole Connect My Data journey under /s/{id}/: sign-in redirects, consent, code, token, data."""
    made = make(client, customers=1)
    base, secret = prefix(made), made["demo"]["third_party"]["client_secret"]
    q = {"client_id": "demo-third-party", "redirect_uri": CALLBACK, "response_type": "code", "scope": SCOPE}
    authorize = f"{base}/dc/bayview/oauth/authorize?{urlencode({**q, 'state': 's-1'})}"
    r = client.get(authorize)
    assert r.status_code == 302 and r.headers["Location"].startswith(
        f"{base}/dc/bayview/"
    )  # to sign in, in the sandbox
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    signed = client.post(
        f"{base}/dc/bayview/login",
        data={"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page)}
        | ({"next": n} if (n := query(r.headers["Location"]).get("next")) else {}),
    )
    assert signed.status_code == 303 and signed.headers["Location"].startswith(f"{base}/dc/bayview/oauth/authorize")
    html = client.get(authorize).get_data(as_text=True)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    given = client.post(authorize, data={"csrf_token": csrf(html), "decision": "accept", "usage_point": ids})
    code = query(given.headers["Location"])["code"]
    basic = "Basic " + base64.b64encode(f"demo-third-party:{secret}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    tokens = client.post(f"{base}/dc/bayview/oauth/token", data=form, headers={"Authorization": basic})
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    t = tokens.get_json()
    assert client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).status_code == 200


def test_no_credential_of_one_sandbox_works_in_another(client, two):
    a, b = two
    t = consent(client, a)
    feed = path_of(t["resourceURI"])
    assert client.get(feed, headers=bearer(t["access_token"])).status_code == 200
    elsewhere = feed.replace(prefix(a), prefix(b))
    for where in (elsewhere, feed.replace(prefix(a), "")):  # the neighbour, and the default sandbox
        r = client.get(where, headers=bearer(t["access_token"]))
        assert r.status_code == 401 and b"<feed" not in r.get_data()
    refresh = {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}
    secret_a = a["demo"]["third_party"]["client_secret"]
    basic_a = "Basic " + base64.b64encode(f"demo-third-party:{secret_a}".encode()).decode()
    r = client.post(f"{prefix(b)}/dc/bayview/oauth/token", data=refresh, headers={"Authorization": basic_a})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"  # same client_id: another client
    # admin keys: each sandbox's control API takes its own key only, the operator's included
    assert client.get(f"{prefix(b)}/sandbox-api/clock", headers=bearer(a["admin_key"])).status_code == 401
    assert client.get(f"{prefix(a)}/sandbox-api/clock", headers=H).status_code == 401
    assert client.get("/sandbox-api/clock", headers=bearer(a["admin_key"])).status_code == 401
    assert client.delete(f"/sandbox-api/sandboxes/{b['id']}", headers=bearer(a["admin_key"])).status_code == 401


def test_a_customer_session_is_its_sandboxs_only(client, two):
    a, b = two
    page = client.get(f"{prefix(a)}/dc/bayview/").get_data(as_text=True)
    form = {"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page)}
    assert client.post(f"{prefix(a)}/dc/bayview/login", data=form).status_code == 303
    assert client.get(f"{prefix(a)}/dc/bayview/sharing").status_code == 200
    r = client.get(f"{prefix(b)}/dc/bayview/sharing")  # signed in at a, not at b
    assert r.status_code in (302, 303) and "/sharing" not in r.headers["Location"]
    assert client.get("/dc/bayview/sharing").status_code in (302, 303)  # nor in the default sandbox


def test_a_reset_and_a_clock_move_leave_the_neighbour_alone(client, two):
    a, b = two
    for made in two:  # a notification URI: each consent below is announced in its sandbox's outbox
        uri = client.put(
            f"{prefix(made)}/sandbox-api/utilities/bayview/third-parties/demo-third-party/notify-uri",
            headers=bearer(made["admin_key"]),
            json={"notify_uri": "http://127.0.0.1:9/closed"},
        )
        assert uri.status_code == 200
    t = consent(client, b)
    consent(client, a)
    before = client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).get_data()
    clock_b = client.get(f"{prefix(b)}/sandbox-api/clock", headers=bearer(b["admin_key"])).get_json()
    notes_b = client.get(f"{prefix(b)}/sandbox-api/notifications", headers=bearer(b["admin_key"])).get_data()
    assert b'"event":"authorized"' in notes_b.replace(b" ", b"")
    assert client.post(f"{prefix(a)}/sandbox-api/reset", headers=bearer(a["admin_key"])).status_code == 200
    moved = client.post(f"{prefix(a)}/sandbox-api/clock", headers=bearer(a["admin_key"]), json={"advance": "P3D"})
    assert moved.status_code == 200
    after = client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).get_data()
    assert after == before
    assert client.get(f"{prefix(b)}/sandbox-api/notifications", headers=bearer(b["admin_key"])).get_data() == notes_b
    still = client.get(f"{prefix(b)}/sandbox-api/clock", headers=bearer(b["admin_key"])).get_json()
    assert still["offset_seconds"] == clock_b["offset_seconds"] == 0
    default_clock = client.get("/sandbox-api/clock", headers=H).get_json()
    assert default_clock["frozen"] is True  # the test's frozen clock: the default sandbox's is untouched


def test_each_sandbox_keeps_its_own_request_log(client, two):
    a, b = two
    t = consent(client, a)
    client.get(path_of(t["resourceURI"]) + "?mine=a", headers=bearer(t["access_token"]))
    log_a = client.get(f"{prefix(a)}/sandbox-api/requests", headers=bearer(a["admin_key"])).get_json()["requests"]
    log_b = client.get(f"{prefix(b)}/sandbox-api/requests", headers=bearer(b["admin_key"])).get_json()["requests"]
    log_default = client.get("/sandbox-api/requests", headers=H).get_json()["requests"]
    assert any("mine=a" in c["path"] for c in log_a)
    assert not any("mine=a" in c["path"] for c in log_b + log_default)


def test_a_deleted_sandbox_answers_404_everywhere_and_its_files_are_gone(app, client):
    made = make(client, customers=1)
    t = consent(client, made)
    world = Path(f"{app.extensions['sandbox'].db.engine.url.database}.sandboxes") / f"{made['id']}.db"
    assert world.exists()
    gone = client.delete(f"/sandbox-api/sandboxes/{made['id']}", headers=bearer(made["admin_key"]))
    assert gone.status_code == 204
    for path in ("/healthz", "/dc/bayview/", "/sandbox-api/clock"):
        r = client.get(prefix(made) + path, headers=bearer(made["admin_key"]))
        assert r.status_code == 404 and r.headers["X-Sandbox-Reason"] == "no_such_sandbox"
    assert client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).status_code == 404
    assert not world.exists()
    assert [p.name for p in world.parent.iterdir()] == [f".empty-schema-{SCHEMA_VERSION}.db"]  # the next one's start
    assert client.delete(f"/sandbox-api/sandboxes/{made['id']}", headers=H).status_code == 404
    assert client.get("/sandbox-api/sandboxes", headers=H).get_json()["sandboxes"] == []


def test_an_expired_sandbox_answers_404_and_is_collected(app, client):
    """Expired: 404 at once; its rows and files are deleted by the next look for expired sandboxes, which
    a request starts at most every COLLECT_EVERY seconds (rows gone within a minute)."""
    made = make(client, customers=1, ttl="PT1M")
    world = Path(f"{app.extensions['sandbox'].db.engine.url.database}.sandboxes") / f"{made['id']}.db"
    assert client.get(f"{prefix(made)}/healthz").status_code == 200
    dispatcher = app.extensions["private_sandboxes"]
    later = time.time() + 120
    dispatcher.now = lambda: later
    assert client.get(f"{prefix(made)}/healthz").status_code == 404
    dispatcher.collecting.join(30)
    assert app.extensions["sandboxes"].get(made["id"], now=0) is None and not world.exists()


def test_a_sandbox_is_extended_by_its_own_key(client):
    made = make(client, customers=1, ttl="PT1H")
    r = client.post(
        f"/sandbox-api/sandboxes/{made['id']}/extend", headers=bearer(made["admin_key"]), json={"ttl": "P2D"}
    )
    assert r.status_code == 200 and r.get_json()["expires_at"] > made["expires_at"]
    got = client.get(f"/sandbox-api/sandboxes/{made['id']}", headers=bearer(made["admin_key"])).get_json()
    assert got["expires_at"] == r.get_json()["expires_at"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"utilities": ["nowhere"]}, "utilities"),
        ({"utilities": []}, "utilities"),
        ({"profiles": {"bayview": "no-such-profile"}}, "profiles.bayview"),
        ({"utilities": ["prairie"], "profiles": {"bayview": "lenient"}}, "profiles.bayview"),
        ({"ttl": "P1Y"}, "ttl"),
        ({"ttl": "PT1S"}, "ttl"),
        ({"ttl": "P91D"}, "ttl"),
        ({"customers": -1}, "customers"),
        ({"customers": 10_000}, "customers"),
        ({"seed": "42"}, "seed"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_makes_nothing(app, client, body, field):
    r = client.post("/sandbox-api/sandboxes", headers=H, json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["field"] == field
    assert client.get("/sandbox-api/sandboxes", headers=H).get_json()["sandboxes"] == []
    assert not Path(f"{app.extensions['sandbox'].db.engine.url.database}.sandboxes").exists() or not any(
        Path(f"{app.extensions['sandbox'].db.engine.url.database}.sandboxes").glob("*.db")
    )


def test_a_profile_asked_for_is_the_utilitys(client):
    made = make(client, customers=1, utilities=["bayview"], profiles={"bayview": "lenient"})
    r = client.get(f"{prefix(made)}/sandbox-api/profiles", headers=bearer(made["admin_key"]))
    assert r.status_code == 200
    assert r.get_json()["utilities"] == {"bayview": "lenient"}
    default = client.get("/sandbox-api/profiles", headers=H).get_json()["utilities"]
    assert default["bayview"] == "standard"  # the default sandbox's stays as its seed files say


def test_the_deployments_limit_of_live_sandboxes_is_a_429_naming_it(tmp_path, seeded_worlds, clock):
    url = seeded_worlds.copy(tmp_path / "limit.db", customers=APP_CONFIG["CUSTOMERS"])
    app = create_app({**APP_CONFIG, "DATABASE_URL": url, "MAX_SANDBOXES": 1}, clock=clock)
    try:
        c = app.test_client()
        assert c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 0}).status_code == 201
        r = c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 0})
        assert r.status_code == 429 and r.get_json()["field"] == "sandboxes"
        assert "SANDBOX_MAX_SANDBOXES" in r.get_json()["error_description"]
    finally:
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()


def test_open_sign_up_makes_one_without_a_key_but_lists_nothing(tmp_path, seeded_worlds, clock):
    url = seeded_worlds.copy(tmp_path / "open.db", customers=APP_CONFIG["CUSTOMERS"])
    app = create_app({**APP_CONFIG, "DATABASE_URL": url, "OPEN_SIGNUP": True}, clock=clock)
    try:
        c = app.test_client()
        assert c.post("/sandbox-api/sandboxes", json={"customers": 0}).status_code == 201
        assert c.post("/sandbox-api/sandboxes", headers=bearer("wrong"), json={}).status_code == 401
        longer = c.post("/sandbox-api/sandboxes", json={"customers": 0, "ttl": "P30D"})  # only the operator gives more
        assert longer.status_code == 400 and longer.get_json()["field"] == "ttl"
        assert c.get("/sandbox-api/sandboxes").status_code == 401  # the list is the operator's
    finally:
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()


def test_sandboxes_are_made_at_the_root_only(client):
    made = make(client, customers=0)
    r = client.post(f"{prefix(made)}/sandbox-api/sandboxes", headers=bearer(made["admin_key"]), json={})
    assert r.status_code == 404 and "root" in r.get_json()["error_description"]


def test_an_unknown_sandbox_is_a_404_that_says_so(client):
    for path in ("/s/000000000000/healthz", "/s/not-an-id/dc/bayview/", "/s/"):
        r = client.get(path)
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"


def test_the_demo_consent_of_the_default_sandbox_still_works_beside_them(client, two):
    t = demo_consent(client, ADMIN_KEY, SCOPE)
    assert urlsplit(t["resourceURI"]).path.startswith(R)  # no prefix in the default sandbox
    assert client.get(path_of(t["resourceURI"]), headers=bearer(t["access_token"])).status_code == 200


def test_a_sandboxs_notification_is_delivered_where_no_worker_serves_it(app, client):
    """Its notification enqueued, the sandbox's app closed in this process (as in a worker that never served
    it): the deployment's notification worker, at its next step, delivers it from the registry's note."""
    from live.third_party import ThirdParty

    made = make(client, customers=1)
    with ThirdParty() as receiver:
        uri = client.put(
            f"{prefix(made)}/sandbox-api/utilities/bayview/third-parties/demo-third-party/notify-uri",
            headers=bearer(made["admin_key"]),
            json={"notify_uri": receiver.url},
        )
        assert uri.status_code == 200
        consent(client, made)  # an "authorized" notification, waiting
        registry = app.extensions["sandboxes"]
        assert registry.get(made["id"]).notify_due is not None
        app.extensions["private_sandboxes"].close(made["id"])
        app.extensions["notifications"].step()  # the default sandbox's worker: it sweeps the private ones too
        (got,) = receiver.received
        assert b"<BatchList" in got["body"] and f"{made['base_url']}/dc/bayview/".encode() in got["body"]
        assert registry.get(made["id"]).notify_due is None  # nothing else waits
    app.extensions["private_sandboxes"].close_all()


def test_a_wrong_key_opens_nothing_of_a_sandbox(app, client):
    """Its own admin key is checked against the registry's digest: a wrong one builds none of its app."""
    made = make(client, customers=0)
    dispatcher = app.extensions["private_sandboxes"]
    dispatcher.close(made["id"])
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/extend")):
        r = client.open(
            f"/sandbox-api/sandboxes/{made['id']}{path}", method=method, headers=bearer("wrong"), json={"ttl": "P1D"}
        )
        assert r.status_code == 401 and r.get_json()["error"] == "invalid_token"
    assert made["id"] not in dispatcher._apps
    assert client.get(f"/sandbox-api/sandboxes/{made['id']}", headers=bearer(made["admin_key"])).status_code == 200
