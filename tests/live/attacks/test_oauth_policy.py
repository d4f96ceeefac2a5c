"""OAuth policy holes replayed against the real run.py (issue 21, item 7): a suspended third party
redeeming a code, a code exchanged after the customer moved out, an application in Review used as
an open redirector (error redirects and the legacy scope-selection flow), PKCE `plain` where the
utility requires PKCE, what a failed PKCE check claims, and racing refreshes of a refresh token
that does not rotate (SQLite, and PostgreSQL)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox.synth.world import load_world
from sandbox.testing.client import SandboxClient

from ..server import LiveServer, small_world
from ..tokens import CALLBACK, CUSTODIAN, DEMO, client_token, code_for, csrf, signed_in, token

pytestmark = pytest.mark.live
KEY = "oauth-policy-key"
SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
LURE = "https://attacker.example/cb"
VERIFIER = "a-verifier-of-enough-length-for-rfc-7636-section-4-1"
# the utilities whose profiles do not rotate refresh tokens (lenient, ontario), with a scope each takes
NON_ROTATING = {"prairie": SCOPE, "trillium": "FB=1_3_4_5_10_13_14_32_39"}
RACERS = 11


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with small_world(tmp_path_factory.mktemp("oauth-policy"), KEY) as s:  # the clock runs: real time
        yield s


@pytest.fixture(scope="module")
def control(live):
    return SandboxClient(live.url, KEY)


@pytest.fixture(scope="module")
def custodian(live) -> str:
    """bayview's data-custodian access token (taken once: each client-credentials token has an authorization)."""
    return client_token(live.url, "bayview", CUSTODIAN)["access_token"]


def authorizations_at(base: str, bearer: str) -> int:
    """How many authorizations bayview holds (its data custodian's AuthorizationList)."""
    r = requests.get(
        f"{base}/dc/bayview/espi/1_1/resource/Authorization", headers={"Authorization": f"Bearer {bearer}"}, timeout=30
    )
    assert r.status_code == 200, r.text[:300]
    return len(re.findall(r"<(?:\w+:)?entry[ >]", r.text))


def exchange(base: str, slug: str, code: str, **more) -> requests.Response:
    return token(base, slug, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, **more)


def authorize_url(base: str, slug: str, **q) -> str:
    query = {
        "client_id": DEMO[0],
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": SCOPE,
        "state": "st",
        **q,
    }
    return f"{base}/dc/{slug}/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def callback(r: requests.Response) -> dict:
    assert r.status_code == 302 and r.headers["Location"].startswith(CALLBACK), (r.status_code, r.text[:300])
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}


# --- a suspended third party, a customer who moved out --------------------------------------------------


@pytest.mark.parametrize("status, word", [("blocked", "blocked"), ("on_hold", "on hold")])
def test_a_code_issued_before_a_suspension_gives_no_tokens_then_or_after_release(
    live, control, custodian, status, word
):
    code = code_for(live.url, "bayview", SCOPE, signed_in(live.url, "bayview"))["code"]
    before = authorizations_at(live.url, custodian)
    control.set_status(status)
    try:
        r = exchange(live.url, "bayview", code)
        assert r.status_code == 400 and r.json()["error"] in ("invalid_grant", "unauthorized_client"), r.text
        assert word in r.json()["error_description"] and "access_token" not in r.json()
    finally:
        control.set_status("production")
    r = exchange(live.url, "bayview", code)  # released: the code died with the suspension
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert word in r.json()["error_description"] and "access_token" not in r.json()
    assert authorizations_at(live.url, custodian) == before


def test_a_code_exchanged_after_the_customer_moved_out_is_refused_with_that_reason(live, control, custodian):
    (username,) = control.add_customers(1, utility="bayview")
    code = code_for(live.url, "bayview", SCOPE, signed_in(live.url, "bayview", username, "password"))["code"]
    tz = load_world(Path(__file__).resolve().parents[3] / "seed_data").utility("bayview").time_zone
    control.move_out(username, dt.datetime.now(ZoneInfo(tz)).date(), utility="bayview")
    before = authorizations_at(live.url, custodian)
    r = exchange(live.url, "bayview", code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "moved out" in r.json()["error_description"] and "access_token" not in r.json()
    assert authorizations_at(live.url, custodian) == before


# --- an application in Review is no open redirector ---------------------------------------------------


@pytest.fixture(scope="module")
def lure(live) -> dict:
    """An application as anyone can register one over the open registration API (in Review), whose
    redirect URI and scope-selection screen are the attacker's."""
    body = {
        "client_name": "Lure",
        "redirect_uris": [LURE],
        "contacts": ["x@attacker.example"],
        "thirdPartyScopeSelectionScreenURI": "https://attacker.example/select",
    }
    r = requests.post(
        f"{live.url}/dc/bayview/espi/1_1/register", json=body, headers={"Accept": "application/json"}, timeout=30
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_an_application_in_review_gets_no_error_redirect(live, lure):
    url = authorize_url(live.url, "bayview", client_id=lure["client_id"], redirect_uri=LURE, scope="FB=1_3_99")
    for visitor in (requests.Session(), signed_in(live.url, "bayview")):  # anyone, and a signed-in test customer
        r = visitor.get(url, allow_redirects=False, timeout=30)
        assert r.status_code == 400 and "Location" not in r.headers, (r.status_code, r.headers)
        assert "not in production" in r.text


def test_the_scope_selection_flow_sends_no_customer_to_an_application_in_review(live, lure):
    r = signed_in(live.url, "bayview").get(
        f"{live.url}/dc/bayview/RetailCustomer/ScopeSelectionList?" + urlencode({"ThirdPartyID": lure["client_id"]}),
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 403 and "Location" not in r.headers, (r.status_code, r.headers)


# --- PKCE where lakeshore requires it -----------------------------------------------------------------


@pytest.mark.parametrize("method, named", [("plain", "is plain"), (None, "missing, which means plain")])
def test_pkce_plain_or_without_method_is_refused_where_pkce_is_required(live, method, named):
    customer = signed_in(live.url, "lakeshore")
    r = customer.get(
        authorize_url(live.url, "lakeshore", code_challenge=VERIFIER, code_challenge_method=method),
        allow_redirects=False,
        timeout=30,
    )
    q = callback(r)
    assert q["error"] == "invalid_request" and named in q["error_description"] and "S256" in q["error_description"]
    assert "code" not in q


def test_a_failed_pkce_check_says_what_failed_and_claims_no_revoked_tokens(live):
    customer = signed_in(live.url, "lakeshore")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    url = authorize_url(live.url, "lakeshore", code_challenge=challenge, code_challenge_method="S256")
    page = customer.get(url, timeout=30)
    ids = re.findall(r'name="usage_point" value="(\d+)"', page.text)
    code = callback(
        customer.post(
            url,
            data={"csrf_token": csrf(page.text), "decision": "accept", "usage_point": ids},
            allow_redirects=False,
            timeout=30,
        )
    )["code"]
    wrong = exchange(live.url, "lakeshore", code, code_verifier="x" * 43)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant", wrong.text
    assert "code_verifier does not match" in wrong.json()["error_description"]
    again = exchange(live.url, "lakeshore", code, code_verifier=VERIFIER)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    for said in (wrong.json()["error_description"], again.json()["error_description"]):
        assert "revoked" not in said


# --- racing refreshes where refresh tokens do not rotate ---------------------------------------------------


def race_refreshes(base: str, control: SandboxClient, slug: str) -> None:
    """RACERS refreshes of one refresh token sent at once over HTTP: each is a 200 whose access token
    the resource server takes, or a 400 invalid_grant; never a 200 with a token that does not work."""
    t = control.authorize("demo", NON_ROTATING[slug], utility=slug)
    ready = threading.Barrier(RACERS)

    def one(_):
        ready.wait()
        return token(base, slug, grant_type="refresh_token", refresh_token=t["refresh_token"])

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(one, range(RACERS)))
    assert {a.status_code for a in answers} <= {200, 400}, [(a.status_code, a.text[:200]) for a in answers]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
    won = [a.json() for a in answers if a.status_code == 200]
    assert won and all(w["refresh_token"] == t["refresh_token"] for w in won)  # the same one again (RFC 6749 6)
    probe = t["resourceURI"].split("/Batch/")[0] + "/LocalTimeParameters"
    works = [
        requests.get(probe, headers={"Authorization": f"Bearer {w['access_token']}"}, timeout=30).status_code
        for w in won
    ]
    assert works == [200] * len(won), works


@pytest.mark.parametrize("slug", sorted(NON_ROTATING))
def test_racing_refreshes_of_a_non_rotating_token_all_get_working_tokens_on_sqlite(live, control, slug):
    race_refreshes(live.url, control, slug)


@pytest.mark.postgres
def test_racing_refreshes_of_a_non_rotating_token_all_get_working_tokens_on_postgresql(postgres_url):  # noqa: F811
    with LiveServer(
        "--database", postgres_url, "--customers", "1", "--reset", "--no-demo-app", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as server:
        control = SandboxClient(server.url, KEY)
        for slug in sorted(NON_ROTATING):
            race_refreshes(server.url, control, slug)
