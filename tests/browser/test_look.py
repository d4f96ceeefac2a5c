"""Each utility's portal shows its own name and colours, and the pages fit a phone."""

from __future__ import annotations

import pytest
from live.server import ROOT
from playwright.sync_api import expect

from sandbox.synth.world import load_world

from .helpers import DESKTOP, PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser

UTILITIES = load_world(ROOT / "seed_data").utilities


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


def test_each_portal_has_its_utilitys_look_and_fits_a_phone(server, context):
    page = context.new_page()
    for u in UTILITIES:
        page.set_viewport_size(DESKTOP)
        sign_in(page, server.url, u.slug)
        expect(page.locator(".topbar .brand")).to_contain_text(u.name)
        expect(page.locator(".topbar")).to_have_css("background-color", rgb(u.colors["primary"]))
        expect(page.locator(".topbar")).to_have_css("border-bottom-color", rgb(u.colors["accent"]))
        expect(page.locator("svg.chart").first).to_be_visible()
        pages = {
            "home": f"/dc/{u.slug}/",
            "download-my-data": f"/dc/{u.slug}/download",
            "sharing": f"/dc/{u.slug}/sharing",
        }
        for name, path in pages.items():
            page.set_viewport_size(DESKTOP)
            page.goto(server.url + path)
            screenshot(page, f"{u.slug}-{name}-desktop")
            page.set_viewport_size(PHONE)
            page.goto(server.url + path)
            expect(page.locator("h1")).to_be_visible()
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{u.slug} {name} is {overflow}px wider than a phone"
            screenshot(page, f"{u.slug}-{name}-phone")
    page.close()
