"""Dynamic registration over real HTTP against the real run.py: register, then manage the record
with the registration access token, and use the issued client credentials at the token endpoint."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from espi.checks import ATOM, ESPI, all_text, assert_valid, parse
from live.server import LiveServer

pytestmark = pytest.mark.live


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) without raising for 4xx/5xx; no proxy (loopback only)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer("--customers", "1", "--database", str(tmp_path_factory.mktemp("live") / "reg.db")) as s:
        yield s


def test_register_and_manage_over_http(server):
    register = f"{server.url}/dc/prairie/espi/1_1/register"
    # no scope: the registration gets every scope Prairie offers
    meta = {
        "client_name": "Live TP",
        "redirect_uris": ["http://127.0.0.1:9/cb"],
        "contacts": ["live@tp.example"],
        "thirdPartyNotifyUri": "http://127.0.0.1:9/notify",
    }
    status, headers, body = call(
        "POST", register, json.dumps(meta).encode(), {"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert status == 201, body
    reg = json.loads(body)
    assert headers["Cache-Control"] == "no-store" and headers["Location"] == reg["registration_client_uri"]
    assert reg["registration_client_uri"].startswith(
        f"{server.url}/dc/prairie/espi/1_1/resource/ApplicationInformation/"
    )
    auth = {"Authorization": f"Bearer {reg['registration_access_token']}"}

    status, headers, body = call("GET", reg["registration_client_uri"], headers=auth)
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    root = parse(body)
    assert_valid(root)
    assert root.findtext(f"{ATOM}content/{ESPI}ApplicationInformation/{ESPI}client_id") == reg["client_id"]
    text = all_text(root)
    assert reg["client_secret"] not in text and reg["registration_access_token"] not in text

    status, headers, body = call("GET", reg["registration_client_uri"], headers={"Authorization": "Bearer nope"})
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    status, headers, body = call("GET", reg["registration_client_uri"])
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

    changed = dict(meta, client_name="Live TP renamed", redirect_uris=["http://127.0.0.1:9/cb2"])
    status, _, body = call(
        "PUT",
        reg["registration_client_uri"],
        json.dumps(changed).encode(),
        {**auth, "Content-Type": "application/json", "Accept": "application/json"},
    )
    assert status == 200 and json.loads(body)["client_name"] == "Live TP renamed"
    assert json.loads(body)["redirect_uris"] == ["http://127.0.0.1:9/cb2"]
    bad = dict(changed, redirect_uris=["http://127.0.0.1:9/cb#f"])
    status, _, body = call(
        "PUT", reg["registration_client_uri"], json.dumps(bad).encode(), {**auth, "Content-Type": "application/json"}
    )
    assert status == 400 and json.loads(body)["error"] == "invalid_redirect_uri"

    # the issued credentials work at the OAuth server's token endpoint
    basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
    status, _, body = call(
        "POST",
        f"{server.url}/dc/prairie/oauth/token",
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    access = json.loads(body)["access_token"]
    # ... but an access token does not manage the registration
    status, _, body = call("GET", reg["registration_client_uri"], headers={"Authorization": f"Bearer {access}"})
    assert status == 403 and "registration access token" in json.loads(body)["error_description"]

    status, _, body = call("DELETE", reg["registration_client_uri"], headers=auth)
    assert status == 204 and body == b""
    status, _, _ = call("GET", reg["registration_client_uri"], headers=auth)
    assert status == 401  # its registration token went with it, and tokens are judged first
    status, _, body = call(
        "POST",
        f"{server.url}/dc/prairie/oauth/token",
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
