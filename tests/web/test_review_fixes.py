"""Holes a review found, each pinned by a test: malformed HTTP Basic credentials, racing refreshes
and code exchanges (over real HTTP against run.py, so the requests truly overlap), over-long
sign-in names, the session secret and testing flag, suspended applications, customers who have
moved, and where the test notification may be sent."""
from __future__ import annotations

import base64
import datetime as dt
import http.cookiejar
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import FIXED_NOW
from live.server import LiveServer
from live.third_party import ThirdParty
from sqlalchemy import func, select
from web.helpers import csrf, offered, overlapping, sb_of, text

from sandbox import create_app
from sandbox.core import errors
from sandbox.core.models import Application, Authorization, Customer, OAuthCode
from sandbox.services import onboarding, third_parties
from sandbox.services import world as world_service
from sandbox.services.customers import move_out
from sandbox.services.signin import BAD_LOGIN

SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
CALLBACK = "http://127.0.0.1:9999/callback"
BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()
NOW = FIXED_NOW.replace(tzinfo=None)


# --- helpers (test client) ----------------------------------------------------------------

def sign_in(client, slug="bayview", username="demo", password="demo"):
    page = text(client.get(f"/dc/{slug}/"))
    r = client.post(f"/dc/{slug}/login", data={"method": "password", "username": username, "password": password,
                                               "csrf_token": csrf(page)})
    assert r.status_code == 303, text(r)[:300]


def authorize_url(slug="bayview", **over) -> str:
    q = {"client_id": "demo-third-party", "redirect_uri": CALLBACK, "response_type": "code", "scope": SCOPE,
         "state": "s-123", **over}
    return f"/dc/{slug}/oauth/authorize?" + urllib.parse.urlencode(q)


def consent(client, url):
    page = client.get(url)
    assert page.status_code == 200, text(page)[:500]
    html = text(page)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    return client.post(url, data={"csrf_token": csrf(html), "decision": "accept", "usage_point": ids})


def code_from(resp) -> str:
    assert resp.status_code == 302, text(resp)[:300]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(resp.headers["Location"]).query))["code"]


def utility_id(app, slug="bayview") -> int:
    return world_service.utility_id(sb_of(app).db, slug)


def demo_app_id(app, slug="bayview") -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(Application.id).where(Application.client_id == "demo-third-party",
                                                     Application.utility_id == utility_id(app, slug)))


def demo_customer_id(app, slug="bayview") -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(Customer.id).where(Customer.username == "demo", Customer.utility_id == utility_id(app, slug)))


def code_count(app, customer_id: int) -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(func.count(OAuthCode.id)).where(OAuthCode.customer_id == customer_id))


# --- 1. malformed HTTP Basic credentials -----------------------------------------------------

MALFORMED_BASIC = {
    "empty": "Basic ",
    "not base64": "Basic !!!notbase64",
    "no colon": "Basic " + base64.b64encode(b"demo-third-party").decode(),
    "not utf-8": "Basic " + base64.b64encode(b"\xff\xfe\xfd:\xc3\x28").decode(),
    "not utf-8 user only": "Basic " + base64.b64encode(b"\x80\x81\x82").decode(),
    "bad padding": "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()[:-2],
}


@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
@pytest.mark.parametrize("endpoint,data", [("token", {"grant_type": "client_credentials"}),
                                           ("revoke", {"token": "whatever", "token_type_hint": "access_token"})],
                         ids=["token", "revoke"])
def test_malformed_basic_credentials_are_invalid_client(client, endpoint, data, header):
    r = client.post(f"/dc/bayview/oauth/{endpoint}", data=data, headers={"Authorization": header})
    assert r.status_code == 401, (r.status_code, text(r)[:300])
    assert r.is_json and r.json["error"] == "invalid_client"


# --- live server: 3. racing refreshes, 4. racing code exchanges ---------------------------------

class Browser:
    """A customer's browser over real HTTP: cookies kept, redirects not followed, no proxy."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), self._NoRedirect(),
                                                  urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, data: dict | list | None = None, headers: dict | None = None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})} if body is not None else \
            dict(headers or {})
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def sign_in(self, slug="bayview"):
        _, _, page = self.call("GET", f"/dc/{slug}/")
        status, _, body = self.call("POST", f"/dc/{slug}/login", {"method": "password", "username": "demo",
                                                                 "password": "demo", "csrf_token": csrf(page.decode())})
        assert status == 303, body[:300]

    def code(self, slug="bayview") -> str:
        url = authorize_url(slug)
        status, _, page = self.call("GET", url)
        assert status == 200, page[:300]
        html = page.decode()
        ids = re.findall(r'name="usage_point" value="(\d+)"', html)
        status, headers, body = self.call("POST", url, {"csrf_token": csrf(html), "decision": "accept",
                                                        "usage_point": ids})
        assert status == 302, body[:300]
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))["code"]

    def token(self, slug="bayview", **data):
        status, _, body = self.call("POST", f"/dc/{slug}/oauth/token", data, {"Authorization": BASIC})
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"raw": body.decode("utf-8", "replace")[:500]}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveServer("--customers", "1", "--database", str(tmp_path_factory.mktemp("races") / "races.db")) as s:
        yield s


@pytest.fixture
def browser(live):
    b = Browser(live.url)
    b.sign_in()
    return b


ROUNDS = 5


@pytest.mark.live
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_refreshes_of_a_rotating_token_one_wins(live, browser, round_):
    status, t = browser.token(grant_type="authorization_code", code=browser.code(), redirect_uri=CALLBACK)
    assert status == 200, t
    old = t["refresh_token"]
    results = overlapping(lambda _: browser.token(grant_type="refresh_token", refresh_token=old))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 400], results
    (winner,) = [body for s, body in results if s == 200]
    (loser,) = [body for s, body in results if s != 200]
    assert loser["error"] == "invalid_grant", loser
    assert "access_token" not in loser and "refresh_token" not in loser
    assert winner["refresh_token"] != old  # bayview rotates
    # the old token is spent; only the winner's new one refreshes
    status, again = browser.token(grant_type="refresh_token", refresh_token=old)
    assert status == 400 and again["error"] == "invalid_grant", again
    status, nxt = browser.token(grant_type="refresh_token", refresh_token=winner["refresh_token"])
    assert status == 200, nxt


@pytest.mark.live
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_exchanges_of_one_code_one_wins_on_sqlite(live, browser, round_):
    code = browser.code()
    results = overlapping(lambda _: browser.token(grant_type="authorization_code", code=code, redirect_uri=CALLBACK))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 400], results
    (loser,) = [body for s, body in results if s != 200]
    assert loser["error"] == "invalid_grant" and "access_token" not in loser, loser


# --- 5. over-long sign-in names ----------------------------------------------------------------

LONG = "u" * 300


def _refused_sign_in(what, r, message=BAD_LOGIN):
    assert r.status_code in (400, 401), (what, r.status_code, text(r)[:300])
    if r.status_code == 401:
        assert message in text(r), what


def long_name_sign_ins(client):
    """Each sign-in form with a 300-character name: (what, response)."""
    out = []
    page = text(client.get("/dc/bayview/"))
    out.append(("customer", client.post("/dc/bayview/login", data={"method": "password", "username": LONG,
                                                                   "password": "demo", "csrf_token": csrf(page)})))
    out.append(("customer unicode", client.post("/dc/bayview/login", data={
        "method": "password", "username": "ü" * 300, "password": "x", "csrf_token": csrf(page)})))
    out.append(("account", client.post("/dc/bayview/login", data={"method": "account", "account_number": "9" * 300,
                                                                  "postal_code": "X" * 300, "csrf_token": csrf(page)})))
    page = text(client.get("/dc/bayview/admin/"))
    out.append(("staff", client.post("/dc/bayview/admin/login", data={"username": LONG, "password": "staff",
                                                                      "csrf_token": csrf(page)})))
    page = text(client.get("/dc/bayview/developer/"))
    out.append(("developer", client.post("/dc/bayview/developer/login", data={
        "email": LONG + "@example.com", "password": "correct horse", "csrf_token": csrf(page)})))
    return out


def test_a_300_character_name_is_refused_not_an_error(client):
    for what, r in long_name_sign_ins(client):
        _refused_sign_in(what, r)
    # and a long name that fails five times locks like any other (the throttle key stays bounded)
    for _ in range(5):
        page = text(client.get("/dc/bayview/"))
        r = client.post("/dc/bayview/login", data={"method": "password", "username": LONG + "x", "password": "no",
                                                   "csrf_token": csrf(page)})
    assert r.status_code == 429


# --- 6. the session secret, 7. testing mode ------------------------------------------------------

def test_without_auto_seed_the_secret_key_is_random_per_app(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDBOX_SECRET_KEY", raising=False)
    a = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "AUTO_SEED": False})
    b = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "AUTO_SEED": False})
    same_db = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "AUTO_SEED": False})
    keys = [x.config["SECRET_KEY"] for x in (a, b, same_db)]
    assert all(isinstance(k, str) and len(k) >= 32 for k in keys), keys
    assert len(set(keys)) == 3
    assert "unseeded" not in keys and not any("unseeded" in k for k in keys)
    configured = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "AUTO_SEED": False,
                             "SECRET_KEY": "configured-secret-value"})
    assert configured.config["SECRET_KEY"] == "configured-secret-value"
    for x in (a, b, same_db, configured):
        x.extensions["sandbox"].db.engine.dispose()


def test_testing_flag_reaches_flask_and_is_off_by_default(tmp_path, app):
    assert app.testing is True and app.config["TESTING"] is True
    plain = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}", "AUTO_SEED": False})
    assert plain.testing is False and plain.config["TESTING"] is False
    plain.extensions["sandbox"].db.engine.dispose()


# --- 8. suspended applications ------------------------------------------------------------------

@pytest.mark.parametrize("action", ["hold", "block"])
def test_a_suspended_application_gets_no_client_token(app, client, action):
    sb = sb_of(app)
    third_parties.set_application_status(sb.db, sb.clock, utility_id(app), demo_app_id(app), action)
    r = client.post("/dc/bayview/oauth/token", data={"grant_type": "client_credentials"},
                    headers={"Authorization": BASIC})
    assert r.status_code in (400, 401), r.json
    assert r.json["error"] in ("unauthorized_client", "invalid_client") and "access_token" not in r.json


@pytest.mark.parametrize("action", ["hold", "block"])
def test_a_suspended_application_does_not_earn_the_client_token_check(app, client, world, action):
    sb = sb_of(app)
    meta = onboarding.Metadata(name="Held App", redirect_uris=["https://held.example/cb"],
                               scopes=[SCOPE], contact_email="dev@held.example",
                               notify_uri="https://held.example/notify")
    issued = onboarding.register(sb.db, sb.clock, utility_id(app), sb.world.seed, meta)
    third_parties.set_application_status(sb.db, sb.clock, utility_id(app), issued.app.id, action)
    basic = "Basic " + base64.b64encode(f"{issued.app.client_id}:{issued.client_secret}".encode()).decode()
    r = client.post("/dc/bayview/oauth/token", data={"grant_type": "client_credentials"},
                    headers={"Authorization": basic})
    assert r.status_code in (400, 401) and r.json["error"] in ("unauthorized_client", "invalid_client"), r.json
    with sb.db.sessions() as s:
        row = s.get(Application, issued.app.id)
        assert row.client_token_at is None
        checks = {c.key: c.done for c in onboarding.checklist(row, world.utility("bayview").profile, now=FIXED_NOW)}
    assert checks["client_token"] is False
    # released, the same credentials work and the item is earned (the refusal was the status, not the secret)
    if action == "hold":
        third_parties.set_application_status(sb.db, sb.clock, utility_id(app), issued.app.id, "release")
        r = client.post("/dc/bayview/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": basic})
        assert r.status_code == 200, r.json
        with sb.db.sessions() as s:
            assert s.get(Application, issued.app.id).client_token_at is not None


# --- 9. customers who move out --------------------------------------------------------------------

def test_a_customer_who_has_moved_out_cannot_consent(app, client, world):
    sign_in(client)
    cid = demo_customer_id(app)
    today = sb_of(app).clock.today(world.utility("bayview").time_zone)
    page = text(client.get("/dc/bayview/moving"))
    r = client.post("/dc/bayview/moving", data={"csrf_token": csrf(page), "moving_day": today.isoformat(),
                                                "confirm": "1"})
    assert r.status_code == 303, text(r)[:300]
    before = code_count(app, cid)
    r = client.get(authorize_url())
    assert r.status_code == 403 and "Location" not in r.headers, (r.status_code, text(r)[:300])
    assert "ended" in text(r).lower() or "moved" in text(r).lower()
    # a hand-made POST (with a valid CSRF token from another page) issues no code either
    token = csrf(text(client.get("/dc/bayview/moving")))
    ids = [str(up) for up in _usage_point_ids(app, cid)]
    r = client.post(authorize_url(), data={"csrf_token": token, "decision": "accept", "usage_point": ids})
    assert r.status_code == 403 and "Location" not in r.headers, (r.status_code, text(r)[:300])
    assert code_count(app, cid) == before


def _usage_point_ids(app, customer_id):
    with sb_of(app).db.sessions() as s:
        return [up.id for up in s.get(Customer, customer_id).usage_points]


def test_a_scheduled_move_bounds_the_authorization_without_inverting_it(app, client, world):
    sb = sb_of(app)
    tz = world.utility("bayview").time_zone
    today = sb.clock.today(tz)
    result = move_out(sb.db, sb.clock, demo_customer_id(app), today + dt.timedelta(days=10), tz)
    sign_in(client)
    code = code_from(consent(client, authorize_url()))
    r = client.post("/dc/bayview/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": CALLBACK}, headers={"Authorization": BASIC})
    assert r.status_code == 200, r.json
    with sb.db.sessions() as s:
        auth = s.scalars(select(Authorization).where(
            Authorization.uuid == r.json["authorizationURI"].rsplit("/", 1)[1])).one()
        assert auth.authorized_start == NOW
        assert auth.authorized_end >= auth.authorized_start
        assert auth.authorized_end == result.ends_at.replace(tzinfo=None)


def test_a_move_out_today_with_a_code_already_issued_gives_no_inverted_authorization(app, client, world):
    """The code was issued before the move; exchanged after, it must not yield an authorization ending
    before it starts."""
    sb = sb_of(app)
    tz = world.utility("bayview").time_zone
    sign_in(client)
    code = code_from(consent(client, authorize_url()))
    move_out(sb.db, sb.clock, demo_customer_id(app), sb.clock.today(tz), tz)
    r = client.post("/dc/bayview/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": CALLBACK}, headers={"Authorization": BASIC})
    assert r.status_code in (200, 400), r.json
    with sb.db.sessions() as s:
        for auth in s.scalars(select(Authorization).where(Authorization.customer_id == demo_customer_id(app))):
            assert auth.authorized_end >= auth.authorized_start, (auth.id, auth.authorized_start, auth.authorized_end)


# --- 10. where the test notification may go ---------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Record, and refuse, every outbound connection the code under test tries."""
    attempts: list = []
    real_connect = socket.socket.connect

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("test: outbound connection attempted")

    def connect(self, address):
        if isinstance(address, tuple):
            attempts.append(address)
            raise OSError("test: outbound connection attempted")
        return real_connect(self, address)  # unix sockets (none expected)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def _dev_client_with_app(app, notify_uri):
    """A signed-in developer with one application whose notify URI is set directly (as if accepted)."""
    client = app.test_client()
    page = text(client.get("/dc/bayview/developer/"))
    r = client.post("/dc/bayview/developer/signup", data={"csrf_token": csrf(page), "name": "Ann",
                                                           "email": "ann@example.com", "password": "correct horse"})
    assert r.status_code == 303, text(r)[:300]
    page = text(client.get("/dc/bayview/developer/apps/new"))
    r = client.post("/dc/bayview/developer/apps/new", data={
        "csrf_token": csrf(page), "name": "Watt Watcher", "description": "", "contact_email": "ann@example.com",
        "redirect_uris": "https://ww.example.com/cb", "notify_uri": "https://ww.example.com/notify",
        "scope_selection_uri": "", "client_uri": "", "logo_uri": "", "scopes": offered(sb_of(app).world)[:1]})
    assert r.status_code in (200, 201, 303), text(r)[:500]
    with sb_of(app).db.transaction() as s:
        row = s.scalars(select(Application).where(Application.name == "Watt Watcher")).one()
        row.notify_uri = notify_uri
        app_id = row.id
    return client, app_id


def _last_check(app, app_id):
    with sb_of(app).db.sessions() as s:
        row = s.get(Application, app_id)
        return row.notify_check_at, row.notify_check_status


@pytest.fixture
def open_app(tmp_path, clock):
    a = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'open.db'}", "CUSTOMERS": 1, "TESTING": True,
                    "HOST": "0.0.0.0"}, clock=clock)
    yield a
    a.extensions["sandbox"].db.engine.dispose()


REFUSED_TARGETS = ["http://169.254.169.254/latest", "http://10.0.0.1/x", "http://192.168.1.1/x",
                   "http://127.0.0.1.nip.io/x", "http://localhost.evil.invalid/x", "http://127.0.0.1@10.0.0.1/x",
                   "http://[::ffff:169.254.169.254]/latest", "http://0.0.0.0/x", "http://2130706433/x"]


@pytest.mark.parametrize("uri", REFUSED_TARGETS)
def test_listening_beyond_loopback_the_notify_test_refuses_internal_hosts(open_app, no_network, monkeypatch, uri):
    sent = []
    monkeypatch.setattr(onboarding.notifications, "post_notification", lambda *a, **k: sent.append(a))
    client, app_id = _dev_client_with_app(open_app, uri)
    token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
    r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
    assert r.status_code == 400, (r.status_code, text(r)[:500])
    assert "notify_uri" in text(r) or "notification" in text(r).lower()
    assert sent == [] and [a for a in no_network if a[0] not in ("127.0.0.1", "::1")] == []
    assert _last_check(open_app, app_id) == (None, None)


@pytest.mark.parametrize("uri", REFUSED_TARGETS[:3])
def test_the_notify_service_refuses_internal_hosts_for_a_non_loopback_listener(open_app, no_network, uri):
    """Interface assumed: send_test_notification(..., policy=TargetPolicy.for_listener(HOST, NOTIFY_ALLOW))."""
    sb = sb_of(open_app)
    policy = onboarding.TargetPolicy.for_listener("0.0.0.0", None)
    with sb.db.transaction() as s:
        row = s.scalars(select(Application).where(Application.client_id == "demo-third-party",
                                                  Application.utility_id == utility_id(open_app))).one()
        row.notify_uri, app_id = uri, row.id
    with pytest.raises(errors.Refused) as exc:
        onboarding.send_test_notification(sb.db, sb.clock, utility_id(open_app), app_id, "http://sandbox.test/r",
                                          sb.world.utility("bayview").profile, policy=policy)
    assert exc.value.field == "notify_uri" and exc.value.message
    assert no_network == []


def test_on_loopback_the_notify_test_still_reaches_a_local_receiver(app):
    assert sb_of(app).config["HOST"] == "127.0.0.1"
    with ThirdParty(status=200) as tp:
        client, app_id = _dev_client_with_app(app, tp.url)
        token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
        r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
        assert r.status_code == 303, text(r)[:500]
        assert len(tp.received) == 1
    assert _last_check(app, app_id)[1] == 200


def test_beyond_loopback_a_host_named_in_notify_allow_is_notified(tmp_path, clock):
    with ThirdParty(status=200) as tp:
        a = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'allow.db'}", "CUSTOMERS": 1, "TESTING": True,
                        "HOST": "0.0.0.0", "NOTIFY_ALLOW": "127.0.0.1"}, clock=clock)
        try:
            client, app_id = _dev_client_with_app(a, tp.url)
            token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
            r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
            assert r.status_code == 303, text(r)[:500]
            assert len(tp.received) == 1
        finally:
            a.extensions["sandbox"].db.engine.dispose()
