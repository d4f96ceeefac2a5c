"""Notification targets, against a real run.py listening beyond loopback (issue 21, item 8): a
developer's application whose notification URI is an IPv6 form of loopback is refused, and one
whose host rebinds (a public address when first asked, loopback after) never gets a connection
to loopback, from the developer portal's test notification nor from the outbox. A real socket
listening on loopback shows that nothing arrived.

The server process is run.py's own main() with a stand-in for the outside world installed first:
names under .rebind.test answer PUBLIC the first time each is asked and 127.0.0.1 after, and a
connection to PUBLIC is refused at once (so the tests send nothing off this machine)."""

from __future__ import annotations

import re
import sys
import time

import pytest
import requests
from web.helpers import LoopbackListener

from sandbox.testing.client import SandboxClient
from sandbox.testing.process import SandboxProcess

from ..server import ROOT

pytestmark = pytest.mark.live
KEY = "targets-key"
PUBLIC = "93.184.216.34"
WORLD = f"""
import socket, sys
real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
asked = {{}}

def getaddrinfo(host, port, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".rebind.test"):
        asked[host] = asked.get(host, 0) + 1
        host = {PUBLIC!r} if asked[host] == 1 else "127.0.0.1"
    return real_getaddrinfo(host, port, *args, **kwargs)

def connect(self, address):
    if isinstance(address, tuple) and address[0] == {PUBLIC!r}:
        raise ConnectionRefusedError(111, "refused by the test's stand-in for a public host")
    return real_connect(self, address)

socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
sys.path.insert(0, {str(ROOT)!r})
from sandbox.server import main
sys.exit(main())
"""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """run.py on every interface (so notifications go to public hosts only), its base URL on loopback."""
    db = tmp_path_factory.mktemp("targets") / "world.db"
    env = {"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_NOTIFY_RETRY_BASE": "0.2", "SANDBOX_NOTIFY_RETRY_CAP": "0.4"}
    with SandboxProcess(
        "--host",
        "0.0.0.0",
        "--database",
        str(db),
        "--customers",
        "1",
        "--reset",
        "--no-demo-app",
        env=env,
        command=[sys.executable, "-c", WORLD],
        cwd=str(ROOT),
    ) as proc:
        assert proc.url is not None
        yield "http://127.0.0.1:" + proc.url.rsplit(":", 1)[1]


@pytest.fixture
def listener():
    found = LoopbackListener()
    yield found
    found.close()


@pytest.fixture(scope="module")
def developer(server):
    """A signed-up developer's session at bayview."""
    web = requests.Session()
    portal = f"{server}/dc/bayview/developer"
    r = web.post(
        f"{portal}/signup",
        allow_redirects=False,
        data={
            "csrf_token": _csrf(web.get(f"{portal}/")),
            "name": "Mallory",
            "email": "mallory@example.com",
            "password": "correct horse battery",
        },
    )
    assert r.status_code == 303, r.text[:300]
    return web, portal


def _csrf(page: requests.Response) -> str:
    return CSRF.search(page.text).group(1)


def _test_notification(developer, name: str, notify_uri: str) -> requests.Response:
    """Register an application with `notify_uri`, then send its test notification; the portal's answer."""
    web, portal = developer
    new = web.get(f"{portal}/apps/new")
    scope = re.search(r'name="scopes" value="([^"]+)"', new.text).group(1)
    r = web.post(
        f"{portal}/apps/new",
        data={
            "csrf_token": _csrf(new),
            "name": name,
            "description": "",
            "contact_email": "mallory@example.com",
            "redirect_uris": "https://tp.example.com/cb",
            "notify_uri": notify_uri,
            "scope_selection_uri": "",
            "client_uri": "",
            "logo_uri": "",
            "scopes": scope,
        },
    )
    assert r.status_code == 201, r.text[:500]
    app_id = re.search(r"/developer/apps/(\d+)/notify-test", r.text).group(1)
    page = web.get(f"{portal}/apps/{app_id}")
    return web.post(f"{portal}/apps/{app_id}/notify-test", data={"csrf_token": _csrf(page)})


@pytest.mark.parametrize("form", ["::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"])
def test_a_wrapped_loopback_notification_uri_is_refused(server, developer, listener, form):
    r = _test_notification(developer, f"Wrapped {form}", f"http://[{form}]:{listener.port}/notify")
    assert not listener.arrived()
    assert r.status_code == 400 and "notify_uri" in r.text and "127.0.0.1" in r.text, r.text[:800]


def test_a_rebinding_name_gets_the_public_answer_and_never_loopback(server, developer, listener):
    r = _test_notification(developer, "Rebinder", f"http://portal.rebind.test:{listener.port}/notify")
    assert not listener.arrived()
    assert r.status_code == 200, r.text[:800]  # the application's page after the redirect
    assert "Test notification not delivered: no answer" in r.text and "stand-in" in r.text  # the public answer


def test_the_outbox_never_follows_a_rebinding_name_to_loopback(server, listener):
    control = SandboxClient(server, KEY)
    control.set_notify_uri(f"http://outbox.rebind.test:{listener.port}/notify")
    control.authorize("demo")
    deadline = time.monotonic() + 30
    while not (notes := [n for n in control.notifications() if n["attempts"] >= 3]):
        assert time.monotonic() < deadline, control.notifications()
        time.sleep(0.05)  # polling a server that retries in the background
    assert not listener.arrived()
    (note,) = notes
    answers = [d["answer"] for d in sorted(note["deliveries"], key=lambda d: d["at"])]
    assert all(d["status"] == 0 for d in note["deliveries"])
    assert "stand-in" in answers[0] and all("loopback" in a for a in answers[1:]), answers
