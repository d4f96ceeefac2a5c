"""The self-service sandbox in a real browser: one click on the deployment's home page (open sign-up)
gives a page of the new sandbox's links and keys that fits a phone; its customer portal works under
its own address, and deleting it ends it."""

from __future__ import annotations

import re

import pytest
from live.server import LiveServer
from playwright.sync_api import expect

from .helpers import PHONE, screenshot, sign_in


@pytest.fixture
def open_server(tmp_path, real_time_worlds):
    real_time_worlds.copy(tmp_path / "open.db", customers=2)
    with LiveServer("--customers", "2", "--database", str(tmp_path / "open.db"), env={"SANDBOX_OPEN_SIGNUP": "1"}) as s:
        yield s


def test_one_click_gives_a_sandbox_of_ones_own(open_server, context):
    page = context.new_page()
    page.goto(open_server.url)
    page.get_by_role("button", name="Create my sandbox").click()
    expect(page.get_by_role("heading", name="Your sandbox")).to_be_visible()
    base = re.search(r"/s/([0-9a-f]{12})/", page.url + page.content()).group(0)  # type: ignore[union-attr]
    screenshot(page, "own-sandbox/desktop")
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(page.url)
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the sandbox's page is {overflow}px wider than a phone"
    screenshot(phone, "own-sandbox/phone")
    sign_in(page, open_server.url + base.rstrip("/"))  # the customer portal of the new sandbox
    assert base in page.url
    page.goto(open_server.url)
    page.get_by_role("link", name=re.compile("Sandbox ")).click()
    page.get_by_role("button", name="Delete it now").click()
    expect(page.get_by_text("Deleted")).to_be_visible()
    assert page.request.get(f"{open_server.url}{base}healthz").status == 404
