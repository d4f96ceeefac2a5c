"""One end-to-end test per OAuth flow: the real run.py, a stand-in third party on another
loopback port, and the customer's consent given in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from espi.checks import ESPI, assert_valid, parse
from live.third_party import ThirdParty
from playwright.sync_api import Page, expect

from .helpers import fill_sign_in, screenshot

pytestmark = pytest.mark.browser

SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()


def post(url: str, data: dict, auth: str | None = BASIC) -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=urlencode(data).encode(), method="POST", headers={"Authorization": auth} if auth else {}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            return r.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def third_party(server):
    with ThirdParty(authorize_url=f"{server.url}/dc/bayview/oauth/authorize") as tp:
        yield tp


def authorize(server, tp: ThirdParty, slug="bayview", **extra) -> str:
    q = {
        "client_id": "demo-third-party",
        "redirect_uri": tp.callback,
        "response_type": "code",
        "scope": SCOPE,
        "state": "journey-42",
        **extra,
    }
    return f"{server.url}/dc/{slug}/oauth/authorize?" + urlencode(q)


def consent_in_browser(
    page: Page,
    url: str,
    decision: str = "Allow",
    sign_in: bool = True,
    untick: str | None = None,
    shot: str | None = None,
) -> None:
    page.goto(url)
    if sign_in:  # not signed in yet: the utility's sign-in page comes first, then the consent page
        fill_sign_in(page)
    expect(page.get_by_role("heading", name="Share your data with Demo Energy App?")).to_be_visible()
    expect(page.locator("#consent-items")).to_contain_text("Electricity use in intervals")
    if untick:
        page.get_by_label(untick, exact=False).uncheck()
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name=decision).click()
    expect(page.locator("#tp-done")).to_be_visible()


def exchange(server, tp: ThirdParty, slug="bayview", **extra) -> dict:
    callback = tp.callbacks[-1]
    assert callback["state"] == "journey-42"
    status, body = post(
        f"{server.url}/dc/{slug}/oauth/token",
        {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": tp.callback, **extra},
    )
    assert status == 200, body
    return body


def test_authorization_code_without_pkce(server, third_party, page):
    consent_in_browser(page, authorize(server, third_party), shot="consent")
    token = exchange(server, third_party)
    root = f"{server.url}/dc/bayview/espi/1_1/resource"
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["expires_in"] == 3600
    assert token["resourceURI"].startswith(f"{root}/Batch/Subscription/")
    assert token["authorizationURI"].startswith(f"{root}/Authorization/")
    # the same code cannot be used twice
    status, body = post(
        f"{server.url}/dc/bayview/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": third_party.callbacks[-1]["code"],
            "redirect_uri": third_party.callback,
        },
    )
    assert status == 400 and body["error"] == "invalid_grant"


def test_authorization_code_with_pkce_where_required(server, page):
    with ThirdParty() as tp:
        verifier = "pkce-verifier-" * 5
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        consent_in_browser(
            page, authorize(server, tp, "lakeshore", code_challenge=challenge, code_challenge_method="S256")
        )
        token = exchange(server, tp, "lakeshore", code_verifier=verifier)
        assert token["expires_in"] == 900  # lakeshore's profile


def test_refresh(server, third_party, page):
    consent_in_browser(page, authorize(server, third_party))
    first = exchange(server, third_party)
    status, second = post(
        f"{server.url}/dc/bayview/oauth/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert status == 200 and second["access_token"] != first["access_token"]
    assert second["resourceURI"] == first["resourceURI"] and second["authorizationURI"] == first["authorizationURI"]


def test_client_credentials_and_read_service_status(server):
    status, token = post(f"{server.url}/dc/bayview/oauth/token", {"grant_type": "client_credentials"})
    assert status == 200 and "refresh_token" not in token
    code, body = get(f"{server.url}/dc/bayview/espi/1_1/resource/ReadServiceStatus", token["access_token"])
    assert code == 200
    doc = parse(body)
    assert_valid(doc)
    assert doc.findtext(ESPI + "currentStatus") == "1"


def test_denial(server, third_party, page):
    consent_in_browser(page, authorize(server, third_party), decision="Deny")
    cb = third_party.callbacks[-1]
    assert cb["error"] == "access_denied" and cb["state"] == "journey-42" and "code" not in cb


def test_revocation_by_the_third_party(server, third_party, page):
    consent_in_browser(page, authorize(server, third_party))
    token = exchange(server, third_party)
    status, _ = post(f"{server.url}/dc/bayview/oauth/revoke", {"token": token["access_token"]})
    assert status == 200
    status, body = post(
        f"{server.url}/dc/bayview/oauth/token", {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    )
    assert status == 400 and body["error"] == "invalid_grant"


def test_revocation_by_the_customer(server, third_party, page):
    consent_in_browser(page, authorize(server, third_party))
    token = exchange(server, third_party)
    page.goto(f"{server.url}/dc/bayview/sharing")
    listed = page.locator("#current-authorizations li.auth", has_text="Demo Energy App")
    expect(listed.first).to_be_visible()
    count = listed.count()
    listed.last.get_by_role("link", name="Revoke access…").click()
    page.get_by_role("button", name="Yes, revoke access").click()
    expect(page.locator("#current-authorizations li.auth", has_text="Demo Energy App")).to_have_count(count - 1)
    status, body = post(
        f"{server.url}/dc/bayview/oauth/token", {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    )
    # whichever authorization was revoked on the page, the customer's newest one is the one this token holds
    assert status == 400 and body["error"] == "invalid_grant"


def test_utility_initiated_scope_selection(server, page):
    """Portal third-party list -> the third party's scope screen -> authorize -> consent -> callback."""
    with ThirdParty(authorize_url=f"{server.url}/dc/bayview/oauth/authorize", client_id="selector") as tp:
        _register_selector(server, tp)
        page.goto(f"{server.url}/dc/bayview/")
        fill_sign_in(page)
        page.goto(f"{server.url}/dc/bayview/sharing")
        page.get_by_role("button", name="Connect Scope Selector").click()
        expect(page.get_by_role("heading", name="Share your data with Scope Selector?")).to_be_visible()
        page.get_by_role("button", name="Allow").click()
        expect(page.locator("#tp-done")).to_be_visible()
        selection = tp.selections[-1]
        assert selection["DataCustodianID"] == "bayview-pl" and selection["scope"]
        assert tp.callbacks[-1]["code"] and tp.callbacks[-1]["state"] == "tp-state"


def test_third_party_initiated_scope_selection(server, page):
    """ScopeSelectionList?ThirdPartyID= -> the third party's scope screen -> authorize -> consent -> callback."""
    with ThirdParty(authorize_url=f"{server.url}/dc/bayview/oauth/authorize", client_id="selector") as tp:
        _register_selector(server, tp)
        page.goto(f"{server.url}/dc/bayview/RetailCustomer/ScopeSelectionList?ThirdPartyID=selector")
        fill_sign_in(page)
        expect(page.get_by_role("heading", name="Share your data with Scope Selector?")).to_be_visible()
        page.get_by_role("button", name="Allow").click()
        expect(page.locator("#tp-done")).to_be_visible()
        assert tp.selections[-1]["DataCustodianID"] == "bayview-pl"
        assert tp.callbacks[-1]["code"]


def _register_selector(server, tp: ThirdParty) -> None:
    """A production third party with a scope-selection screen, straight into the live server's database."""
    import datetime as dt
    import sqlite3

    from werkzeug.security import generate_password_hash

    db = server.args[server.args.index("--database") + 1]
    con = sqlite3.connect(db)
    (utility_id,) = con.execute("SELECT id FROM utility WHERE slug = 'bayview'").fetchone()
    (scopes,) = con.execute(
        "SELECT scopes FROM application WHERE client_id = 'demo-third-party' AND utility_id = ?", (utility_id,)
    ).fetchone()
    con.execute(
        "INSERT INTO application (utility_id, uuid, client_id, client_secret_hash, name, description, "
        "contact_email, redirect_uris, allow_loopback_redirects, scope_selection_uri, scopes, status, created_at)"
        " VALUES (?, ?, 'selector', ?, 'Scope Selector', 'Picks a scope for you', 'dev@example.com', ?, 0, ?, ?,"
        " 'production', ?)",
        (
            utility_id,
            "5e1ec7a0-0000-5000-8000-000000000001",
            generate_password_hash("s"),
            json.dumps([tp.callback]),
            tp.base + "/ScopeSelection",
            scopes,
            dt.datetime(2025, 1, 1).isoformat(" "),
        ),
    )
    con.commit()
    con.close()
