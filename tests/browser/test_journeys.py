"""Both Green Button customer journeys, step by step, in headless Chromium against the real run.py
and its demo third-party app. Each step's screenshot lands in artifacts/screenshots/journeys/.

Connect My Data: select the utility (list, postal code), sign in (both ways), see the request in
plain words, accept (and reject), back at the app with the data shown; a new day arrives by the
clock and a notification; access ends by revocation, by moving out and by expiry, each said so.
Download My Data: sign in, choose services, period and cost, download, upload to the demo app,
and its totals equal the portal's.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from playwright.sync_api import Page, expect

from sandbox.testing.client import SandboxClient

from .helpers import DESKTOP, PHONE, fill_sign_in, screenshot, sign_in, words

pytestmark = pytest.mark.browser


def shot(page: Page, name: str) -> None:
    screenshot(page, f"journeys/{name}")


def reload_until(page: Page, selector: str, text: str, timeout: float = 20) -> None:
    """Reload until `selector` shows `text` (the demo app learns things in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        found = page.locator(selector)
        if found.count() and text in found.first.inner_text():
            return
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}"
        page.wait_for_timeout(250)  # the app's background pull is under way: look again


@pytest.fixture
def control(server):
    return SandboxClient(server.url, server.admin_key)


def connect(
    page: Page,
    server,
    slug: str,
    name: str,
    *,
    account: bool = False,
    decision: str = "Allow",
    prefix: str | None = None,
) -> None:
    """From the demo app's list to the utility, signed in, its consent page answered."""
    page.goto(server.demo_url + "/")
    page.locator(f'[data-slug="{slug}"]').get_by_role("link", name=f"Connect {name}").click()
    expect(page.get_by_role("heading", name=f"Connect {name}")).to_be_visible()
    if prefix:
        shot(page, f"{prefix}-03-what-to-ask-for")
    page.get_by_role("button", name=f"Continue to {name}").click()
    if account:  # the second way to sign in: account number and the service address's postal code
        demo = page.locator(".demo-logins")
        number, code = (c.inner_text() for c in demo.locator("tr").nth(1).locator("code").all())
        form = page.locator("#login-account")
        form.get_by_label("Account number").fill(number)
        form.get_by_label("Postal code of the service address").fill(code)
        if prefix:
            shot(page, f"{prefix}-04-sign-in-with-account-number")
        form.get_by_role("button", name="Sign in").click()
    else:
        if prefix:
            shot(page, f"{prefix}-04-sign-in")
        fill_sign_in(page)
    expect(page.get_by_role("heading", name="Share your data with Demo Energy App?")).to_be_visible()
    expect(page.locator("#consent-items")).to_contain_text("Electricity use in intervals")
    if prefix:
        shot(page, f"{prefix}-05-consent-in-plain-words")
    page.get_by_role("button", name=decision).click()


def test_connect_my_data_journey(server, context, control):
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(server.demo_url + "/")
    expect(page.get_by_role("heading", name="Hello, please select your utility")).to_be_visible()
    expect(page.locator("li.utility")).to_have_count(5)
    shot(page, "cmd-01-select-your-utility")
    bayview = next(u for u in control.request("GET", "/utilities").json()["utilities"] if u["slug"] == "bayview")
    page.get_by_label("Find it by your postal code").fill(bayview["postal_prefixes"][0] + "01")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("li.utility")).to_have_count(1)
    expect(page.locator("li.utility h2")).to_have_text(bayview["name"])
    shot(page, "cmd-02-by-postal-code")

    # accept: back at the app, the data is shown
    connect(page, server, "bayview", bayview["name"], prefix="cmd")
    expect(page.get_by_role("heading", name="My energy")).to_be_visible()
    card = page.locator("#utility-bayview")
    expect(card).to_have_attribute("data-state", "active")
    expect(card.locator(".total").first).to_contain_text("kWh")
    expect(card.locator(".finding").first).to_contain_text("Peak demand")
    expect(card.locator("svg.chart")).to_have_count(3)
    shot(page, "cmd-06-back-at-the-app-with-the-data")

    # a new day: the clock moves, the utility notifies, the app pulls that day by itself
    control.advance(days=1)
    control.wait_for_notifications(1, client_id="demo-third-party", utility="bayview")
    reload_until(page, "#utility-bayview .update", "new readings")
    update = words(page.locator("#utility-bayview .update").first.inner_text())
    assert "Bayview Power & Light sent word of new data for " in update and not update.endswith(" 0 new readings")
    shot(page, "cmd-07-a-new-day-arrives")

    # the customer revokes at the utility: the app says access ended, and why
    page.goto(f"{server.url}/dc/bayview/sharing")
    revoke = page.get_by_role("link", name="Revoke access…")
    while revoke.count():  # the seeded world's own grant to Demo Energy App too: the app is stopped altogether
        revoke.first.click()
        page.get_by_role("button", name="Yes, revoke access").click()
        expect(page.get_by_role("heading", name="Who can get my data")).to_be_visible()
    expect(page.locator("p.flash").first).to_contain_text("Demo Energy App can no longer get your data")
    shot(page, "cmd-08-revoked-at-the-utility")
    page.goto(server.demo_url + "/dashboard")
    reload_until(page, "#ended-bayview", "You revoked this app's access at Bayview Power & Light.")
    shot(page, "cmd-09-access-ended-revoked")


def test_a_customer_says_no(server, context):
    page = context.new_page()
    connect(page, server, "bayview", "Bayview Power & Light", decision="Deny")
    expect(page.locator("#problem h1")).to_have_text("Nothing was shared")
    expect(page.locator("#problem-message")).to_contain_text("You chose not to share your data from Bayview")
    shot(page, "cmd-10-the-customer-says-no")


def test_two_utilities_moving_and_expiry(server, context, control):
    page = context.new_page()
    page.set_viewport_size(PHONE)
    connect(page, server, "lakeshore", "Lakeshore Energy & Water", account=True, prefix="two")
    connect(page, server, "prairie", "Prairie Sky Power")
    cards = page.locator("section.connection")
    expect(cards).to_have_count(2)  # a customer with two utilities sees both
    expect(page.locator("#utility-lakeshore")).to_have_attribute("data-state", "active")
    expect(page.locator("#utility-prairie")).to_have_attribute("data-state", "active")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the dashboard is wider than a phone"
    shot(page, "two-06-two-utilities-on-a-phone")

    # moving out at lakeshore ends that access; prairie goes on
    page.goto(f"{server.url}/dc/lakeshore/moving")
    today = page.locator("#moving_day").get_attribute("min")
    page.locator("#moving_day").fill(today)
    page.get_by_label("I understand that every app").check()
    page.get_by_role("button", name="End service").click()
    expect(page.locator("p.flash").first).to_contain_text("you share your data with stop")
    shot(page, "two-07-moved-out-at-the-utility")
    page.goto(server.demo_url + "/dashboard")
    reload_until(page, "#ended-lakeshore", "ended when you moved out")
    expect(page.locator("#utility-prairie")).to_have_attribute("data-state", "active")
    shot(page, "two-08-access-ended-moved-out")

    # the authorization runs out by the clock (prairie grants a year)
    control.advance(days=370)
    reload_until(page, "#ended-prairie", "has expired")
    shot(page, "two-09-access-ended-expired")


def test_download_my_data_journey(server, context, tmp_path):
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    sign_in(page, server.url, "bayview")
    electricity = page.locator("section.usage-point").first
    totals = electricity.locator(".totals")
    start, end = totals.get_attribute("data-period-start"), totals.get_attribute("data-period-end")
    portal = {
        ("Exported" in p.inner_text()): (int(p.get_attribute("data-value")), int(p.get_attribute("data-cost")))
        for p in totals.locator(".total").all()
    }
    chosen = electricity.get_attribute("data-usage-point")
    shot(page, "dmd-01-signed-in")
    page.get_by_role("link", name="Download My Data").first.click()
    for other in page.locator("input[name=usage_point]").all():  # electricity only
        if other.get_attribute("value") != chosen:
            other.uncheck()
    page.get_by_label("These dates:").check()
    last = (dt.date.fromisoformat(end) - dt.timedelta(days=1)).isoformat()
    page.get_by_label("From", exact=True).fill(start)
    page.get_by_label("To (inclusive)").fill(last)
    page.get_by_label("Include costs").check()
    shot(page, "dmd-02-choose-services-period-cost")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".xml"

    page.goto(server.demo_url + "/upload")
    expect(page.get_by_role("heading", name="Hello, Third Party, please take this file and analyse it")).to_be_visible()
    page.locator("#file").set_input_files(str(path))
    page.get_by_role("button", name="Analyse").click()
    result = page.locator("#analysis")
    expect(result.locator("h2")).to_have_text(path.name)
    got = {
        t.get_attribute("data-label"): (float(t.get_attribute("data-quantity")), t.get_attribute("data-cost"))
        for t in result.locator(".total").all()
    }
    used, exported = got["electricity"], got.get("electricity exported")
    assert round(used[0], 3) == portal[False][0] / 1000  # the portal keeps Wh, the app shows kWh
    assert used[1] == f"{portal[False][1] / 100000:.2f}"
    if True in portal:
        assert exported is not None and round(exported[0], 3) == portal[True][0] / 1000
    shot(page, "dmd-03-the-app-analyses-the-file")
