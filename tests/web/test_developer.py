"""The developer portal through the Flask test client: accounts, registering an application,
the secret shown once, rotation, terms, certificate upload, the notification test button,
the checklist and the way to Production through the OAuth server's own endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import html as html_lib
import io
import re

import pytest
from conftest import FIXED_NOW
from espi.checks import ESPI, assert_valid, parse
from live.third_party import ThirdParty
from sqlalchemy import select
from web.helpers import (
    app_count,
    closed_port_url,
    kept_secret,
    make_certificate,
    offered,
    sb_of,
    sha256_fingerprint,
    text,
    token_from,
    utility_count,
)
from werkzeug.security import check_password_hash

from sandbox.core.models import Application, Developer

SECRET = re.compile(r'id="client-secret">([^<]+)<')
token = token_from("/dc/bayview/developer/")


def sign_up(client, slug="bayview", email="ann@example.com", name="Ann's Apps", password="correct horse"):
    return client.post(
        f"/dc/{slug}/developer/signup",
        data={
            "csrf_token": token(client, f"/dc/{slug}/developer/"),
            "name": name,
            "email": email,
            "password": password,
        },
    )


def form(app, slug="bayview", **changes) -> dict:
    data = {
        "name": "Watt Watcher",
        "description": "Shows your usage",
        "contact_email": "ann@example.com",
        "redirect_uris": "https://ww.example.com/cb\r\nhttp://127.0.0.1:5000/cb\r\n",
        "notify_uri": "https://ww.example.com/notify",
        "scope_selection_uri": "",
        "client_uri": "",
        "logo_uri": "",
        "scopes": offered(sb_of(app).world, slug)[:1],
    }
    data.update(changes)
    return data


def register(client, app, slug="bayview", **changes):
    data = form(app, slug, **changes)
    data["csrf_token"] = token(client, f"/dc/{slug}/developer/apps/new")
    return client.post(f"/dc/{slug}/developer/apps/new", data=data)


def the_app(app, name="Watt Watcher", slug="bayview") -> Application:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Application).where(Application.name == name, Application.utility.has(slug=slug))).one()


def checklist(html: str) -> list[tuple[str, bool]]:
    return [(k, d == "true") for k, d in re.findall(r'data-check="(\w+)" data-done="(\w+)"', html)]


# --- accounts -----------------------------------------------------------------------------


def test_landing_page_has_sign_in_and_sign_up_with_csrf_and_the_endpoints(client):
    html = text(client.get("/dc/bayview/developer/"))
    assert "Bayview Power &amp; Light" in html and "utility-bayview" in html and "/utilities.css" in html  # its colours
    assert 'id="developer-login"' in html and 'id="developer-signup"' in html
    assert html.count('name="csrf_token"') == 2
    assert "http://localhost/dc/bayview/oauth/token" in html and "http://localhost/dc/bayview/espi/1_1/register" in html
    assert "bayview-pl" in html  # DataCustodianID
    assert client.get("/dc/nowhere/developer/").status_code == 404


def test_sign_up_sign_in_and_out(client, app):
    r = sign_up(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/dc/bayview/developer/")
    home = text(client.get("/dc/bayview/developer/"))
    assert "My applications" in home and 'id="no-applications"' in home
    with sb_of(app).db.sessions() as s:
        dev = s.scalars(select(Developer)).one()
        assert dev.email == "ann@example.com" and check_password_hash(dev.password_hash, "correct horse")
    client.post("/dc/bayview/developer/logout", data={"csrf_token": token(client)})
    assert 'id="developer-login"' in text(client.get("/dc/bayview/developer/"))
    bad = client.post(
        "/dc/bayview/developer/login",
        data={"csrf_token": token(client), "email": "ann@example.com", "password": "wrong horse"},
    )
    assert bad.status_code == 401 and "do not match" in text(bad)
    ok = client.post(
        "/dc/bayview/developer/login",
        data={"csrf_token": token(client), "email": "ANN@example.com", "password": "correct horse"},
    )
    assert ok.status_code == 303
    assert 'id="no-applications"' in text(client.get("/dc/bayview/developer/"))
    # the developer session is per utility and apart from the customer portal
    assert 'id="developer-login"' in text(client.get("/dc/prairie/developer/"))
    assert "Sign in to Bayview" in text(client.get("/dc/bayview/"))


def test_sign_up_refusals(client):
    sign_up(client)
    client.post("/dc/bayview/developer/logout", data={"csrf_token": token(client)})
    again = sign_up(client, email="Ann@Example.com")
    assert again.status_code == 400 and "already a developer account" in text(again)
    short = sign_up(client, email="bo@example.com", password="short")
    assert short.status_code == 400 and "at least 8 characters" in text(short)


def test_customer_login_does_not_open_the_developer_portal(client):
    t = token(client, "/dc/bayview/")
    client.post(
        "/dc/bayview/login", data={"csrf_token": t, "method": "password", "username": "demo", "password": "demo"}
    )
    r = client.get("/dc/bayview/developer/apps/new")
    assert r.status_code == 302 and r.headers["Location"].endswith("/dc/bayview/developer/")


@pytest.mark.parametrize(
    "path",
    [
        "/signup",
        "/login",
        "/apps/new",
        "/apps/1/rotate",
        "/apps/1/certificate",
        "/apps/1/notify-test",
        "/apps/1/terms",
        "/apps/1/edit",
        "/logout",
    ],
)
def test_every_form_needs_the_csrf_token(client, app, path):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    before = (a.client_secret_hash, a.certificate_pem, a.terms_version, a.name)
    url = f"/dc/bayview/developer{path}".replace("/apps/1/", f"/apps/{a.id}/")
    r = client.post(
        url,
        data={
            "name": "Changed",
            "email": "x@example.com",
            "password": "correct horse",
            "redirect_uris": "https://x.example/cb",
            "scopes": offered(sb_of(app).world)[:1],
            "accept": "yes",
            "version": "1",
            "pem": make_certificate()[0],
        },
    )
    assert r.status_code == 400 and "CSRF" in text(r)
    a = the_app(app)
    assert (a.client_secret_hash, a.certificate_pem, a.terms_version, a.name) == before
    assert app_count(app) == utility_count(app) + 1  # each utility's demo application and this one


# --- registering ------------------------------------------------------------------------------


def test_register_shows_the_secret_once_and_stores_its_hash(client, app):
    sign_up(client)
    form_html = text(client.get("/dc/bayview/developer/apps/new"))
    for s in offered(sb_of(app).world):
        assert html_lib.escape(s) in form_html
    assert "Electricity use in intervals" in form_html and "Contact details: name, address, phone, e-mail" in form_html
    r = register(client, app)
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    html = text(r)
    secret = SECRET.search(html).group(1)
    a = the_app(app)
    assert a.status == "review" and a.developer_id is not None and a.client_id in html
    assert a.redirect_uris == ["https://ww.example.com/cb", "http://127.0.0.1:5000/cb"]
    assert a.scopes == offered(sb_of(app).world)[:1] and not a.allow_loopback_redirects
    assert a.client_secret_hash == kept_secret(app, secret) and secret not in a.client_secret_hash
    assert "shown only this once" in html
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert secret not in page and 'id="client-secret"' not in page and a.client_id in page
    assert 'data-status="review"' in page and ">Review<" in page
    listing = text(client.get("/dc/bayview/developer/"))
    assert "Watt Watcher" in listing and a.client_id in listing


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"redirect_uris": "https://ww.example.com/cb#top"},
            "redirect_uris: &#39;https://ww.example.com/cb#top&#39; has a fragment",
        ),
        ({"redirect_uris": "/callback"}, "must be an absolute http:// or https:// URI"),
        ({"redirect_uris": ""}, "register at least one redirect URI"),
        ({"scopes": ["FB=1_3_4_5;IntervalDuration=60"]}, "is not offered by Bayview Power &amp; Light"),
        ({"scopes": []}, "scopes: choose at least one"),
        ({"notify_uri": "javascript:alert(1)"}, "notify_uri:"),
        ({"name": ""}, "name: the application needs a name"),
    ],
)
def test_register_refusals_store_nothing(client, app, change, words):
    sign_up(client)
    r = register(client, app, **change)
    assert r.status_code == 400 and words in text(r), text(r)[:3000]
    assert app_count(app) == utility_count(app)


def test_edit_rotate_and_ownership(client, app):
    sign_up(client)
    secret = SECRET.search(text(register(client, app))).group(1)
    a = the_app(app)
    data = form(
        app, name="Watt Watcher Pro", redirect_uris="https://ww.example.com/new-cb", scopes=offered(sb_of(app).world)
    )
    data["csrf_token"] = token(client)
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/edit", data=data)
    assert r.status_code == 303
    b = the_app(app, "Watt Watcher Pro")
    assert b.redirect_uris == ["https://ww.example.com/new-cb"] and b.scopes == offered(sb_of(app).world)
    bad = client.post(
        f"/dc/bayview/developer/apps/{a.id}/edit",
        data=form(app, redirect_uris="https://x.example/#f") | {"csrf_token": token(client)},
    )
    assert bad.status_code == 400 and the_app(app, "Watt Watcher Pro").redirect_uris == [
        "https://ww.example.com/new-cb"
    ]
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/rotate", data={"csrf_token": token(client)})
    new = SECRET.search(text(r)).group(1)
    b = the_app(app, "Watt Watcher Pro")
    assert new != secret and b.client_secret_hash == kept_secret(app, new) != kept_secret(app, secret)
    # another developer sees none of it
    other = app.test_client()
    sign_up(other, email="eve@example.com")
    for path in ("", "/edit", "/terms"):
        assert other.get(f"/dc/bayview/developer/apps/{a.id}{path}").status_code == 404
    r = other.post(f"/dc/bayview/developer/apps/{a.id}/rotate", data={"csrf_token": token(other)})
    assert r.status_code == 404 and the_app(app, "Watt Watcher Pro").client_secret_hash == kept_secret(app, new)
    # and the demo application (no developer) is nobody's here
    demo = the_app(app, "Demo Energy App")
    assert client.get(f"/dc/bayview/developer/apps/{demo.id}").status_code == 404


# --- terms --------------------------------------------------------------------------------


def test_terms_page_and_acceptance(client, app):
    sign_up(client, slug="lakeshore")
    register(client, app, "lakeshore")
    a = the_app(app, slug="lakeshore")
    page = text(client.get(f"/dc/lakeshore/developer/apps/{a.id}/terms"))
    assert "{utility}" not in page and "Lakeshore Energy &amp; Water within 72 hours" in page
    assert "<ol>" in page and 'data-version="2"' in page
    t = token(client, f"/dc/lakeshore/developer/apps/{a.id}/terms")
    unticked = client.post(f"/dc/lakeshore/developer/apps/{a.id}/terms", data={"csrf_token": t, "version": "2"})
    assert unticked.status_code == 400 and the_app(app, slug="lakeshore").terms_version is None
    stale = client.post(
        f"/dc/lakeshore/developer/apps/{a.id}/terms", data={"csrf_token": t, "version": "1", "accept": "yes"}
    )
    assert stale.status_code == 400 and "version 2 is the current version" in text(stale)
    ok = client.post(
        f"/dc/lakeshore/developer/apps/{a.id}/terms", data={"csrf_token": t, "version": "2", "accept": "yes"}
    )
    assert ok.status_code == 303
    a = the_app(app, slug="lakeshore")
    assert a.terms_version == 2 and a.terms_accepted_at == FIXED_NOW.replace(tzinfo=None)
    assert dict(checklist(text(client.get(f"/dc/lakeshore/developer/apps/{a.id}"))))["terms"] is True
    # an older acceptance is asked again
    with sb_of(app).db.transaction() as s:
        s.get(Application, a.id).terms_version = 1
    page = text(client.get(f"/dc/lakeshore/developer/apps/{a.id}"))
    assert dict(checklist(page))["terms"] is False and "version 2 is current" in page
    assert 'id="terms-changed"' in text(client.get(f"/dc/lakeshore/developer/apps/{a.id}/terms"))


# --- certificate --------------------------------------------------------------------------


def _upload(client, app_id, pem=None, file: bytes | None = None, slug="bayview"):
    data = {"csrf_token": token(client)}
    if pem is not None:
        data["pem"] = pem
    if file is not None:
        data["file"] = (io.BytesIO(file), "cert.pem")
    return client.post(f"/dc/{slug}/developer/apps/{app_id}/certificate", data=data, content_type="multipart/form-data")


def test_certificate_upload_shows_subject_fingerprint_and_expiry(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    pem, _ = make_certificate("ww.example.com", not_after=dt.datetime(2026, 3, 1, 8, tzinfo=dt.timezone.utc))
    r = _upload(client, a.id, file=pem.encode())
    assert r.status_code == 303
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert "CN=ww.example.com" in page and sha256_fingerprint(pem) in page
    assert "01 Mar 2026 00:00" in page  # 08:00 UTC in Los Angeles
    assert dict(checklist(page))["certificate"] is True
    pasted, _ = make_certificate("pasted.example.com")
    assert _upload(client, a.id, pem=pasted).status_code == 303
    assert the_app(app).certificate_fingerprint == sha256_fingerprint(pasted)


@pytest.mark.parametrize("case", ["malformed", "expired", "private_key", "empty", "too_big"])
def test_certificate_refusals_store_nothing(client, app, case):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    pem, key = make_certificate()
    expired, _ = make_certificate(
        not_before=FIXED_NOW - dt.timedelta(days=800), not_after=FIXED_NOW - dt.timedelta(days=3)
    )
    upload, words = {
        "malformed": (b"-----BEGIN CERTIFICATE-----\nMIIBnotreally\n-----END CERTIFICATE-----\n", "could not be read"),
        "expired": (expired.encode(), "expired on 2025-07-12"),
        "private_key": ((pem + key).encode(), "contains a private key"),
        "empty": (b"", "choose a PEM file"),
        "too_big": (b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70_000, "larger than 64 KB"),
    }[case]
    r = _upload(client, a.id, file=upload) if upload else _upload(client, a.id, pem="")
    assert r.status_code == 400 and words in text(r), text(r)[:2000]
    a = the_app(app)
    assert a.certificate_pem is None and a.certificate_fingerprint is None
    assert key.split("\n")[1] not in text(r)


def test_certificate_upload_over_the_request_limit_is_413(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    r = _upload(client, a.id, file=b"A" * 200_000)
    assert r.status_code == 413 and the_app(app).certificate_pem is None


# --- notification test and the checklist --------------------------------------------------


def test_notification_button_posts_a_valid_batch_list_and_shows_the_answer(client, app):
    with ThirdParty(status=200, body=b"<ok/>") as tp:
        sign_up(client)
        register(client, app, notify_uri=tp.url)
        a = the_app(app)
        r = client.post(f"/dc/bayview/developer/apps/{a.id}/notify-test", data={"csrf_token": token(client)})
        assert r.status_code == 303
        (got,) = tp.received
        assert got["headers"]["Content-Type"] == "application/xml"
        doc = parse(got["body"])
        assert_valid(doc)
        assert (
            doc.findtext(ESPI + "resources")
            == f"http://localhost/dc/bayview/espi/1_1/resource/Batch/Bulk/{a.client_id}"
        )
        page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
        assert 'id="notify-result" data-status="200"' in page and "HTTP 200" in page and "&lt;ok/&gt;" in page
        assert re.search(r"<dd>\d+ ms</dd>", page)
        assert dict(checklist(page))["notification"] is True
        tp.status = 500
        client.post(f"/dc/bayview/developer/apps/{a.id}/notify-test", data={"csrf_token": token(client)})
        page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
        assert "HTTP 500" in page and dict(checklist(page))["notification"] is False and len(tp.received) == 2


def test_notification_button_shows_a_connection_error_as_status_zero(client, app):
    sign_up(client)
    register(client, app, notify_uri=closed_port_url())
    a = the_app(app)
    r = client.post(
        f"/dc/bayview/developer/apps/{a.id}/notify-test", data={"csrf_token": token(client)}, follow_redirects=True
    )
    page = text(r)
    assert "Test notification not delivered: no answer" in page
    assert 'data-status="0"' in page and "0 (no answer)" in page


def test_notification_button_without_a_uri(client, app):
    sign_up(client)
    register(client, app, notify_uri="")
    a = the_app(app)
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/notify-test", data={"csrf_token": token(client)})
    assert r.status_code == 400 and "register a notification URI first" in text(r)
    assert dict(checklist(text(r)))["urls"] is False


def test_the_notification_inspector_shows_each_attempt_and_sends_again(client, app):
    from conftest import ADMIN_KEY

    with ThirdParty(status=202, body=b"queued <b>it</b>") as tp:
        sign_up(client)
        register(client, app, notify_uri=tp.url)
        a = the_app(app)
        r = client.post(
            "/sandbox-api/authorizations",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            json={"utility": "bayview", "customer": "demo", "client_id": a.client_id, "scope": a.scopes[0]},
        )
        assert r.status_code == 200, r.data  # the demo customer is a test customer: an app in Review may be authorized
        page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
        (nid,) = re.findall(r'id="notification-(\d+)" data-state="pending"', page)
        assert "Authorized by a customer" in page and "Not sent yet." in page
        assert html_lib.escape(r.get_json()["resourceURI"]) in page  # the BatchList's body, shown as text
        app.extensions["notifications"].step()
        page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
        assert f'id="notification-{nid}" data-state="delivered"' in page
        assert "<td>202</td>" in page and "queued &lt;b&gt;it&lt;/b&gt;" in page and tp.url in page
        r = client.post(
            f"/dc/bayview/developer/apps/{a.id}/notifications/{nid}/send", data={"csrf_token": token(client)}
        )
        assert r.status_code == 303 and r.headers["Location"].endswith(f"#notification-{nid}")
        page = text(client.get(r.headers["Location"]))
        assert f"Notification {nid} delivered: HTTP 202" in page and page.count("<td>202</td>") == 2
        assert "(by hand)" in page and len(tp.received) == 2
        # another developer sees neither the notification nor a way to send it
        client.post("/dc/bayview/developer/logout", data={"csrf_token": token(client)})
        sign_up(client, email="bob@example.com", name="Bob")
        r = client.post(
            f"/dc/bayview/developer/apps/{a.id}/notifications/{nid}/send", data={"csrf_token": token(client)}
        )
        assert r.status_code == 404 and len(tp.received) == 2


def test_fault_scenarios_are_set_on_the_application_page_and_refused_by_name(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    r = client.post(
        f"/dc/bayview/developer/apps/{a.id}/faults",
        data={"csrf_token": token(client), "faults": "rate-limited, RemoveEntry:ReadingType"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("#faults")
    assert the_app(app).faults == ["rate-limited", "RemoveEntry:ReadingType"]
    page = text(client.get(r.headers["Location"]))
    assert "Fault scenarios: rate-limited, RemoveEntry:ReadingType." in page
    assert 'value="rate-limited, RemoveEntry:ReadingType"' in page and "connection-reset" in page
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/faults", data={"csrf_token": token(client), "faults": "boom"})
    assert r.status_code == 400 and "&#39;boom&#39; is no fault scenario" in text(r)
    assert the_app(app).faults == ["rate-limited", "RemoveEntry:ReadingType"]  # refused: nothing changed
    client.post(f"/dc/bayview/developer/apps/{a.id}/faults", data={"csrf_token": token(client), "faults": ""})
    assert not the_app(app).faults  # none


def test_a_conformance_run_starts_from_the_application_page_and_is_listed_there(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert "Start a run of every check" in page
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/conformance", data={"csrf_token": token(client)})
    assert r.status_code == 303 and "/sandbox-api/conformance/" in r.headers["Location"]
    report = text(client.get(r.headers["Location"]))
    assert "Conformance run: running" in report and a.client_id in report and "batch-list-read" in report
    again = client.post(f"/dc/bayview/developer/apps/{a.id}/conformance", data={"csrf_token": token(client)})
    assert again.status_code == 409 and "has a conformance run going" in text(again)  # one at a time
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert r.headers["Location"].split("localhost")[-1] in page and "running</a>, started" in page


def test_a_behaviour_profile_is_chosen_on_the_application_page(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert "standard (the utility's own)" in page and '<option value="async-batch">' in page
    assert '<code>batch.mode="async"</code>' in page  # what each profile changes
    r = client.post(
        f"/dc/bayview/developer/apps/{a.id}/profile", data={"csrf_token": token(client), "profile": "ontario"}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("#profile")
    assert the_app(app).profile == "ontario"
    page = text(client.get(r.headers["Location"]))
    assert "Behaviour profile: ontario." in page and '<option value="ontario" selected>' in page
    r = client.post(f"/dc/bayview/developer/apps/{a.id}/profile", data={"csrf_token": token(client), "profile": "x"})
    assert r.status_code == 400 and "no behaviour profile &#39;x&#39;" in text(r)
    assert the_app(app).profile == "ontario"  # refused: nothing changed
    client.post(f"/dc/bayview/developer/apps/{a.id}/profile", data={"csrf_token": token(client), "profile": ""})
    assert the_app(app).profile is None


def test_application_page_checklist_and_how_to_connect(client, app):
    sign_up(client)
    register(client, app)
    a = the_app(app)
    page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
    assert checklist(page) == [
        ("terms", False),
        ("certificate", False),
        ("urls", True),
        ("notification", False),
        ("client_token", False),
        ("service_status", False),
    ]
    assert "0 of 6 done" not in page and "1 of 6 done" in page
    assert "moves to Production by itself" in page
    for url in (
        "http://localhost/dc/bayview/oauth/authorize",
        "http://localhost/dc/bayview/oauth/token",
        "http://localhost/dc/bayview/espi/1_1/resource",
        "http://localhost/dc/bayview/espi/1_1/resource/ReadServiceStatus",
        f"http://localhost/dc/bayview/espi/1_1/resource/ApplicationInformation/{a.uuid}",
    ):
        assert url in page, url
    assert "bayview-pl" in page
    assert (
        page.count('name="csrf_token"') == 7
    )  # sign out, rotate, certificate, notification test, profile, faults, conformance
    assert 'id="developer-login"' in text(client.get("/dc/lakeshore/developer/"))  # signed in at bayview only


def test_full_journey_to_production_through_the_oauth_server(client, app):
    """Every checklist item done through the real endpoints: the portal's forms, then the OAuth
    server's token endpoint and ReadServiceStatus (which set the last two items and call evaluate)."""
    with ThirdParty() as tp:
        sign_up(client)
        secret = SECRET.search(text(register(client, app, notify_uri=tp.url))).group(1)
        a = the_app(app)
        client.post(
            f"/dc/bayview/developer/apps/{a.id}/terms",
            data={"csrf_token": token(client), "version": "1", "accept": "yes"},
        )
        _upload(client, a.id, pem=make_certificate()[0])
        client.post(f"/dc/bayview/developer/apps/{a.id}/notify-test", data={"csrf_token": token(client)})
        assert [d for _, d in checklist(text(client.get(f"/dc/bayview/developer/apps/{a.id}")))] == [
            True,
            True,
            True,
            True,
            False,
            False,
        ]
        basic = base64.b64encode(f"{a.client_id}:{secret}".encode()).decode()
        tok = app.test_client().post(
            "/dc/bayview/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert tok.status_code == 200, tok.get_data(as_text=True)
        access = tok.get_json()["access_token"]
        assert "refresh_token" not in tok.get_json()
        assert the_app(app).status == "review"
        status = app.test_client().get(
            "/dc/bayview/espi/1_1/resource/ReadServiceStatus", headers={"Authorization": f"Bearer {access}"}
        )
        assert status.status_code == 200
        page = text(client.get(f"/dc/bayview/developer/apps/{a.id}"))
        assert all(d for _, d in checklist(page)) and 'data-status="production"' in page and ">Production<" in page
        assert the_app(app).status == "production"


def test_the_developer_portal_shows_the_token_matrix_the_server_enforces(client):
    """The table on /dc/<slug>/developer/ is the access policy's matrix, row for row, with the
    utility's own client credentials."""
    from sandbox.services import access

    html = client.get("/dc/bayview/developer/").get_data(as_text=True)
    table = html.split('id="token-matrix-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td><code>(.*?)</code></td><td>(.*?)</td><td>(.*?)</td>", table)
    assert [(p.replace("&#39;", "'"), m, k) for p, m, k in rows] == [r[:3] for r in access.matrix_rows()]
    assert ("Batch/Subscription/{subscription_id}", "GET", "AD") in rows
    assert "upload-client" in html and "data-custodian-secret" in html
