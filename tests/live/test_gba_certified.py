"""The `gba-certified` behaviour profile against the real run.py: each status where the Green Button
Alliance's certification suite expects another answer than the RFCs, chosen for a utility (a private
sandbox's `profiles`) and for one application, beside the default profile's RFC answers."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests

from sandbox.testing.client import SandboxClient

from .server import small_world
from .tokens import CALLBACK, DEMO, client_token

pytestmark = pytest.mark.live
KEY = "gba-certified-key"
SLUG = "bayview"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with small_world(tmp_path_factory.mktemp("gba-certified"), KEY) as s:
        yield s


@pytest.fixture(scope="module")
def default(live) -> SandboxClient:
    return SandboxClient(live.url, KEY)


@pytest.fixture(scope="module")
def certified(default) -> SandboxClient:
    """A private sandbox whose bayview answers as the certification suite expects."""
    made = default.create_sandbox(label="gba", customers=1, profiles={SLUG: "gba-certified"})
    yield made
    default.delete_sandbox(made)


def _resource(sandbox: SandboxClient, path: str) -> str:
    return f"{sandbox.url}/dc/{SLUG}/espi/1_1/resource/{path}"


@pytest.mark.parametrize("path", ["Subscription/1/UsagePoint", "Batch/Subscription/1", "ApplicationInformation/1"])
def test_no_token_on_a_data_or_management_endpoint_is_403_certified_and_401_by_the_rfc(default, certified, path):
    rfc = requests.get(_resource(default, path), timeout=30)
    assert rfc.status_code == 401 and rfc.headers["WWW-Authenticate"].startswith("Bearer")
    gba = requests.get(_resource(certified, path), timeout=30)
    assert gba.status_code == 403, gba.text
    assert gba.json()["error_description"] == rfc.json()["error_description"]  # the same words, another status
    assert gba.headers["X-Sandbox-Reason"] == "no_token"


def _revoked_by_the_third_party(sandbox: SandboxClient, secret: str) -> requests.Response:
    granted = sandbox.authorize(customer="demo", client_id=DEMO[0], scope=SCOPE, utility=SLUG)
    client = client_token(sandbox.url, SLUG, (DEMO[0], secret))
    return requests.delete(
        granted["authorizationURI"], headers={"Authorization": f"Bearer {client['access_token']}"}, timeout=30
    )


def test_a_delete_done_is_200_certified_and_204_by_the_rfc(default, certified):
    rfc = _revoked_by_the_third_party(default, DEMO[1])
    assert rfc.status_code == 204 and rfc.content == b""
    gba = _revoked_by_the_third_party(certified, certified.made["demo"]["third_party"]["client_secret"])
    assert gba.status_code == 200, gba.text


def _authorize(sandbox: SandboxClient, client_id: str, redirect_uri: str) -> requests.Response:
    q = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": SCOPE, "state": "s"}
    return requests.get(f"{sandbox.url}/dc/{SLUG}/oauth/authorize?" + urlencode(q), allow_redirects=False, timeout=30)


def test_the_authorization_endpoint_refuses_an_unknown_client_with_401_certified_and_400_by_the_rfc(default, certified):
    rfc, gba = _authorize(default, "no-such-client", CALLBACK), _authorize(certified, "no-such-client", CALLBACK)
    assert (rfc.status_code, gba.status_code) == (400, 401)
    assert "Unknown application" in rfc.text and "Unknown application" in gba.text  # shown, never redirected


def test_the_authorization_endpoint_refuses_an_unregistered_redirect_uri_with_403_certified(default, certified):
    elsewhere = "https://elsewhere.example/callback"
    rfc, gba = _authorize(default, DEMO[0], elsewhere), _authorize(certified, DEMO[0], elsewhere)
    assert (rfc.status_code, gba.status_code) == (400, 403)
    assert "Location" not in gba.headers and "Unregistered return address" in gba.text


def test_chosen_for_one_application_it_changes_that_application_s_answers_only(default):
    default.set_profile("gba-certified", utility=SLUG)
    try:
        assert _revoked_by_the_third_party(default, DEMO[1]).status_code == 200
        assert _authorize(default, DEMO[0], "https://elsewhere.example/cb").status_code == 403
        # a call without a token names no application: the utility's own answer stays the RFC's
        assert requests.get(_resource(default, "Batch/Subscription/1"), timeout=30).status_code == 401
        assert _authorize(default, "no-such-client", CALLBACK).status_code == 400
    finally:
        default.set_profile(None, utility=SLUG)
    assert _revoked_by_the_third_party(default, DEMO[1]).status_code == 204
