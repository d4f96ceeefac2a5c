"""Utility staff in a real browser: block a third party, import a Green Button file."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sandbox.testing.client import SandboxClient

from .helpers import screenshot, sign_in, staff_sign_in

pytestmark = pytest.mark.browser


def test_staff_blocks_a_third_party_and_imports_a_file(server, page, tmp_path):
    base = server.url
    SandboxClient(base, server.admin_key).authorize("demo")  # the customer's consent (none is seeded)
    # a customer downloads last month's Green Button file...
    sign_in(page, base)
    page.goto(f"{base}/dc/bayview/download")
    page.get_by_label("Last month").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    green_button = tmp_path / info.value.suggested_filename
    info.value.save_as(green_button)
    (tmp_path / "notes.xml").write_text("<notes>not Green Button</notes>")

    # ...staff block the demo third party...
    staff_sign_in(page, base)
    page.get_by_role("link", name="Third parties").click()
    row = page.get_by_role("row").filter(has_text="demo-third-party")
    expect(row.locator(".status")).to_have_text("production")
    row.get_by_role("button", name="Block").click()
    expect(page.locator(".flash")).to_contain_text("Demo Energy App is blocked")
    expect(row.locator(".status")).to_have_text("blocked")
    screenshot(page, "staff-third-parties")
    page.goto(f"{base}/dc/bayview/sharing")
    expect(page.locator("#current-authorizations")).to_contain_text("blocked by BPL")
    expect(page.locator("#directory")).not_to_contain_text("Demo Energy App")
    page.goto(f"{base}/dc/bayview/admin/applications")
    row.get_by_role("button", name="Unblock").click()
    expect(row.locator(".status")).to_have_text("production")

    # ...and import the file for another customer, after a refused one
    page.get_by_role("link", name="Customers").click()
    customers = page.locator("#customers tbody tr")
    expect(customers).to_have_count(3)
    target = customers.nth(1)
    last_name = target.locator("th").inner_text().split()[-1]
    page.get_by_label("Find by name").fill(last_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=last_name).first.click()
    expect(page.locator("#usage-points")).to_be_visible()  # the customer's page, loaded, before counting
    before = page.locator("#usage-points tbody tr").count()
    page.get_by_label("Green Button file").set_input_files(str(tmp_path / "notes.xml"))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-error")).to_contain_text("Import refused, nothing was stored")
    expect(page.locator("#usage-points tbody tr")).to_have_count(before)
    page.get_by_label("Green Button file").set_input_files(str(green_button))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("Imported 2 usage point(s)")
    expect(page.locator("#usage-points tbody tr")).to_have_count(before + 2)
    expect(page.locator("#usage-points")).to_contain_text("imported file")
    screenshot(page, "staff-customer")
