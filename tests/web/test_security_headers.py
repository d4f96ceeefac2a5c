"""The browser-facing policy on every route, found by walking the route tables (the sandbox's and
the demo app's), path arguments filled from the seeded world and the answers followed:

- every answer says nosniff; every HTML page refuses framing, sends a referrer policy that never
  gives another site a URL's path, and a CSP that its own markup satisfies (no inline style,
  script or handler; stylesheets of its own origin);
- every cookie is HttpOnly and SameSite=Lax, and Secure under an https public URL;
- CORS only under the resource root, for any origin and without credentials; no route echoes an
  Origin or allows credentials, and the registration endpoint refuses another site's page.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from conftest import ADMIN_KEY
from sqlalchemy import func, select
from web.helpers import app_count, csrf, offered, sb_of, text
from web.oauth_steps import authorize_url, sign_in

from sandbox import create_app
from sandbox.core.models import Application, Authorization, Customer, Notification
from sandbox.demo.app import create_demo_app

EVIL = "https://evil.example"
RESOURCE = re.compile(r"^/dc/[^/]+/espi/1_1/resource/")
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# pages the walk must have seen rendered (200, HTML), or it proves little
MUST_RENDER = {
    "oauth.authorize",
    "site.home",
    "control.index",
    "portal.home",
    "portal.sharing",
    "portal.download_form",
    "portal.moving_form",
    "portal.revoke_confirm",
    "oauth.third_party_list",
    "admin.home",
    "admin.applications",
    "admin.customer",
    "developer.home",
    "developer.show_app",
    "developer.edit_app",
    "developer.new_app",
    "developer.terms",
}


# --- the world's values for every path argument ------------------------------------------------


def _values(app, client) -> dict[str, str]:
    """Every path argument of the route table, from the seeded world: the demo customer, a developer's
    application (registered here) with an authorization and its notification."""
    sign_in(client)
    client.post(
        "/dc/bayview/admin/login",
        data={"csrf_token": csrf(text(client.get("/dc/bayview/admin/"))), "username": "staff", "password": "staff"},
    )
    page = text(client.get("/dc/bayview/developer/"))
    assert (
        client.post(
            "/dc/bayview/developer/signup",
            data={"csrf_token": csrf(page), "name": "Ann", "email": "ann@example.com", "password": "correct horse"},
        ).status_code
        == 303
    )
    form = {
        "name": "Watt Watcher",
        "contact_email": "ann@example.com",
        "redirect_uris": "https://ww.example.com/cb",
        "notify_uri": "https://ww.example.com/notify",
        "scopes": offered(sb_of(app).world)[:1],
    }
    new = text(client.get("/dc/bayview/developer/apps/new"))
    assert client.post("/dc/bayview/developer/apps/new", data={**form, "csrf_token": csrf(new)}).status_code == 201
    with sb_of(app).db.sessions() as s:
        dev_app = s.scalars(select(Application).where(Application.name == "Watt Watcher")).one()
        demo = s.scalars(select(Customer).where(Customer.utility.has(slug="bayview"), Customer.number == 0)).one()
        point = demo.usage_points[0].uuid
    r = client.post(
        "/sandbox-api/authorizations",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"utility": "bayview", "customer": "demo", "client_id": dev_app.client_id, "scope": dev_app.scopes[0]},
    )
    assert r.status_code == 200, r.data
    with sb_of(app).db.sessions() as s:
        auth = s.scalars(select(Authorization).where(Authorization.uuid == r.get_json()["authorization_id"])).one()
        notification = s.scalar(select(func.max(Notification.id)))  # the authorization's, to the app's notify URI
    assert notification is not None
    made = client.post(
        "/sandbox-api/sandboxes", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, json={"customers": 0}
    )
    assert made.status_code == 201, made.data
    run = client.post(
        "/sandbox-api/conformance",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"utility": "bayview", "client_id": dev_app.client_id, "timeout": 10},
    )
    assert run.status_code == 201, run.data
    return {
        "run_id": run.get_json()["id"],
        "sandbox_id": made.get_json()["id"],
        "slug": "bayview",
        "customer_uuid": demo.uuid,
        "customer_id": str(demo.id),
        "username": "demo",
        "app_id": str(dev_app.id),
        "application_id": dev_app.uuid,
        "client_id": dev_app.client_id,
        "action": "hold",
        "auth_id": str(auth.id),
        "authorization_id": auth.uuid,
        "subscription_id": auth.subscription_uuid,
        "retail_customer_id": demo.uuid,
        "usage_point_id": point,
        "notification_id": str(notification),
        "bulk_id": dev_app.client_id,
        "filename": "css/sandbox.css",
        "rest": "nothing-here",
        "meter_reading_id": "1",
        "interval_block_id": "1",
        "reading_type_id": "1",
        "local_time_parameters_id": "1",
        "quality_summary_id": "1",
        "usage_summary_id": "1",
        "statement_id": "1",
        **{
            name: "1"
            for name in (
                "customer_account_id",
                "customer_agreement_id",
                "service_location_id",
                "service_supplier_id",
                "meter_id",
                "end_device_id",
                "program_date_id_mappings_id",
            )
        },
    }


QUERIES = {
    "oauth.authorize": urlsplit(authorize_url()).query,
    "oauth.scope_selection_list": "ThirdPartyID=demo-third-party",
}


def _url(rule, values: dict[str, str]) -> str:
    def fill(m):
        name = m.group(1)
        assert name in values, f"{rule.rule}: no value for the path argument {name!r}; add one to _values"
        return quote(values[name], safe="/")

    url = ARGUMENT.sub(fill, rule.rule)
    return url + ("?" + QUERIES[rule.endpoint] if rule.endpoint in QUERIES else "")


def _methods(rule) -> list[str]:
    return sorted(set(rule.methods) - {"HEAD", "OPTIONS"})


def _order(item) -> tuple:
    """GETs first, then the other methods; signing out and the control API's reset last."""
    rule, method = item
    return (rule.endpoint.endswith("logout") or rule.endpoint == "control.control_reset", method != "GET", rule.rule)


def _walk(client, url: str, method: str, data: dict | None):
    """The answer to one call and each redirect after it within this site (up to five)."""
    answers = [client.open(url, method=method, data=data)]
    while answers[-1].status_code in (301, 302, 303, 307, 308) and len(answers) < 6:
        target = urlsplit(answers[-1].headers["Location"])
        if target.netloc not in ("", "localhost"):
            break
        answers.append(client.get(target.path + (f"?{target.query}" if target.query else "")))
    return answers


# --- what an answer must carry ---------------------------------------------------------------------


class _Markup(HTMLParser):
    """What in a page its CSP would block: inline styles, scripts and handlers, foreign stylesheets."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")
        if tag in ("style", "iframe", "object", "embed"):
            self.problems.append(f"<{tag}>")
        if tag == "script":
            self.problems.append("<script>")
        if tag == "link" and "stylesheet" in (a.get("rel") or "") and not _own(a.get("href") or ""):
            self.problems.append(f"<link rel=stylesheet href={a.get('href')!r}>")


def _own(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.netloc in ("", "localhost")
        and parts.scheme in ("", "http")
        and url.startswith(("/", "http://localhost/"))
    )


def csp(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in header.split(";")) if d}


def check_answer(r, where: str, secure: bool = False) -> None:
    assert r.headers.get("X-Content-Type-Options") == "nosniff", where
    for cookie in r.headers.getlist("Set-Cookie"):
        flags = {f.strip().split("=")[0].lower(): f.strip() for f in cookie.split(";")[1:]}
        assert "httponly" in flags and flags.get("samesite", "").lower() == "samesite=lax", f"{where}: {cookie}"
        assert ("secure" in flags) == secure, f"{where}: {cookie}"
    if r.mimetype != "text/html":
        return
    policy = csp(r.headers.get("Content-Security-Policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"] and policy.get("default-src") == ["'self'"], where
    assert not [v for values in policy.values() for v in values if v.startswith("'unsafe")], where
    assert set(policy) <= {"default-src", "frame-ancestors", "base-uri", "object-src", "form-action"}, where
    assert r.headers.get("X-Frame-Options") == "DENY", where
    assert r.headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES, where
    markup = _Markup()
    markup.feed(r.get_data(as_text=True))
    assert not markup.problems, f"{where}: {markup.problems}"


def check_cors(r, where: str) -> None:
    """Under the resource root: any origin, no credentials. Elsewhere: no CORS at all."""
    assert "Access-Control-Allow-Credentials" not in r.headers, where
    allowed = r.headers.get("Access-Control-Allow-Origin")
    if RESOURCE.match(urlsplit(where.split(" ", 1)[1]).path):
        assert allowed == "*", where
    else:
        assert allowed is None and "Access-Control-Allow-Methods" not in r.headers, where


# --- the walks ---------------------------------------------------------------------------------------


def _rules(app):
    return sorted(((rule, m) for rule in app.url_map.iter_rules() for m in _methods(rule)), key=_order)


def test_every_route_answers_with_the_header_and_cookie_policy(app, client):
    values = _values(app, client)
    token = csrf(text(client.get("/dc/bayview/")))
    rendered, walked = set(), 0
    for rule, method in _rules(app):
        url = _url(rule, values)
        answers = _walk(client, url, method, None if method == "GET" else {"csrf_token": token})
        walked += 1
        for i, r in enumerate(answers):
            check_answer(r, f"{method} {url} (hop {i})")
        if method == "GET" and answers[0].status_code == 200 and answers[0].mimetype == "text/html":
            rendered.add(rule.endpoint)
    assert walked == sum(len(_methods(r)) for r in app.url_map.iter_rules())
    assert MUST_RENDER <= rendered, MUST_RENDER - rendered


def test_the_consent_page_refuses_framing(client):
    sign_in(client)
    r = client.get(authorize_url())
    assert r.status_code == 200 and 'id="consent-form"' in text(r)
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"] and r.headers["X-Frame-Options"] == "DENY"


def test_every_route_gives_cors_only_under_the_resource_root_and_never_with_credentials(app):
    client = app.test_client()
    values = _values(app, app.test_client())
    before = app_count(app)
    for rule, method in _rules(app):
        url = _url(rule, values)
        pre = client.options(
            url,
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        check_cors(pre, f"OPTIONS {url}")
        if RESOURCE.match(url):
            allowed = {m.strip() for m in pre.headers["Access-Control-Allow-Methods"].split(",")}
            assert pre.status_code == 204 and (method in allowed or method == "PATCH"), url  # PATCH: no rule has it
            assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower(), url
        actual = client.open(url, method=method, headers={"Origin": EVIL}, json={} if method != "GET" else None)
        check_cors(actual, f"{method} {url}")
        assert EVIL not in str(actual.headers), url
    assert app_count(app) == before, "a call of another site's page registered an application"


def test_the_demo_app_answers_with_the_same_policy():
    demo = create_demo_app("http://127.0.0.1:9")  # no sandbox there: its pages say so
    demo.config["WTF_CSRF_ENABLED"] = False
    client = demo.test_client()
    values = {"slug": "bayview", "filename": "css/demo.css"}
    seen = 0
    for rule in demo.url_map.iter_rules():
        url = ARGUMENT.sub(lambda m: values[m.group(1)], rule.rule)
        for method in _methods(rule):
            r = client.open(url, method=method, headers={"Origin": EVIL})
            check_answer(r, f"demo {method} {url}")
            check_cors(r, f"demo {url}")
            seen += r.mimetype == "text/html"
    assert seen >= 4


# --- registration from another site's page -------------------------------------------------------

METADATA = {"client_name": "Lurker", "redirect_uris": ["https://lurker.example/cb"]}


def test_a_page_of_another_site_cannot_register_or_read_a_secret(app, client):
    before = app_count(app)
    pre = client.options(
        "/dc/bayview/espi/1_1/register",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert "Access-Control-Allow-Origin" not in pre.headers  # the browser never sends the POST
    for ctype in ("application/json", "text/plain"):  # text/plain: a "simple" request, sent without asking
        r = client.post(
            "/dc/bayview/espi/1_1/register",
            headers={"Origin": EVIL, "Content-Type": ctype, "Accept": "application/json"},
            data=json.dumps(METADATA),
        )
        assert r.status_code == 403 and r.headers["X-Sandbox-Reason"] == "cross_origin", r.data
        assert "Origin" in r.get_json()["error_description"] and "client_secret" not in text(r)
        assert "Access-Control-Allow-Origin" not in r.headers
    assert app_count(app) == before


def test_a_program_and_the_sandboxs_own_pages_still_register(app, client):
    for headers in ({}, {"Origin": "http://localhost"}):
        r = client.post(
            "/dc/bayview/espi/1_1/register", json=METADATA, headers={"Accept": "application/json", **headers}
        )
        assert r.status_code == 201 and r.get_json()["client_secret"], r.data
        assert "Access-Control-Allow-Origin" not in r.headers


def test_the_token_endpoint_and_the_control_api_give_no_cors(client):
    r = client.post(
        "/dc/bayview/oauth/token",
        headers={"Origin": EVIL},
        data={"grant_type": "client_credentials", "client_id": "demo-third-party", "client_secret": "demo-secret"},
    )
    assert r.status_code == 200 and "access_token" in r.get_json()
    assert "Access-Control-Allow-Origin" not in r.headers
    r = client.get("/sandbox-api/clock", headers={"Origin": EVIL, "Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


# --- cookies under an https public URL ----------------------------------------------------------


@pytest.fixture
def https_app(tmp_path, clock):
    a = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'https.db'}",
            "CUSTOMERS": 1,
            "TESTING": True,
            "PUBLIC_URL": "https://sandbox.example/",
        },
        clock=clock,
    )
    yield a
    sb_of(a).db.engine.dispose()


def test_cookies_are_secure_under_an_https_public_url(https_app):
    client = https_app.test_client()
    page = client.get("/dc/bayview/", base_url="https://sandbox.example")
    check_answer(page, "GET /dc/bayview/ over https", secure=True)
    r = client.post(
        "/dc/bayview/login",
        base_url="https://sandbox.example",
        headers={"Referer": "https://sandbox.example/dc/bayview/"},
        data={"csrf_token": csrf(text(page)), "method": "password", "username": "demo", "password": "demo"},
    )
    assert r.status_code == 303 and r.headers.getlist("Set-Cookie")
    check_answer(r, "POST /dc/bayview/login over https", secure=True)


def test_each_utilitys_colours_come_from_a_stylesheet(app, client):
    r = client.get("/utilities.css")
    assert r.status_code == 200 and r.mimetype == "text/css"
    css = text(r)
    for u in sb_of(app).world.utilities:
        assert f".utility-{u.slug} {{ --primary: {u.colors['primary']}; --accent: {u.colors['accent']}; }}" in css
        assert f".card.utility-top-{u.slug} {{ border-top: 6px solid {u.colors['primary']}; }}" in css
    assert client.get("/utilities.css", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    home = text(client.get("/"))
    assert 'href="/utilities.css"' in home and "utility-top-bayview" in home
