"""The demo third-party app against the real run.py: it starts beside the utilities, finds them in
the directory (by postal code too), and its client reads data, refreshes an expired token by the
sandbox clock, and says why for every way access ends."""
from __future__ import annotations

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
    narrowed = requests.get(live.demo_url + "/", params={"postal_code": bayview["postal_prefixes"][0] + "00"},
                            timeout=30).text
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
    assert c.token["access_token"] != tokens["access_token"] and len(again) >= len(first)


@pytest.mark.parametrize("end, words", [
    ("revoke", "You revoked this app's access at Bayview Power & Light."),
    ("expire", "Your authorization at Bayview Power & Light has expired"),
    ("move", "ended when you moved out"),
    ("block", "Bayview Power & Light has blocked this app"),
    ("hold", "has put this app on hold"),
])
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
