"""Every HTML page of both apps at a phone's width (390 px) and a half-screen window's (640 px): none
scrolls sideways. The walk is built from the apps' own URL maps: a GET route that is neither in the
walk nor named as not HTML (XML, JSON, PDF, CSS) fails the test, so a new page cannot be missed.
Screenshots of each page at both widths land in artifacts/screenshots/widths/."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from sandbox import create_app
from sandbox.demo.app import create_demo_app
from sandbox.espi.uuids import resource_uuid_str
from sandbox.testing.client import DEFAULT_SCOPE, SandboxClient

from .helpers import fill_sign_in, screenshot, sign_in, staff_sign_in

pytestmark = pytest.mark.browser

WIDTHS = (390, 640)
# GET routes that answer something other than a page (by rule)
NOT_HTML = re.compile(
    r"^/(static/|healthz|utilities(\.css)?$|\.well-known/|sandbox-api/(?!$|conformance/<run_id>/report$)"
    r"|dc/<slug>/(espi/|\.well-known/|oauth/token|bills/))"
    r"|^/(computed\.json|callback)$"
)
# the one route each page of the walk is served by (main app, demo app)
MAIN_ROUTES = {
    "site.home",
    "portal.home",
    "portal.login_form",
    "portal.download_form",
    "portal.moving_form",
    "portal.sharing",
    "portal.revoke_confirm",
    "oauth.authorize",
    "oauth.scope_selection_list",
    "oauth.third_party_list",
    "admin.home",
    "admin.applications",
    "admin.customer",
    "developer.home",
    "developer.new_app",
    "developer.show_app",
    "developer.edit_app",
    "developer.terms",
    "control.index",
    "control.control_conformance_report_page",
    "signup.page",
}
DEMO_ROUTES = {"hello", "choose", "dashboard", "upload"}


def _routes(app) -> set[str]:
    return {
        r.endpoint
        for r in app.url_map.iter_rules()
        if "GET" in r.methods and r.endpoint != "static" and not NOT_HTML.search(r.rule)
    }


def test_the_walk_covers_every_html_route(tmp_path):
    main = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rules.db'}", "TESTING": True, "CUSTOMERS": 0})
    assert _routes(main) == MAIN_ROUTES
    demo = create_demo_app("http://127.0.0.1:1")
    assert _routes(demo) == DEMO_ROUTES


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def _walk(page: Page, urls: dict[str, str], found: dict[str, int]) -> None:
    for name, url in urls.items():
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 844})
            page.goto(url)
            page.wait_for_load_state("load")
            over = _overflow(page)
            screenshot(page, f"widths/{name}-{width}")
            if over > 0:
                found[f"{name} at {width} px"] = over


def _signed_up_developer(page: Page, base: str) -> str:
    """A developer account with one application; the application's page URL."""
    page.goto(f"{base}/dc/bayview/developer/")
    signup = page.locator("#developer-signup")
    signup.get_by_label("Your name or company").fill("Widths Apps")
    signup.get_by_label("E-mail").fill("widths@example.com")
    signup.get_by_label("Password").fill("correct horse")
    signup.get_by_role("button", name="Create account").click()
    page.locator("#register-link").click()
    page.get_by_label("Application name").fill("A Rather Long Application Name For Narrow Screens")
    page.get_by_label("Redirect URIs").fill("https://a-very-long-host-name.example.com/oauth/callback/path")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#client-secret")).to_be_visible()
    return page.url


def _authorize_url(base: str, slug: str = "bayview") -> str:
    query = {
        "response_type": "code",
        "client_id": "demo-third-party",
        "redirect_uri": "http://127.0.0.1:9/callback",
        "scope": DEFAULT_SCOPE,
        "state": "widths",
    }
    return f"{base}/dc/{slug}/oauth/authorize?{urlencode(query)}"


def test_no_page_scrolls_sideways_at_a_phone_or_half_screen_width(server, context: BrowserContext, browser):
    base, demo = server.url, server.demo_url
    control = SandboxClient(base, server.admin_key)
    control.authorize("demo")  # a grant for the Sharing page to list
    run = control.start_conformance(checks=["batch-list-read"], timeout=10)
    found: dict[str, int] = {}

    anonymous = browser.new_context(locale="en-US").new_page()
    _walk(
        anonymous,
        {
            "site-home": f"{base}/",
            "login": f"{base}/dc/bayview/login",
            "login-harbour": f"{base}/dc/harbour/",
            "login-from-a-third-party": _authorize_url(base),
            "staff-sign-in": f"{base}/dc/bayview/admin/",
            "developer-landing": f"{base}/dc/bayview/developer/",
            "control-api": f"{base}/sandbox-api/",
            "conformance-report": f"{base}/sandbox-api/conformance/{run['id']}/report",
            "signup-unknown-sandbox": f"{base}/sandboxes/nothing-here",
            "not-found": f"{base}/dc/bayview/no-such-page",
            "demo-home": f"{demo}/",
            "demo-connect": f"{demo}/connect/bayview",
            "demo-upload": f"{demo}/upload",
            "demo-not-found": f"{demo}/no-such-page",
        },
        found,
    )

    customer = context.new_page()
    sign_in(customer, base)
    customer.goto(f"{base}/dc/bayview/sharing")
    revoke = customer.locator("#current-authorizations").get_by_role("link", name=re.compile("Revoke")).first
    revoke_url = base + revoke.get_attribute("href")
    _walk(
        customer,
        {
            "portal-home": f"{base}/dc/bayview/",
            "download": f"{base}/dc/bayview/download",
            "moving": f"{base}/dc/bayview/moving",
            "sharing": f"{base}/dc/bayview/sharing",
            "revoke-confirm": revoke_url,
            "consent": _authorize_url(base),
            "scope-selection": f"{base}/dc/bayview/RetailCustomer/ScopeSelectionList",
            "third-party-list": f"{base}/dc/bayview/RetailCustomer/{resource_uuid_str(42, 'bayview', 'customer', 0)}/ThirdPartyList",
        },
        found,
    )

    staff = browser.new_context(locale="en-US").new_page()
    staff_sign_in(staff, base)
    staff.goto(f"{base}/dc/bayview/admin/?q=demo")
    customer_link = staff.locator("a[href*='/admin/customers/']").first.get_attribute("href")
    _walk(
        staff,
        {
            "staff-customers": f"{base}/dc/bayview/admin/",
            "staff-applications": f"{base}/dc/bayview/admin/applications",
            "staff-customer": base + customer_link,
        },
        found,
    )

    developer = browser.new_context(locale="en-US").new_page()
    app_url = _signed_up_developer(developer, base)
    _walk(
        developer,
        {
            "developer-dashboard": f"{base}/dc/bayview/developer/",
            "developer-new-app": f"{base}/dc/bayview/developer/apps/new",
            "developer-app": app_url,
            "developer-edit-app": app_url + "/edit",
            "developer-terms": app_url + "/terms",
        },
        found,
    )

    visitor = browser.new_context(locale="en-US").new_page()
    visitor.goto(demo + "/")
    visitor.locator('[data-slug="bayview"]').get_by_role("link", name=re.compile("Connect")).click()
    visitor.get_by_role("button", name=re.compile("Continue to")).click()
    fill_sign_in(visitor)
    visitor.get_by_role("button", name="Allow").click()
    expect(visitor.locator("#utility-bayview")).to_be_visible(timeout=60_000)
    _walk(visitor, {"demo-dashboard": f"{demo}/dashboard"}, found)

    assert not found, f"pages wider than the window (CSS px too wide): {found}"
