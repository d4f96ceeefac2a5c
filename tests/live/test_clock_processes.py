"""Two server processes over one database agree on the sandbox's time: a clock moved through one
moves for the other, and tokens, codes and authorizations expire by it in both."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from sandbox.testing.client import SandboxClient

from .server import LiveServer
from .tokens import CALLBACK, code_for, signed_in, token

pytestmark = pytest.mark.live
KEY = "two-processes-key"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("clock") / "world.db")
    env = {"SANDBOX_ADMIN_KEY": KEY}
    with (
        LiveServer("--database", db, "--customers", "1", "--reset", env=env) as a,
        LiveServer("--database", db, env=env) as b,
    ):
        yield SandboxClient(a.url, KEY), SandboxClient(b.url, KEY)


def test_a_clock_moved_in_one_process_is_moved_in_the_other(pair):
    a, b = pair
    a.freeze(dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc))
    assert b.clock() == {"now": "2026-06-01T12:00:00Z", "frozen": True, "offset_seconds": 0.0}
    b.advance(days=2)
    assert a.now() == dt.datetime(2026, 6, 3, 12, tzinfo=dt.timezone.utc)
    a.resume()
    assert not b.clock()["frozen"]


def test_expiry_follows_the_shared_clock_in_every_process(pair):
    a, b = pair
    a.freeze()
    tokens = a.authorize("demo", SCOPE)
    assert b.get(tokens["resourceURI"].replace(a.url, b.url), tokens).status == 200
    a.advance(seconds=tokens["expires_in"] + 1)
    refused = b.get(tokens["resourceURI"].replace(a.url, b.url), tokens["access_token"])  # a bare token: no refresh
    assert refused.status == 401 and refused.headers["X-Sandbox-Reason"] == "token_expired"
    # refreshing at the other process works: the refresh token's life is the authorization's
    fresh = token(b.url, "bayview", grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert fresh.status_code == 200
    # an authorization code expires by the clock too (its life is minutes), whichever process redeems it
    answer = code_for(a.url, "bayview", SCOPE, signed_in(a.url, "bayview"))
    b.advance(hours=1)
    late = token(b.url, "bayview", grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    # and the authorization itself, at the end of its period
    b.advance(days=3 * 366)
    ended = requests.get(
        fresh.json()["resourceURI"].replace(a.url, b.url),
        headers={"Authorization": f"Bearer {fresh.json()['access_token']}"},
        timeout=30,
    )
    assert ended.status_code == 401 and ended.headers["X-Sandbox-Reason"] == "authorization_expired"
