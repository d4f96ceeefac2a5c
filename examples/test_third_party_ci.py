"""A third party's own CI, written against the Green Button Sandbox's pytest plugin.

    pip install /path/to/greenbutton-sandbox     # a clone (or a built wheel, or a git URL)
    pytest examples/

The package is not on the package index yet; docs/use-from-your-project.md has each install line.

The `green_button_sandbox` fixture is a live sandbox reset for each test; nothing here uses a
browser. Replace the `fetch_usage` function with a call into your own application's code.
"""
from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ESPI = "{http://naesb.org/espi}"


def fetch_usage(sandbox, tokens: dict) -> list[tuple[int, int]]:
    """(start, Wh) of every interval reading the third party can pull with its tokens."""
    answer = sandbox.get(tokens["resourceURI"], tokens)
    assert answer.status == 200, answer.text
    root = ET.fromstring(answer.body)
    return [(int(r.find(f"{ESPI}timePeriod/{ESPI}start").text), int(r.find(f"{ESPI}value").text))
            for r in root.iter(f"{ESPI}IntervalReading")]


def test_a_new_day_of_data_arrives(green_button_sandbox):
    green_button_sandbox.freeze()
    tokens = green_button_sandbox.authorize("demo")
    before = fetch_usage(green_button_sandbox, tokens)
    green_button_sandbox.advance(days=1)  # the access token (an hour's) has expired: get() refreshes it
    after = fetch_usage(green_button_sandbox, tokens)
    new = sorted(set(after) - set(before))
    assert new, "a day later there is more data"
    assert min(start for start, _ in new) > max(start for start, _ in before)


def test_tokens_expire_by_the_sandbox_clock_and_refresh(green_button_sandbox):
    green_button_sandbox.freeze()
    tokens = green_button_sandbox.authorize("demo")
    green_button_sandbox.advance(seconds=tokens["expires_in"] + 1)
    old = dict(tokens)
    expired = green_button_sandbox.get(tokens["resourceURI"], tokens["access_token"])  # a bare token: no refresh
    assert expired.status == 401 and expired.headers["X-Sandbox-Reason"] == "token_expired"
    assert green_button_sandbox.get(tokens["resourceURI"], tokens).status == 200  # the token response: refreshed
    assert tokens["access_token"] != old["access_token"]
    assert tokens["refresh_token"] != old["refresh_token"]  # bayview rotates refresh tokens: the new one kept


def test_the_customer_revokes(green_button_sandbox):
    tokens = green_button_sandbox.authorize("demo")
    green_button_sandbox.revoke(tokens)
    refused = green_button_sandbox.get(tokens["resourceURI"], tokens)
    assert refused.status == 401
    assert refused.headers["X-Sandbox-Reason"] == "authorization_revoked_by_customer"


@pytest.fixture
def receiver():
    """The third party's notification endpoint: it keeps every BatchList POSTed to it."""
    received: list[bytes] = []

    class Notified(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Notified)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/notify", received
    server.shutdown()


def test_a_notification_names_exactly_the_new_day(green_button_sandbox, receiver):
    url, received = receiver
    green_button_sandbox.set_notify_uri(url)
    green_button_sandbox.freeze()
    tokens = green_button_sandbox.authorize("demo")
    before = fetch_usage(green_button_sandbox, tokens)
    green_button_sandbox.advance(days=1)
    (note,) = green_button_sandbox.wait_for_notifications(2, client_id="demo-third-party", utility="bayview")[:1]
    assert note["event"] == "published" and note["body"].encode() in received
    ours = [uri for uri in note["uris"] if uri.startswith(tokens["resourceURI"] + "?")]
    new = fetch_usage(green_button_sandbox, {**tokens, "resourceURI": ours[0]})
    assert new and min(start for start, _ in new) > max(start for start, _ in before)
    assert max(start for start, _ in new) - min(start for start, _ in new) < 86400  # one day, nothing older


def test_only_your_own_grants_are_notified(green_button_sandbox, receiver):
    url, received = receiver
    green_button_sandbox.set_notify_uri(url)
    green_button_sandbox.freeze()
    green_button_sandbox.authorize("demo")
    green_button_sandbox.advance(days=1)
    delivered = green_button_sandbox.wait_for_notifications(2)
    every = green_button_sandbox.notifications()  # any state, any utility, any third party
    assert sorted(n["event"] for n in every) == ["authorized", "published"] and len(delivered) == 2
    assert all("/dc/bayview/" in uri for n in every for uri in n["uris"]) and len(received) == 2
