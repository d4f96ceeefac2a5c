"""A page of another loopback port (the same site: the session cookie goes with the frame's
request) frames the consent page of a signed-in customer, hoping for one click on Allow: the
browser refuses to show it, and the frame stays empty."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from .helpers import screenshot, sign_in

pytestmark = pytest.mark.browser

SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


def _attacker(frames: dict[str, str]) -> ThreadingHTTPServer:
    """A server on another loopback port whose page /<name> frames frames[name] (and /own, its own
    harmless page: proof that framing as such works in this browser)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.strip("/")
            if name not in frames and name != "own":
                self.send_error(404)
                return
            if name == "own":
                body = "<!doctype html><title>own</title><p id=own>a page that may be framed</p>"
            else:
                body = (
                    f"<!doctype html><title>Win a prize</title><h1>Click the button to win</h1>"
                    f'<iframe id=victim src="{frames[name]}" width=900 height=600></iframe>'
                    '<iframe id=control src="/own" width=300 height=80></iframe>'
                )
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_page_on_another_port_cannot_frame_the_consent_page(server, page):
    consent = f"{server.url}/dc/bayview/oauth/authorize?" + urlencode(
        {
            "client_id": "demo-third-party",
            "redirect_uri": "http://127.0.0.1:9/callback",
            "response_type": "code",
            "scope": SCOPE,
            "state": "st",
        }
    )
    sign_in(page, server.url)
    page.goto(consent)  # the customer would see it: signed in, one click from Allow
    expect(page.locator("#consent-form").get_by_role("button", name="Allow")).to_be_visible()

    attacker = _attacker({"prize": consent})
    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "frame-ancestors" in m.text else None)
    try:
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/prize", wait_until="load")  # frames loaded too
        expect(page.frame_locator("#control").locator("#own")).to_be_visible()  # framing as such works
        victim = page.frame_locator("#victim")
        expect(victim.locator("body")).to_be_attached()
        assert victim.locator("#consent-form").count() == 0
        assert victim.get_by_role("button", name="Allow").count() == 0
        frame = page.frame(name="victim")
        assert frame is not None and frame.url.startswith("chrome-error://"), frame and frame.url  # Chromium's block
        assert any("frame-ancestors 'none'" in text for text in refusals), refusals
        screenshot(page, "framing/consent-page-refused")
    finally:
        attacker.shutdown()
        attacker.server_close()
