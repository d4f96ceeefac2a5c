"""The OAuth steps a third party and a customer take, through the Flask test client: sign in,
consent, exchange the code (shared by the OAuth and resource-server tests)."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from web.helpers import csrf

SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
PII_SCOPE = "FB=1_3_4_5_13_14_39_46_55;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
CALLBACK = "http://127.0.0.1:9999/callback"
BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()


def sign_in(client, slug="bayview", username="demo", password="demo"):
    page = client.get(f"/dc/{slug}/").get_data(as_text=True)
    r = client.post(
        f"/dc/{slug}/login",
        data={"method": "password", "username": username, "password": password, "csrf_token": csrf(page)},
    )
    assert r.status_code == 303


def authorize_url(slug="bayview", **over) -> str:
    q = {
        "client_id": "demo-third-party",
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": SCOPE,
        "state": "s-123",
    }
    q.update({k: v for k, v in over.items() if v is not None})
    for k in [k for k, v in over.items() if v is None]:
        q.pop(k, None)
    return f"/dc/{slug}/oauth/authorize?" + urlencode(q)


def consent(client, url, decision="accept", usage_points=None):
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    html = page.get_data(as_text=True)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    data = {
        "csrf_token": csrf(html),
        "decision": decision,
        "usage_point": usage_points if usage_points is not None else ids,
    }
    return client.post(url, data=data)


def query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(client, slug="bayview", **over) -> str:
    r = consent(client, authorize_url(slug, **over))
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    q = query(r.headers["Location"])
    assert q["state"] == over.get("state", "s-123")
    return q["code"]


def token(client, slug="bayview", auth=BASIC, **data):
    return client.post(f"/dc/{slug}/oauth/token", data=data, headers={"Authorization": auth} if auth else {})
