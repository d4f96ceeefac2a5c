"""Getting tokens from a live sandbox over HTTP, as a third party and a customer do: the customer
signs in at the portal and consents (CSRF-protected forms), the third party exchanges the code.

The seeded credentials (README): the demo third party, and each utility's own upload and
data-custodian clients."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

DEMO = ("demo-third-party", "demo-secret")
UPLOAD = ("upload-client", "upload-secret")
CUSTODIAN = ("data-custodian", "data-custodian-secret")
CALLBACK = "http://127.0.0.1:9/callback"  # any loopback port is allowed for the demo third party
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def signed_in(base: str, slug: str, username: str = "demo", password: str = "demo") -> requests.Session:
    """A browser-like session signed in to the utility's customer portal."""
    s = requests.Session()
    page = s.get(f"{base}/dc/{slug}/", timeout=30).text
    r = s.post(
        f"{base}/dc/{slug}/login",
        data={"method": "password", "username": username, "password": password, "csrf_token": csrf(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303, r.text[:300]
    return s


def code_for(
    base: str,
    slug: str,
    scope: str,
    customer: requests.Session,
    client_id: str = DEMO[0],
    usage_points: list[str] | None = None,
    decision: str = "accept",
    state: str = "st",
) -> dict:
    """The customer's answer on the consent page: the callback's query (code and state, or error)."""
    q = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": scope, "state": state}
    url = f"{base}/dc/{slug}/oauth/authorize?" + urlencode(q)
    page = customer.get(url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    ids = re.findall(r'name="usage_point" value="(\d+)"', page.text)
    data = {
        "csrf_token": csrf(page.text),
        "decision": decision,
        "usage_point": ids if usage_points is None else usage_points,
    }
    r = customer.post(url, data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}


def token(base: str, slug: str, credentials: tuple[str, str] = DEMO, **data) -> requests.Response:
    return requests.post(f"{base}/dc/{slug}/oauth/token", data=data, auth=credentials, timeout=30)


def customer_token(
    base: str,
    slug: str,
    scope: str,
    username: str = "demo",
    password: str = "demo",
    usage_points: list[str] | None = None,
) -> dict:
    """A customer access token (authorization code grant) for the demo third party: the token response."""
    customer = signed_in(base, slug, username, password)
    answer = code_for(base, slug, scope, customer, usage_points=usage_points)
    r = token(base, slug, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert r.status_code == 200, r.text
    return r.json()


def client_token(base: str, slug: str, credentials: tuple[str, str] = DEMO) -> dict:
    r = token(base, slug, credentials, grant_type="client_credentials")
    assert r.status_code == 200, r.text
    return r.json()


def offered_scopes(base: str, slug: str) -> list[str]:
    """The scopes the utility's demo third party registered (its standard scopes): usage only, usage + PII."""
    meta = requests.get(f"{base}/dc/{slug}/.well-known/oauth-authorization-server", timeout=30)
    if meta.status_code == 200 and meta.json().get("scopes_supported"):
        return meta.json()["scopes_supported"]
    raise AssertionError("no scopes advertised")
