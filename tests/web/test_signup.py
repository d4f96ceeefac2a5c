"""The self-service pages (web.signup): "Create my sandbox" on the home page under open sign-up, and the
page of each sandbox for the browser that made it (its keys, links and expiry, extend and delete)."""

from __future__ import annotations

import re

import pytest
from conftest import APP_CONFIG
from web.helpers import csrf

from sandbox import create_app


@pytest.fixture
def open_app(tmp_path, seeded_worlds, clock):
    url = seeded_worlds.copy(tmp_path / "open.db", customers=APP_CONFIG["CUSTOMERS"])
    app = create_app({**APP_CONFIG, "DATABASE_URL": url, "OPEN_SIGNUP": True, "CUSTOMERS": 1}, clock=clock)
    yield app
    app.extensions["private_sandboxes"].close_all()
    app.extensions["sandbox"].db.dispose()


def _create(browser) -> tuple[str, str]:
    home = browser.get("/").get_data(as_text=True)
    assert "Create my sandbox" in home
    r = browser.post("/sandboxes", data={"csrf_token": csrf(home)})
    assert r.status_code == 303
    page_url = r.headers["Location"]
    page = browser.get(page_url)
    assert page.status_code == 200
    return page_url, page.get_data(as_text=True)


def test_one_click_makes_a_sandbox_and_shows_its_keys_to_this_browser_only(open_app):
    browser = open_app.test_client()
    page_url, page = _create(browser)
    sandbox_id = page_url.rsplit("/", 1)[1]
    assert f"http://localhost/s/{sandbox_id}/" in page
    key = re.search(r"Authorization: Bearer ([\w-]+)", page).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_id=demo-third-party</code>, <code>client_secret=(\w+)", page).group(1)  # type: ignore[union-attr]
    assert (
        browser.get(f"/s/{sandbox_id}/sandbox-api/clock", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert secret != "demo-secret" and "username <code>demo</code>" in page
    assert f"Sandbox {sandbox_id}" in browser.get("/").get_data(as_text=True)  # listed on the home page
    assert open_app.test_client().get(page_url).status_code == 404  # another browser learns nothing


def test_the_page_extends_and_deletes_it(open_app):
    browser = open_app.test_client()
    page_url, page = _create(browser)
    sandbox_id = page_url.rsplit("/", 1)[1]
    before = re.search(r'datetime="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = browser.post(f"{page_url}/extend", data={"csrf_token": csrf(page)})
    assert r.status_code == 303
    after = re.search(r'datetime="([^"]+)"', browser.get(page_url).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert after > before
    r = browser.post(f"{page_url}/delete", data={"csrf_token": csrf(page)})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert browser.get(f"/s/{sandbox_id}/healthz").status_code == 404
    assert browser.get(page_url).status_code == 404


def test_a_form_without_its_csrf_token_makes_nothing(open_app):
    browser = open_app.test_client()
    browser.get("/")
    assert browser.post("/sandboxes", data={}).status_code == 400
    assert open_app.extensions["sandboxes"].count() == 0


def test_without_open_sign_up_there_is_no_button_and_no_page(client):
    assert "Create my sandbox" not in client.get("/").get_data(as_text=True)
    page = client.get("/dc/bayview/").get_data(as_text=True)  # a form of the site: its CSRF token
    assert client.post("/sandboxes", data={"csrf_token": csrf(page)}).status_code == 404
