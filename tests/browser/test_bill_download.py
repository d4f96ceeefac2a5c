"""The portal's Bills table: each month's bill downloads as a PDF, and the table, its links
included, fits a phone without scrolling sideways."""

from __future__ import annotations

import datetime as dt
import re

import pypdf
import pytest
from live.server import ROOT
from playwright.sync_api import expect

from sandbox.synth.world import load_world

from .helpers import DESKTOP, PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser

UTILITIES = load_world(ROOT / "seed_data").utilities


def test_each_months_bill_downloads_and_the_table_fits_a_phone(server, context, tmp_path):
    page = context.new_page()
    for u in UTILITIES:
        page.set_viewport_size(PHONE)
        sign_in(page, server.url, u.slug)
        table = page.locator("table#bills")
        links = table.get_by_role("link", name=re.compile(r"^\w{3} ’\d{2} bill, PDF$"))  # the month, as phones show it
        expect(links).to_have_count(table.locator("tbody tr").count())
        # the whole table shows at 390 px: its scroller has nothing to scroll
        scroll = table.evaluate("t => t.parentElement.scrollWidth - t.parentElement.clientWidth")
        assert scroll <= 0, f"{u.slug}: the Bills table is {scroll}px wider than a phone"
        table.scroll_into_view_if_needed()
        screenshot(page, f"bills/{u.slug}-phone")
        newest = links.first
        with page.expect_download() as info:
            newest.click()
        download = info.value
        month = dt.datetime.strptime(download.suggested_filename, "bill-%Y-%m.pdf")
        expect(newest).to_have_accessible_name(f"{month:%b ’%y} bill, PDF")
        path = tmp_path / f"{u.slug}.pdf"
        download.save_as(path)
        assert pypdf.PdfReader(path).metadata.title == f"{u.name}: bill for {month:%B %Y}"
        page.set_viewport_size(DESKTOP)
        table.scroll_into_view_if_needed()
        screenshot(page, f"bills/{u.slug}-desktop")
    page.close()
