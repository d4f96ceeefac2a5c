"""Browser tests: Playwright drives Debian's headless Chromium against the real run.py.

Chromium comes from the system (`apt-get install chromium`, done by .ci/run); Playwright's
own browser downloads are never used. Screenshots go to artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from live.server import LiveServer
from playwright.sync_api import Page, sync_playwright

from .helpers import DESKTOP

CHROMIUM = os.environ.get("SANDBOX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def server(tmp_path, real_time_worlds):
    """A fresh sandbox (2 generated customers per utility, a copy of a world seeded for the session) on a
    free loopback port, in real time."""
    real_time_worlds.copy(tmp_path / "browser.db", customers=2)
    with LiveServer("--customers", "2", "--database", str(tmp_path / "browser.db")) as s:
        yield s


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True, locale="en-US")
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()
