"""Helpers of the browser tests (imported by the test modules)."""

from __future__ import annotations

import re
from pathlib import Path

from live.server import ROOT
from playwright.sync_api import Page, expect

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot as artifacts/screenshots/<name>.png (`name` may hold a folder)."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, base: str, slug: str = "bayview", username: str = "demo", password: str = "demo") -> None:
    page.goto(f"{base}/dc/{slug}/")
    form = page.locator("#login-password")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()


def fill_sign_in(page: Page, username: str = "demo", password: str = "demo") -> None:
    """Sign in on the sign-in page already shown (e.g. where an OAuth request sent the customer)."""
    form = page.locator("#login-password")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def staff_sign_in(page: Page, base: str, slug: str = "bayview") -> None:
    page.goto(f"{base}/dc/{slug}/admin")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("staff")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()


def money_text(amount_1e5: int) -> str:
    """How a 1e-5 currency amount is written on the page (written here, not taken from the portal)."""
    from decimal import ROUND_HALF_UP, Decimal

    m = (Decimal(amount_1e5) / 100000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return ("−" if m < 0 else "") + f"${abs(m):,.2f}"


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def submit(page: Page, button) -> None:
    """Click a submit button and wait until the answer has replaced the page (for answers that
    look like the page before, e.g. the same error message again)."""
    page.evaluate("document.documentElement.dataset.before = '1'")
    button.click()
    expect(page.locator("html:not([data-before])")).to_be_attached()
