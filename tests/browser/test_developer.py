"""A third-party developer in the browser: sign up, register an application, copy the secret,
accept the terms, upload the certificate, test the notification endpoint; every page fits a phone."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from live.third_party import ThirdParty
from playwright.sync_api import expect
from web.helpers import make_certificate

from sandbox.testing.client import SandboxClient

from .helpers import DESKTOP, PHONE, SCREENSHOTS, screenshot

pytestmark = pytest.mark.browser


def _no_overflow(page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a phone"


def test_developer_onboarding_journey(server, context, tmp_path):
    with ThirdParty(body=b"received") as tp:
        page = context.new_page()
        base = f"{server.url}/dc/bayview/developer"
        page.set_viewport_size(PHONE)
        page.goto(base + "/")
        _no_overflow(page, "landing")
        screenshot(page, "developer-landing-phone")
        signup = page.locator("#developer-signup")
        signup.get_by_label("Your name or company").fill("Browser Apps")
        signup.get_by_label("E-mail").fill("browser@example.com")
        signup.get_by_label("Password").fill("correct horse")
        signup.get_by_role("button", name="Create account").click()
        expect(page.locator("#no-applications")).to_be_visible()

        page.locator("#register-link").click()
        page.get_by_label("Application name").fill("Browser Meter")
        page.get_by_label("Redirect URIs").fill("http://127.0.0.1:9/cb")
        page.get_by_label("Notification URI").fill(tp.url)
        _no_overflow(page, "registration form")
        screenshot(page, "developer-register-phone")
        page.get_by_role("button", name="Register").click()
        secret = page.locator("#client-secret")
        expect(secret).to_be_visible()
        assert len(secret.inner_text()) >= 40
        client_secret = secret.inner_text().strip()
        expect(page.locator("#status")).to_have_text("Review")
        _no_overflow(page, "application page")
        screenshot(page, "developer-application-new-phone")

        page.locator("#terms-link").click()
        expect(page.locator("#terms")).to_contain_text("Bayview Power & Light may put your application on hold")
        page.get_by_label("I accept these terms").check()
        page.get_by_role("button", name="Accept").click()
        expect(page.locator('[data-check="terms"]')).to_have_attribute("data-done", "true")
        expect(page.locator("#client-secret")).to_have_count(0)  # shown once only

        cert = tmp_path / "cert.pem"
        now = dt.datetime.now(dt.timezone.utc)  # the live server runs in real time
        cert.write_text(
            make_certificate("browser.example.com", now - dt.timedelta(days=1), now + dt.timedelta(days=365))[0]
        )
        page.locator("#cert-file").set_input_files(str(cert))
        page.locator("#certificate-form").get_by_role("button", name="Upload").click()
        expect(page.locator("#certificate-info")).to_contain_text("CN=browser.example.com")

        page.locator("#notify-form").get_by_role("button").click()
        expect(page.locator("#notify-result")).to_have_attribute("data-status", "200")
        expect(page.locator("#notify-result")).to_contain_text("received")
        assert len(tp.received) == 1
        expect(page.locator('[data-check="notification"]')).to_have_attribute("data-done", "true")
        # the application's own calls show in its request log, a refused one with its reason
        client_id = page.locator("#client-id").inner_text().strip()
        got = requests.post(
            f"{server.url}/dc/bayview/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
            timeout=30,
        ).json()
        resource = f"{server.url}/dc/bayview/espi/1_1/resource"
        requests.get(
            f"{resource}/ReadServiceStatus", headers={"Authorization": f"Bearer {got['access_token']}"}, timeout=30
        )
        requests.get(
            f"{resource}/Batch/Subscription/1", headers={"Authorization": f"Bearer {got['access_token']}"}, timeout=30
        )
        page.reload()
        rows = page.locator("#request-log tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("GET /Batch/Subscription/1")
        expect(rows.nth(0)).to_contain_text("403")
        expect(rows.nth(0)).to_contain_text("wrong_token_kind")
        expect(rows.nth(1)).to_contain_text("ReadServiceStatus")
        expect(rows.nth(1)).to_contain_text("200")
        # a customer's authorization is announced: the inspector shows the BatchList and its delivery
        scope = page.locator("ul.scopes code.scope").first.inner_text().strip()
        control = SandboxClient(server.url, server.admin_key)
        control.authorize("demo", scope, client_id=client_id)
        tp.wait_for(2)
        # received by the third party; recorded as delivered once its answer is back
        control.wait_for_notifications(1, client_id=client_id, utility="bayview", event="authorized")
        page.reload()
        note = page.locator("details.notification").first
        expect(note).to_have_attribute("data-state", "delivered")
        expect(note).to_contain_text("Authorized by a customer")
        expect(note.locator("pre.batch-list")).to_contain_text("Batch/Subscription/")
        expect(note.locator("table.attempts tbody tr")).to_have_count(1)
        expect(note.locator("table.attempts")).to_contain_text("received")
        note.get_by_role("button", name="Send again").click()
        expect(page.locator("p.flash").first).to_contain_text("delivered: HTTP 200")
        note = page.locator("details.notification").first
        expect(note.locator("table.attempts tbody tr")).to_have_count(2)
        expect(note.locator("table.attempts tbody tr").nth(1)).to_contain_text("(by hand)")
        assert len(tp.received) == 3
        # another behaviour profile for this application: chosen from the list, kept, said
        form = page.locator("#profile-form")
        form.locator("select").select_option("async-batch")
        form.get_by_role("button", name="Save").click()
        expect(page.locator("p.flash").first).to_contain_text("Behaviour profile: async-batch.")
        expect(page.locator("#profile-form select")).to_have_value("async-batch")
        page.locator("#profile details summary").click()
        expect(page.locator("#profile table")).to_contain_text('batch.mode="async"')
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#profile").screenshot(path=str(SCREENSHOTS / "developer-application-profile-phone.png"))
        _no_overflow(page, "application page with results")
        screenshot(page, "developer-application-phone")
        page.set_viewport_size(DESKTOP)
        screenshot(page, "developer-application-desktop")
        page.close()
