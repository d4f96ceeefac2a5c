"""Racing refreshes of a rotating token and racing exchanges of one code, over real HTTP against
run.py so that the requests truly overlap: one wins, the other is `invalid_grant`."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from web.helpers import csrf, overlapping
from web.oauth_steps import BASIC, CALLBACK, authorize_url

from .server import LiveServer


class Browser:
    """A customer's browser over real HTTP: cookies kept, redirects not followed, no proxy."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            self._NoRedirect(),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def call(self, method: str, path: str, data: dict | list | None = None, headers: dict | None = None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        hdrs = (
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
            if body is not None
            else dict(headers or {})
        )
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def sign_in(self, slug="bayview"):
        _, _, page = self.call("GET", f"/dc/{slug}/")
        status, _, body = self.call(
            "POST",
            f"/dc/{slug}/login",
            {"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page.decode())},
        )
        assert status == 303, body[:300]

    def code(self, slug="bayview") -> str:
        url = authorize_url(slug)
        status, _, page = self.call("GET", url)
        assert status == 200, page[:300]
        html = page.decode()
        ids = re.findall(r'name="usage_point" value="(\d+)"', html)
        status, headers, body = self.call(
            "POST", url, {"csrf_token": csrf(html), "decision": "accept", "usage_point": ids}
        )
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
