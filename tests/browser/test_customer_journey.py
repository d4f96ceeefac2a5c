"""The customer's journey in a real browser: sign in two ways, lock-out, Download My Data
(checked with an independent Green Button parser), an invalid period, revoking, moving."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from espi.checks import assert_valid
from greenbutton_objects import parse as gb_parse
from greenbutton_objects.enums import FlowDirectionType
from lxml import etree
from playwright.sync_api import expect

from sandbox.testing.client import SandboxClient

from .helpers import money_text, screenshot, sign_in, submit, words

pytestmark = pytest.mark.browser


def test_sign_in_with_username_or_with_account_number(server, page, context):
    page.goto(f"{server.url}/dc/bayview/")
    demo_row = page.get_by_role("row", name="Account number and postal code")
    account, postal = [c.strip() for c in demo_row.locator("td").inner_text().split("/")]
    sign_in(page, server.url)
    cookie = next(c for c in context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    form = page.locator("#login-account")
    form.get_by_label("Account number").fill(account)
    form.get_by_label("Postal code").fill(postal.lower())
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-number")).to_have_text(account)


def test_wrong_credentials_and_the_lock_out(server, page):
    page.goto(f"{server.url}/dc/lakeshore/")
    form = page.locator("#login-password")
    error = page.locator("#login-error")
    messages = set()
    for attempt in range(4):
        form.get_by_label("Username").fill("demo")
        form.get_by_label("Password").fill(f"wrong-{attempt}")
        submit(page, form.get_by_role("button", name="Sign in"))
        messages.add(error.inner_text())
    account_form = page.locator("#login-account")
    account_form.get_by_label("Account number").fill("1111111111")
    account_form.get_by_label("Postal code").fill("00000")
    submit(page, account_form.get_by_role("button", name="Sign in"))
    messages.add(error.inner_text())
    assert len(messages) == 1 and "locked" not in messages.pop()  # one message, whichever field was wrong
    form.get_by_label("Username").fill("demo")
    form.get_by_label("Password").fill("wrong-again")
    submit(page, form.get_by_role("button", name="Sign in"))  # the fifth failure in a row
    expect(error).to_contain_text("locked for 5 minutes")
    form.get_by_label("Username").fill("demo")
    form.get_by_label("Password").fill("demo")
    submit(page, form.get_by_role("button", name="Sign in"))
    expect(error).to_contain_text("locked")
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_have_count(0)


def _block_bounds(up):
    starts, ends = [], []
    for mr in up.meterReadings:
        for ib in mr.intervalBlocks:
            starts.append(ib.interval.start)
            ends.append(ib.interval.start + ib.interval.duration)
    return min(starts), max(ends)


def _stream_sums(up):
    """{'delivered'|'received': (raw value sum, cost sum in 1e-5, value sum in Wh)} of a parsed usage point."""
    out = {}
    for mr in up.meterReadings:
        flow = "received" if mr.readingType.flowDirection == FlowDirectionType.reverse else "delivered"
        irs = list(mr.intervalReadings)
        assert irs
        raw = sum(ir._value for ir in irs)
        cost = sum(round(ir.cost * 100000) for ir in irs if ir.cost is not None)
        out[flow] = (raw, cost, sum(ir.value for ir in irs), mr.readingType.uom.name)
    return out


def _download(page, click_name="Download"):
    with page.expect_download() as info:
        page.get_by_role("button", name=click_name).click()
    return info.value


def test_download_my_data_file_matches_the_portal(server, page, tmp_path):
    base, slug, tz = server.url, "lakeshore", ZoneInfo("America/New_York")
    sign_in(page, base, slug)
    screenshot(page, "home")
    sections = page.locator("section.usage-point")
    assert sections.count() == 3  # electricity with solar, gas, water
    # what the home page shows for the last 30 days of electricity and gas
    shown = {}
    for i in range(2):
        sec = sections.nth(i)
        label = words(sec.locator("h2").inner_text()).split(" ", 1)[1]
        totals = sec.locator(".totals")
        period = (totals.get_attribute("data-period-start"), totals.get_attribute("data-period-end"))
        shown[label] = {}
        for p in totals.locator(".total").all():
            flow = "received" if "Exported" in p.inner_text() else "delivered"
            shown[label][flow] = (
                int(p.get_attribute("data-value")),
                int(p.get_attribute("data-cost")),
                p.locator(".quantity").inner_text(),
                p.locator(".cost").inner_text(),
            )
    water = words(sections.nth(2).locator("h2").inner_text()).split(" ", 1)[1]

    page.get_by_role("link", name="Download My Data").first.click()
    expect(page.get_by_role("heading", name="Download My Data")).to_be_visible()
    screenshot(page, "download-my-data")
    page.get_by_label(water).uncheck()
    page.get_by_label("These dates:").check()
    start, end = dt.date.fromisoformat(period[0]), dt.date.fromisoformat(period[1])
    page.get_by_label("From", exact=True).fill(start.isoformat())
    page.get_by_label("To (inclusive)").fill((end - dt.timedelta(days=1)).isoformat())
    download = _download(page)
    name = download.suggested_filename
    assert name.endswith(".xml") and slug in name and start.strftime("%Y%m%d") in name
    path = tmp_path / name
    download.save_as(path)

    assert_valid(etree.parse(str(path)).getroot())
    usage_points = gb_parse.parse_feed(str(path))
    assert sorted(up.title for up in usage_points) == sorted(shown)  # exactly the chosen ones
    for up in usage_points:
        first, last = _block_bounds(up)
        assert first == dt.datetime(start.year, start.month, start.day, tzinfo=tz)
        assert last == dt.datetime(end.year, end.month, end.day, tzinfo=tz)
        sums = _stream_sums(up)
        assert set(sums) == set(shown[up.title])
        for flow, (raw, cost, value, uom) in sums.items():
            page_raw, page_cost, page_qty, page_cost_text = shown[up.title][flow]
            assert (raw, cost) == (page_raw, page_cost)
            if uom == "wattHours":
                assert page_qty == f"{value / 1000:,.3f} kWh"
            assert page_cost_text.startswith(money_text(cost))


def test_last_month_download_matches_the_bills(server, page, tmp_path):
    base = server.url
    sign_in(page, base, "bayview")
    page.get_by_text("The numbers, month by month").first.click()
    rows = page.locator("section.usage-point").first.locator("table.monthly tbody tr")
    newest = rows.first
    bill = {k: int(newest.get_attribute(f"data-{k}")) for k in ("consumption", "received", "energy-charges", "credits")}
    month = dt.date.fromisoformat(newest.get_attribute("data-month"))
    label = words(page.locator("section.usage-point").first.locator("h2").inner_text()).split(" ", 1)[1]

    page.goto(f"{base}/dc/bayview/download")
    for box in page.locator("input[name=usage_point]").all():
        box.uncheck()
    page.get_by_label(label).check()
    page.get_by_label("Last month").check()
    download = _download(page)
    assert month.strftime("%Y%m01") in download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    (up,) = gb_parse.parse_feed(str(path))
    sums = _stream_sums(up)
    assert sums["delivered"][0] == bill["consumption"] and sums["delivered"][1] == bill["energy-charges"]
    assert sums["received"][0] == bill["received"] and sums["received"][1] == bill["credits"]


def test_an_invalid_period_is_refused_without_a_file(server, page):
    sign_in(page, server.url, "prairie")
    page.goto(f"{server.url}/dc/prairie/download")
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.get_by_label("These dates:").check()
    page.get_by_label("From", exact=True).fill("2024-05-10")
    page.get_by_label("To (inclusive)").fill("2024-05-01")
    page.get_by_role("button", name="Download").click()
    expect(page.locator("#dmd-error")).to_have_text("The end date comes before the start date.")
    page.get_by_label("From", exact=True).fill("2024-05-01")
    for box in page.locator("input[name=usage_point]").all():
        box.uncheck()
    page.get_by_role("button", name="Download").click()
    expect(page.locator("#dmd-error")).to_contain_text("choose at least one service")
    assert downloads == []


def test_revoke_on_the_sharing_page(server, page):
    SandboxClient(server.url, server.admin_key).authorize("demo")  # the customer's consent (none is seeded)
    sign_in(page, server.url)
    page.get_by_role("link", name="Sharing").click()
    current = page.locator("#current-authorizations")
    expect(current).to_contain_text("Demo Energy App")
    expect(page.locator("#directory")).to_contain_text("Demo Energy App")
    screenshot(page, "sharing")
    current.get_by_role("link", name="Revoke access…").click()
    expect(page.get_by_role("heading", name="Stop sharing with Demo Energy App?")).to_be_visible()
    page.get_by_role("button", name="Yes, revoke access").click()
    expect(page.locator(".flash")).to_contain_text("Demo Energy App can no longer get your data")
    expect(page.locator("#no-authorizations")).to_be_visible()
    expect(page.locator("#past-authorizations")).to_contain_text("You revoked this")


def test_moving_out_closes_the_account_and_ends_sharing(server, page):
    SandboxClient(server.url, server.admin_key).authorize("demo", utility="prairie")
    sign_in(page, server.url, "prairie")
    page.get_by_role("link", name="I'm moving").click()
    day = page.get_by_label("Moving day")
    today = day.get_attribute("min")
    day.fill(today)
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="End service").click()
    expect(page.locator(".banner.closed")).to_contain_text("This account is closed")
    expect(page.locator("#account-status")).to_contain_text("Closed since")
    page.get_by_role("link", name="Sharing").click()
    expect(page.locator("#no-authorizations")).to_be_visible()
    expect(page.locator("#past-authorizations")).to_contain_text("moved out")
    page.get_by_role("link", name="I'm moving").click()
    expect(page.locator("main")).to_contain_text("ended on")
