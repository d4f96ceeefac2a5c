"""The demo third-party app against the real run.py: it starts beside the utilities, finds them in
the directory (by postal code too), and its client reads data, refreshes an expired token by the
sandbox clock, and says why for every way access ends."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.demo.client import Connection, Refused, Utilities
from sandbox.testing.client import SandboxClient

from .server import LiveServer

pytestmark = pytest.mark.live
KEY = "demo-live-key"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("demo") / "world.db")
    with LiveServer("--database", db, "--customers", "2", "--reset", env={"SANDBOX_ADMIN_KEY": KEY}) as s:
        yield s


@pytest.fixture
def control(live):
    c = SandboxClient(live.url, KEY)
    c.reset()
    return c


def _connection(live, tokens: dict, slug: str = "bayview") -> tuple[Utilities, Connection]:
    utilities = Utilities(live.url, "demo-third-party", "demo-secret")
    u = utilities.utility(slug)
    return utilities, Connection(slug, u["name"], u["time_zone"], u["token_endpoint"], dict(tokens), tokens["scope"])


def test_the_demo_app_runs_beside_the_utilities_and_finds_them(live):
    assert live.demo_url and live.demo_url != live.url
    assert requests.get(live.demo_url + "/healthz", timeout=30).json()["app"] == "demo-third-party"
    page = requests.get(live.demo_url + "/", timeout=30).text
    assert "Hello, please select your utility" in page
    directory = requests.get(live.url + "/utilities", timeout=30).json()["utilities"]
    assert all(f'data-slug="{u["slug"]}"' in page for u in directory)
    bayview = next(u for u in directory if u["slug"] == "bayview")
    narrowed = requests.get(
        live.demo_url + "/", params={"postal_code": bayview["postal_prefixes"][0] + "00"}, timeout=30
    ).text
    assert 'data-slug="bayview"' in narrowed and 'data-slug="lakeshore"' not in narrowed
    nowhere = requests.get(live.demo_url + "/", params={"postal_code": "00000"}, timeout=30).text
    assert "No utility here serves 00000" in nowhere


def test_an_expired_token_is_refreshed_by_the_sandbox_clock(live, control):
    control.freeze()
    tokens = control.authorize("demo")
    utilities, c = _connection(live, tokens)
    first = utilities.get(c, c.resource_uri)
    control.advance(seconds=tokens["expires_in"] + 60)
    again = utilities.get(c, c.resource_uri)  # 401 token_expired, refreshed, asked again
    assert c.token["access_token"] != tokens["access_token"]
    # the same subscription's data, its window an hour later (a day's block may come in as another goes out,
    # and the bytes depend on the readings: how many differs by the time of day the clock was frozen at)
    feed_id = re.compile(rb"<id>([^<]+)</id>")
    assert feed_id.search(again).group(1) == feed_id.search(first).group(1)
    assert abs(again.count(b"<entry") - first.count(b"<entry")) <= 2


@pytest.mark.parametrize(
    "end, words",
    [
        ("revoke", "You revoked this app's access at Bayview Power & Light."),
        ("expire", "Your authorization at Bayview Power & Light has expired"),
        ("move", "ended when you moved out"),
        ("block", "Bayview Power & Light has blocked this app"),
        ("hold", "has put this app on hold"),
    ],
)
def test_every_way_access_ends_is_said_plainly(live, control, end, words):
    control.freeze()
    tokens = control.authorize("demo")
    utilities, c = _connection(live, tokens)
    utilities.check(c)
    if end == "revoke":
        control.revoke(tokens)
    elif end == "expire":
        control.expire(tokens)
    elif end == "move":
        control.move_out("demo", control.now().astimezone(ZoneInfo("America/Los_Angeles")).date())  # today
    else:
        control.set_status("blocked" if end == "block" else "on_hold")
    with pytest.raises(Refused) as got:
        utilities.check(c)
    assert got.value.ended and words in got.value.message, got.value.message


@pytest.fixture
def demo_client(live):
    from sandbox.demo.app import create_demo_app

    app = create_demo_app(live.url)
    app.config["WTF_CSRF_ENABLED"] = False
    return app.test_client()


def _pending(client, state: str = "s-1") -> None:
    with client.session_transaction() as s:
        s["pending"] = {"slug": "bayview", "state": state, "verifier": "v" * 48, "scope": "FB=1_3_4_5"}


def test_a_denial_an_error_and_a_stale_callback_each_get_a_clear_page(demo_client):
    _pending(demo_client)
    r = demo_client.get("/callback?error=access_denied&state=s-1")
    assert r.status_code == 200 and b"Nothing was shared" in r.data
    _pending(demo_client)
    r = demo_client.get("/callback?error=invalid_scope&error_description=FB%3D99+is+not+offered&state=s-1")
    assert r.status_code == 400 and b"Bayview Power &amp; Light said no" in r.data and b"FB=99 is not offered" in r.data
    _pending(demo_client, "expected")
    r = demo_client.get("/callback?code=abc&state=forged")
    assert r.status_code == 400 and b"That sign-in link has expired" in r.data
    r = demo_client.get("/callback?code=abc&state=expected")  # the pending request was used up by the forged one
    assert r.status_code == 400
    _pending(demo_client)
    r = demo_client.get("/callback?code=not-a-real-code&state=s-1")  # the utility refuses the exchange
    assert r.status_code == 400 and b"did not give this app access" in r.data


def test_bad_notifications_and_uploads_are_refused_plainly(demo_client):
    r = demo_client.post("/notify", data=b"<not-a-batch-list/>", content_type="application/xml")
    assert r.status_code == 400 and "BatchList" in r.get_json()["error_description"]
    r = demo_client.post(
        "/notify",
        data=b'<BatchList xmlns="http://naesb.org/espi"><resources>http://127.0.0.1:9/unknown</resources></BatchList>',
        content_type="application/xml",
    )
    assert r.status_code == 200 and r.get_json() == {"received": 1}  # nobody here subscribed to it: nothing read
    import io

    r = demo_client.post(
        "/upload", data={"file": (io.BytesIO(b"hello"), "notes.txt")}, content_type="multipart/form-data"
    )
    assert r.status_code == 400 and b"notes.txt: not XML" in r.data
    r = demo_client.post("/upload", data={}, content_type="multipart/form-data")
    assert r.status_code == 400 and b"Choose a Green Button file" in r.data


def test_an_oversize_upload_is_413(live):
    import io

    from sandbox.demo.app import create_demo_app

    app = create_demo_app(live.url, max_upload=1024 * 1024)
    app.config["WTF_CSRF_ENABLED"] = False
    r = app.test_client().post(
        "/upload", data={"file": (io.BytesIO(b"<" * (2 * 1024 * 1024)), "big.xml")}, content_type="multipart/form-data"
    )
    assert r.status_code == 413 and b"larger than this app takes (1 MB)" in r.data
