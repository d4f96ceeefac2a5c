"""Headers, sessions and CORS replayed against the real run.py (issue 21, items 2 and 3): the consent
page framed by another page, a session cookie copied before sign-out used after it, a session that
outlives a reset of the world, and a page of another site registering an application in the
developer's sandbox to read its secret."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from sandbox.testing.client import SandboxClient

from ..server import small_world
from ..tokens import CALLBACK, client_token, csrf, signed_in

pytestmark = pytest.mark.live
KEY = "headers-sessions-key"
SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
EVIL = "https://evil.example"
CONSENT = "/dc/bayview/oauth/authorize"
SHARING = "/dc/bayview/sharing"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("headers-sessions")


@pytest.fixture(scope="module")
def live(folder):
    with small_world(folder, KEY) as s:
        yield s


def consent_page(base: str, customer: requests.Session) -> requests.Response:
    return customer.get(
        base + CONSENT,
        params={
            "client_id": "demo-third-party",
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": SCOPE,
            "state": "st",
        },
        timeout=30,
    )


def copy_of(customer: requests.Session) -> requests.Session:
    """Another client holding the cookie as it is now (an attacker who copied it)."""
    other = requests.Session()
    other.cookies.set("session", customer.cookies.get("session"))
    return other


def sees_sharing(s: requests.Session, base: str) -> bool:
    r = s.get(base + SHARING, allow_redirects=False, timeout=30)
    return r.status_code == 200 and "Sharing" in r.text


def test_the_consent_page_refuses_to_be_framed(live):
    page = consent_page(live.url, signed_in(live.url, "bayview"))
    assert page.status_code == 200 and 'id="consent-form"' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_the_session_cookie_is_http_only_and_same_site_lax(live):
    r = requests.get(live.url + "/dc/bayview/", timeout=30)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http on loopback


def test_a_cookie_copied_before_sign_out_is_refused_after_it(live):
    customer = signed_in(live.url, "bayview")
    stolen = copy_of(customer)
    assert sees_sharing(stolen, live.url)
    token = csrf(customer.get(live.url + SHARING, timeout=30).text)
    assert (
        customer.post(
            live.url + "/dc/bayview/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30
        ).status_code
        == 303
    )
    assert not sees_sharing(stolen, live.url)
    assert not sees_sharing(customer, live.url)


def test_a_page_of_another_site_cannot_register_an_application_or_read_its_secret(live, folder):
    url = live.url + "/dc/bayview/espi/1_1/register"
    pre = requests.options(
        url,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert "Access-Control-Allow-Origin" not in pre.headers  # a browser stops before the POST
    body = json.dumps({"client_name": "Lurker", "redirect_uris": ["https://evil.example/cb"]})
    for ctype in ("application/json", "text/plain"):  # text/plain: sent by a browser without asking first
        r = requests.post(
            url, data=body, headers={"Origin": EVIL, "Content-Type": ctype, "Accept": "application/json"}, timeout=30
        )
        assert r.status_code == 403 and r.headers["X-Sandbox-Reason"] == "cross_origin", r.text
        assert "client_secret" not in r.text and "Access-Control-Allow-Origin" not in r.headers
    with sqlite3.connect(folder / "world.db") as db:
        assert db.execute("select count(*) from application where name = 'Lurker'").fetchone() == (0,)
    # a program (no Origin) registers as before, and reads its secret
    r = requests.post(
        url, data=body, headers={"Content-Type": "application/json", "Accept": "application/json"}, timeout=30
    )
    assert r.status_code == 201 and r.json()["client_secret"]


def test_resource_reads_allow_any_origin_without_credentials(live):
    access = client_token(live.url, "bayview")["access_token"]
    uri = live.url + "/dc/bayview/espi/1_1/resource/ReadServiceStatus"
    r = requests.get(uri, headers={"Origin": EVIL, "Authorization": f"Bearer {access}"}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in r.headers
    token = requests.post(
        live.url + "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("demo-third-party", "demo-secret"),
        headers={"Origin": EVIL},
        timeout=30,
    )
    assert token.status_code == 200 and "Access-Control-Allow-Origin" not in token.headers


def test_a_control_api_reset_ends_every_session(live):
    customer = signed_in(live.url, "bayview")
    stolen = copy_of(customer)
    assert sees_sharing(stolen, live.url)
    SandboxClient(live.url, KEY).reset()
    assert not sees_sharing(stolen, live.url)
    assert not sees_sharing(customer, live.url)
    assert sees_sharing(signed_in(live.url, "bayview"), live.url)  # signing in again works
