"""Behaviour profiles against the real run.py: one test per knob, each asserting the status,
headers and body a third party sees, and that the profile given to one application leaves the
answers to another application alone."""

from __future__ import annotations

import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from espi.checks import ATOM, ESPI, espi_schema, parse
from greenbutton_objects import parse as gb_parse
from lxml import etree

from sandbox.core.profile import KNOBS
from sandbox.demo.espi import parse_usage
from sandbox.espi.reader import read_usage_feed
from sandbox.espi.xmlio import parse_untrusted
from sandbox.testing.client import SandboxClient

from .server import small_world
from .third_party import ThirdParty
from .tokens import CALLBACK, DEMO, token

pytestmark = pytest.mark.live
KEY = "profiles-key"
SLUG = "bayview"
FB = "FB=1_3_4_5_13_14_32_39"
SCOPE = FB + ";IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
NOW = dt.datetime(2025, 3, 12, 15, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with small_world(tmp_path_factory.mktemp("profiles"), KEY) as s:
        yield s


@pytest.fixture(scope="module")
def control(live):
    c = SandboxClient(live.url, KEY)
    c.freeze(NOW)
    return c


@pytest.fixture
def profile(control):
    """Give the demo third party at bayview a profile for one test; the utility's own again after."""

    def choose(name: str | None) -> dict:
        return control.set_profile(name, utility=SLUG)

    yield choose
    control.set_profile(None, utility=SLUG)


@pytest.fixture(scope="module")
def other(live):
    """A second third party at bayview (a dynamic registration): what a profile must not touch."""
    body = {"client_name": "Other App", "redirect_uris": [CALLBACK], "contacts": ["other@tp.example"]}
    r = requests.post(
        f"{live.url}/dc/{SLUG}/espi/1_1/register", json=body, headers={"Accept": "application/json"}, timeout=30
    )
    assert r.status_code == 201, r.text
    return r.json()


def authorize_url(live, scope: str, client_id: str = DEMO[0]) -> str:
    q = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": scope, "state": "s"}
    return f"{live.url}/dc/{SLUG}/oauth/authorize?" + urlencode(q)


def scope_error(live, scope: str, client_id: str = DEMO[0], slug: str = SLUG) -> dict | None:
    """The OAuth error the authorize endpoint redirects back with, or None if it goes on to sign-in."""
    r = requests.get(
        authorize_url(live, scope, client_id).replace(f"/dc/{SLUG}/", f"/dc/{slug}/"), allow_redirects=False, timeout=30
    )
    if r.status_code in (302, 303) and r.headers["Location"].startswith(CALLBACK):
        return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    assert r.status_code in (200, 302, 303), r.text[:300]  # the sign-in page (or a redirect to it)
    return None


def get(tokens: dict, uri: str | None = None, **query) -> requests.Response:
    url = (uri or tokens["resourceURI"]) + (("?" + urlencode(query)) if query else "")
    return requests.get(url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=60)


def readings(data: bytes) -> list[tuple[int, int, int]]:
    return [
        (
            int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")),
            int(r.findtext(f"{ESPI}timePeriod/{ESPI}duration")),
            int(r.findtext(f"{ESPI}value")),
        )
        for r in parse(data).iter(ESPI + "IntervalReading")
    ]


def kinds(data: bytes) -> list[str]:
    return [etree.QName(c[0]).localname for c in (e.find(ATOM + "content") for e in parse(data).iter(ATOM + "entry"))]


def refresh(tokens: dict, **more) -> requests.Response:
    return token(tokens["_base"], SLUG, grant_type="refresh_token", refresh_token=tokens["refresh_token"], **more)


def grant(live, control, scope: str = SCOPE) -> dict:
    t = control.authorize("demo", scope, utility=SLUG)
    t["_base"] = live.url
    return t


def test_profiles_are_listed_with_every_knob(control):
    found = control.profiles()
    by_name = {p["name"]: p for p in found["profiles"]}
    assert {
        "standard",
        "ontario",
        "async-batch",
        "picky-dates",
        "slow-provisioning",
        "gba-xml",
        "ns0-xml",
        "hardened",
        "requires-params",
        "lenient",
        "rfc9700",
    } <= set(by_name)
    assert found["utilities"] == {
        "bayview": "standard",
        "harbour": "standard",
        "lakeshore": "rfc9700",
        "prairie": "lenient",
        "trillium": "ontario",
    }
    for p in by_name.values():
        assert {f"{t}.{k}" for t, knobs in p["knobs"].items() for k in knobs} == {k.name for k in KNOBS}
    assert by_name["ontario"]["knobs"]["scope"]["grammar"] == "fb-only"


def test_an_unknown_profile_is_400_and_changes_nothing(control, profile):
    profile("async-batch")
    with pytest.raises(Exception) as refused:
        control.set_profile("no-such-profile", utility=SLUG)
    assert "400" in str(refused.value) and "no-such-profile" in str(refused.value)
    assert control.set_profile("async-batch", utility=SLUG)["effective"]["knobs"]["batch"]["mode"] == "async"


# --- scope grammar ------------------------------------------------------------------------------


def test_fb_only_refuses_every_other_term(live, control, profile, other):
    assert scope_error(live, SCOPE) is None  # standard: the full scope goes on to sign-in
    profile("ontario")
    err = scope_error(live, SCOPE)
    assert (
        err["error"] == "invalid_scope"
        and "IntervalDuration" in err["error_description"]
        and "function blocks only" in err["error_description"]
    )
    assert scope_error(live, FB) is None
    assert scope_error(live, SCOPE, other["client_id"]) is None  # the other application: standard still


def test_requires_params_refuses_a_bare_fb_list(live, profile):
    assert scope_error(live, FB) is None
    profile("requires-params")
    err = scope_error(live, FB)
    assert (
        err["error"] == "invalid_scope" and "IntervalDuration, BlockDuration, HistoryLength" in err["error_description"]
    )
    assert scope_error(live, SCOPE) is None


def test_lenient_takes_odd_case_and_unknown_terms(live, profile):
    odd = "fb=1_3_4_5_13_14_32_39;Colour=blue"
    assert scope_error(live, odd)["error"] == "invalid_scope"
    profile("lenient")
    assert scope_error(live, odd) is None


def test_a_function_block_the_utility_lacks_is_refused_by_name(live):
    # trillium serves no water (FB 11): refused for that request, whatever the registered scope
    err = scope_error(live, "FB=1_3_4_5_11_13_14_32_39", slug="trillium")
    assert err["error"] == "invalid_scope" and "function block 11 (Water) is not offered" in err["error_description"]
    assert scope_error(live, "FB=1_3_4_5_13_14_32_39", slug="trillium") is None


# --- refresh tokens -----------------------------------------------------------------------------


def test_without_rotation_one_refresh_token_serves_again_and_again(live, control, profile):
    profile("lenient")
    t = grant(live, control)
    answers = [refresh(t) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["refresh_token"] == t["refresh_token"] for a in answers)  # sent again (RFC 6749 6)
    assert get({"access_token": answers[-1].json()["access_token"]}, t["resourceURI"]).status_code == 200


def test_with_rotation_a_spent_refresh_token_is_refused(live, control, profile):
    t = grant(live, control)
    first = refresh(t)
    assert first.status_code == 200 and first.json()["refresh_token"] != t["refresh_token"]
    again = refresh(t)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert get(first.json(), t["resourceURI"]).status_code == 200  # no reuse detection: the newer one works


def test_reuse_detection_revokes_the_whole_family(live, control, profile, other):
    profile("hardened")
    t = grant(live, control)
    first = refresh(t).json()
    reuse = refresh(t)
    assert (
        reuse.status_code == 400
        and reuse.json()["error"] == "invalid_grant"
        and "RFC 9700" in reuse.json()["error_description"]
    )
    for access in (t["access_token"], first["access_token"]):
        r = get({"access_token": access}, t["resourceURI"])
        assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    newest = refresh({**first, "_base": live.url})
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"


def test_scope_on_refresh_required_or_refused(live, control, profile):
    profile("requires-params")
    t = grant(live, control)
    missing = refresh(t)
    assert (
        missing.status_code == 400
        and missing.json()["error"] == "invalid_request"
        and "requires the scope parameter" in missing.json()["error_description"]
    )
    assert refresh(t, scope=SCOPE).status_code == 200
    profile("hardened")
    t = grant(live, control)
    sent = refresh(t, scope=SCOPE)
    assert (
        sent.status_code == 400
        and sent.json()["error"] == "invalid_scope"
        and "takes no scope parameter" in sent.json()["error_description"]
    )
    assert refresh(t).status_code == 200
    profile(None)  # standard: optional, either way
    t = grant(live, control)
    first = refresh(t)
    assert first.status_code == 200
    assert refresh({**t, **first.json()}, scope=SCOPE).status_code == 200


def test_refresh_tokens_expire_after_the_profile_lifetime(live, control, profile):
    plain = grant(live, control)  # standard: refresh tokens last as long as the authorization
    profile("hardened")  # 90 days from each refresh token's issue
    t = grant(live, control)
    idle = grant(live, control)
    try:
        control.advance(days=89)
        renewed = refresh(t)
        assert renewed.status_code == 200  # day 89: still good, and the new one has 90 days of its own
        control.advance(days=89)
        assert refresh({**t, **renewed.json()}).status_code == 200  # day 178: 89 days after its issue
        late = refresh(idle)  # day 178: 178 days after its issue
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
        control.set_profile(None, utility=SLUG)
        assert refresh(plain).status_code == 200  # the authorization's two years: still good
    finally:
        control.freeze(NOW)


# --- batch delivery -----------------------------------------------------------------------------


def test_an_async_batch_answers_202_then_a_batch_list_gives_the_same_data(live, control, profile):
    t = grant(live, control)
    sync = get(t)
    assert sync.status_code == 200
    by_point_sync = readings(sync.content)
    with ThirdParty() as tp:
        control.set_notify_uri(tp.url, utility=SLUG)
        try:
            profile("async-batch")
            with ThreadPoolExecutor(4) as pool:  # asked four times at once: one BatchList
                answers = list(pool.map(lambda _: get(t), range(4)))
            for r in answers:
                assert (
                    r.status_code == 202
                    and r.headers["Retry-After"] == "3"
                    and r.headers["X-Sandbox-Reason"] == "async_batch"
                    and r.json()["status"] == "accepted"
                )
            assert get(t).status_code == 202  # asked again while pending: no second BatchList either
            posted = tp.wait_for(1, timeout=30)
            root = etree.fromstring(posted[0]["body"])
            uris = [e.text for e in root]
            sub = t["resourceURI"].rstrip("/")
            assert uris and all(u.startswith(sub + "/UsagePoint/") for u in uris)
            got = []
            for u in uris:
                one = get(t, u)
                assert one.status_code == 200
                got += readings(one.content)
            assert sorted(got) == sorted(by_point_sync) and got
            made = control.wait_for_notifications(1, client_id=DEMO[0], utility=SLUG, event="batch_ready")
            every = [n for n in control.notifications(client_id=DEMO[0], utility=SLUG) if n["event"] == "batch_ready"]
            assert len(made) == len(every) == 1 and made[0]["uris"] == uris
            ready = get(t)  # asked again once its BatchList was sent: the data is ready
            assert ready.status_code == 200 and ready.content == sync.content
            assert get(t, **{"published-min": "2025-03-01T00:00:00Z"}).status_code == 202  # another request: later
        finally:
            control.set_notify_uri(None, utility=SLUG)


def test_an_async_batch_without_a_notification_uri_is_409(live, control, profile):
    profile("async-batch")
    t = grant(live, control)
    r = get(t)
    assert r.status_code == 409 and r.json()["error"] == "notification_uri_required"


# --- date filters -------------------------------------------------------------------------------


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_picky_dates_refuse_future_and_fractional_times(live, control, profile):
    t = grant(live, control)
    future = _iso(NOW + dt.timedelta(days=2))
    assert get(t, **{"published-max": future}).status_code == 200
    assert get(t, **{"published-min": "2025-03-01T00:00:00.5Z"}).status_code == 200
    profile("picky-dates")
    r = get(t, **{"published-max": future})
    assert (
        r.status_code == 400
        and r.json()["reason"] == "bad_query_parameter"
        and "published-max" in r.json()["error_description"]
        and "future" in r.json()["error_description"]
    )
    r = get(t, **{"published-min": "2025-03-01T00:00:00.5Z"})
    assert r.status_code == 400 and "fraction of a second" in r.json()["error_description"]


def test_whole_local_days_widen_the_window(live, control, profile):
    t = grant(live, control)
    window = {"published-min": "2025-03-05T20:00:00Z", "published-max": "2025-03-06T20:00:00Z"}
    exact = readings(get(t, **window).content)
    profile("picky-dates")
    wide = readings(get(t, **window).content)
    starts = sorted({s for s, _, _ in wide})
    # bayview is America/Los_Angeles (UTC-8 then): 2025-03-05 00:00 local to 2025-03-07 00:00 local
    assert starts[0] == int(dt.datetime(2025, 3, 5, 8, tzinfo=dt.timezone.utc).timestamp())
    assert starts[-1] == int(dt.datetime(2025, 3, 7, 7, tzinfo=dt.timezone.utc).timestamp())
    assert set(exact) < set(wide)


def test_updated_min_can_be_ignored(live, control, profile):
    t = grant(live, control)
    later = {"updated-min": _iso(NOW + dt.timedelta(days=1))}
    assert readings(get(t, **later).content) == []
    profile("picky-dates")
    assert readings(get(t, **later).content) == readings(get(t).content) != []


# --- XML form ----------------------------------------------------------------------------------


def _objects(data: bytes) -> list:
    return [
        (mr.readingType.uom.value, [(r.timePeriod.start, r.timePeriod.duration, r._value) for r in mr.intervalReadings])
        for up in gb_parse.parse_feed(io.BytesIO(data))
        for mr in up.meterReadings
    ]


@pytest.mark.parametrize("name, version", [("gba-xml", "4.0"), ("ns0-xml", "4.0"), ("ontario", "3.3")])
def test_every_xml_form_is_valid_and_reads_back_the_same(live, control, profile, name, version):
    t = grant(live, control)
    plain = get(t)
    entry_url = t["resourceURI"].rstrip("/") + "/UsagePoint"
    plain_entry = get(t, entry_url)
    profile(name)
    r = get(t)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/atom+xml")
    root = parse(r.content)
    schema = espi_schema(version)
    assert schema.validate(root), schema.error_log
    assert read_usage_feed(parse_untrusted(r.content)) == read_usage_feed(parse_untrusted(plain.content))
    assert parse_usage(r.content) == parse_usage(plain.content)
    assert _objects(r.content) == _objects(plain.content) and readings(r.content) == readings(plain.content) != []
    text = r.content.decode()
    if name == "gba-xml":
        assert "espi:" not in text and 'xmlns="http://naesb.org/espi"' in text
    if name == "ns0-xml":
        assert "espi:" not in text and "<ns0:feed" in text
        assert all(x.get("href").startswith("/dc/bayview/espi/") for x in root.iter(ATOM + "link"))
    if version == "3.3":
        assert all(x.get("type") for x in root.iter(ATOM + "link"))
        assert espi_schema("3.3").validate(parse(plain.content))  # every link typed: the 4.0 answer passes 3.3 too
    one = get(t, entry_url)
    assert one.status_code == 200 and schema.validate(parse(one.content))
    assert kinds(one.content) == kinds(plain_entry.content)


def test_the_ontario_utility_answers_in_espi_3_3_with_reusable_refresh_tokens(live, control):
    t = control.authorize("demo", "FB=1_3_4_5_10_13_14_32_39", utility="trillium")
    r = get(t)
    assert r.status_code == 200 and espi_schema("3.3").validate(parse(r.content))
    assert readings(r.content)
    again = [
        token(live.url, "trillium", grant_type="refresh_token", refresh_token=t["refresh_token"]) for _ in range(2)
    ]
    assert [a.status_code for a in again] == [200, 200]  # reusable refresh tokens


# --- provisioning -------------------------------------------------------------------------------


def test_usage_points_join_after_the_calls_delay(live, control, profile, other):
    profile("slow-provisioning")  # 60 s or 3 reads
    t = grant(live, control)
    for _ in range(3):
        r = get(t)
        assert r.status_code == 200 and "UsagePoint" not in kinds(r.content) and readings(r.content) == []
    r = get(t)
    assert "UsagePoint" in kinds(r.content) and readings(r.content)


def test_usage_points_join_after_the_seconds_delay(live, control, profile):
    profile("slow-provisioning")
    t = grant(live, control)
    up = get(t, t["resourceURI"].rstrip("/") + "/UsagePoint")
    assert up.status_code == 200 and "UsagePoint" not in kinds(up.content)
    try:
        control.advance(seconds=61)
        assert "UsagePoint" in kinds(get(t).content)
    finally:
        control.freeze(NOW)


def test_another_applications_profile_never_revokes_a_refresh_token_family(live, control, profile, other):
    """A retired refresh token presented by another client is refused (invalid_grant), and its family
    stays: reuse detection is the token owner's profile, not the caller's."""
    control.set_profile("hardened", client_id=other["client_id"], utility=SLUG)
    try:
        t = grant(live, control)
        newer = refresh(t).json()  # the standard profile: t's refresh token is retired
        stranger = token(
            live.url,
            SLUG,
            (other["client_id"], other["client_secret"]),
            grant_type="refresh_token",
            refresh_token=t["refresh_token"],
        )
        assert stranger.status_code == 400 and stranger.json()["error"] == "invalid_grant"
        assert get(newer, t["resourceURI"]).status_code == 200
        assert refresh({**t, **newer}).status_code == 200
    finally:
        control.set_profile(None, client_id=other["client_id"], utility=SLUG)


def test_a_profile_never_changes_another_applications_answers(live, control, profile, other):
    theirs = control.authorize("demo", SCOPE, utility=SLUG, client_id=other["client_id"])
    reference = get(theirs)
    assert reference.status_code == 200 and b"<espi:" in reference.content
    for name in ("ns0-xml", "picky-dates", "slow-provisioning", "async-batch", "ontario"):
        profile(name)
        r = get(theirs, **{"published-max": _iso(NOW + dt.timedelta(days=2))})
        assert r.status_code == 200, name
        assert get(theirs).content == reference.content, name
