"""Errors a visitor meets outside the APIs are pages in the sandbox's style that say what to do; the
ESPI and control APIs keep answering JSON. The demo app's likewise, and the portal's own CSV download
uploaded to the demo app gets a plain message instead of a parser's error."""

from __future__ import annotations

import io

from web.helpers import text
from web.test_net_metering import _electricity
from web.test_portal import customer, dmd_post, login
from werkzeug.exceptions import BadRequest, InternalServerError

from sandbox.demo.app import create_demo_app
from sandbox.web.errors import error_page


def _demo():
    demo = create_demo_app("http://127.0.0.1:1")
    demo.config.update(WTF_CSRF_ENABLED=False)
    return demo.test_client()


def test_an_unknown_page_is_a_styled_404_on_the_sandbox(client):
    r = client.get("/dc/bayview/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"
    page = text(r)
    assert "<h1>No such page</h1>" in page and 'rel="stylesheet"' in page and "/dc/bayview/no-such-page" in page
    assert "The requested URL was not found on the server" not in page  # not Werkzeug's bare page


def test_the_apis_keep_answering_json(client):
    for path in ("/sandbox-api/no-such-call", "/dc/bayview/espi/1_1/resource/NoSuchThing"):
        r = client.get(path)
        assert r.status_code in (401, 404) and r.mimetype == "application/json", path


def test_a_500_and_an_expired_form_are_pages_that_say_what_to_do(app):
    with app.test_request_context("/dc/bayview/download"):
        broke = error_page(InternalServerError())
        expired = error_page(BadRequest("The CSRF token has expired."))
    assert broke.status_code == 500 and "Something broke" in broke.get_data(as_text=True)
    assert expired.status_code == 400 and "The form had expired" in expired.get_data(as_text=True)


def test_an_unknown_page_of_the_demo_app_is_its_styled_404():
    r = _demo().get("/no-such-page")
    assert r.status_code == 404 and "No such page" in text(r) and 'rel="stylesheet"' in text(r)


def test_the_portals_csv_uploaded_to_the_demo_app_gets_a_plain_message(client, app):
    login(client)
    up = _electricity(app, customer(app))
    csv = dmd_post(client, usage_point=str(up.id), start="2025-06-01", end="2025-06-03", format="csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    for name in ("usage.csv", "usage.txt"):
        r = _demo().post("/upload", data={"file": (io.BytesIO(csv.data), name)}, content_type="multipart/form-data")
        page = text(r)
        assert r.status_code == 400 and "is a spreadsheet (CSV), not a Green Button file" in page, name
        assert "Start tag" not in page and "Error" not in page


def test_the_demo_apps_postal_code_example_is_one_a_utility_serves(client):
    import re

    from conftest import ROOT

    hello = (ROOT / "templates" / "demo" / "hello.html").read_text()
    example = re.search(r'placeholder="e\.g\. ([^"]+)"', hello).group(1)
    assert client.get("/utilities", query_string={"postal_code": example}).json["utilities"], example


def test_the_sign_in_page_names_the_app_that_sent_the_customer_and_what_it_asks(client, world):
    from web.helpers import offered

    scope = offered(world, "bayview")[0]
    r = client.get(
        "/dc/bayview/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": "demo-third-party",
            "scope": scope,
            "state": "s",
            "redirect_uri": "http://127.0.0.1:9/cb",
        },
    )
    assert r.status_code == 302
    page = text(client.get(r.headers["Location"]))
    asking = page.split('id="asking"', 1)[1].split("</section>", 1)[0]
    assert "Demo Energy App asks to see your data" in asking and "Nothing is shared until you choose Allow" in asking
    assert "<li>" in asking  # what it asks for, in plain words
