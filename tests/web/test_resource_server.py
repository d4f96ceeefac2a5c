"""The resource server through the Flask test client, with the sandbox Clock frozen: access ends
exactly when it should, each ending with its own refusal reason, and the scope decides what a
response holds (ESPI.md 6.2). The live-server suites cover the matrix and the checklist."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from espi.checks import ATOM, ESPI, assert_valid, check_feed, check_usage_structure, parse
from sqlalchemy import select
from web.helpers import csrf, sb_of
from web.oauth_steps import BASIC, CALLBACK, consent, get_code, query, sign_in, token

from sandbox.core.models import Application, Customer
from sandbox.services import customers, third_parties

R = "/dc/bayview/espi/1_1/resource/"
BASE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


def path_of(uri: str) -> str:
    return uri.split("localhost", 1)[1]


def granted(client, scope: str = BASE, usage_points=None) -> dict:
    sign_in(client)
    if usage_points is None:
        code = get_code(client, scope=scope)
    else:
        from web.oauth_steps import authorize_url

        r = consent(client, authorize_url(scope=scope), usage_points=usage_points)
        code = query(r.headers["Location"])["code"]
    r = token(client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert r.status_code == 200, r.json
    return r.json


def bearer(t: dict | str) -> dict:
    return {"Authorization": "Bearer " + (t if isinstance(t, str) else t["access_token"])}


def refused(r, status: int, reason: str) -> None:
    assert r.status_code == status, (r.status_code, r.data[:300])
    assert r.mimetype == "application/json" and r.headers["X-Sandbox-Reason"] == reason
    body = r.get_json()
    assert body["reason"] == reason and body["error"] and body["error_description"]
    if status == 401:
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def demo(app) -> Customer:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()


def demo_app_id(app) -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Application.id).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug="bayview")
            )
        ).one()


# --- access ends exactly when it should ------------------------------------------------------


def _revoke_in_portal(app, client, t):
    html = client.get("/dc/bayview/sharing").get_data(as_text=True)
    auth_ids = re.findall(r"/sharing/(\d+)/revoke", html)
    page = client.get(f"/dc/bayview/sharing/{auth_ids[-1]}/revoke").get_data(as_text=True)
    assert client.post(f"/dc/bayview/sharing/{auth_ids[-1]}/revoke", data={"csrf_token": csrf(page)}).status_code == 303


def _delete_by_third_party(app, client, t):
    cc = token(client, grant_type="client_credentials").json["access_token"]
    assert client.delete(path_of(t["authorizationURI"]), headers=bearer(cc)).status_code == 204


def _revoke_token(app, client, t):
    r = client.post("/dc/bayview/oauth/revoke", data={"token": t["access_token"]}, headers={"Authorization": BASIC})
    assert r.status_code == 200


def _expire_by_clock(app, client, t):
    sb_of(app).clock.advance(dt.timedelta(days=731))


def _token_expires(app, client, t):
    sb_of(app).clock.advance(dt.timedelta(seconds=3601))


def _move_out(app, client, t):
    sb = sb_of(app)
    tomorrow = sb.clock.today("America/Los_Angeles") + dt.timedelta(days=1)
    customers.move_out(sb.db, sb.clock, demo(app).id, tomorrow, "America/Los_Angeles")
    sb.clock.advance(dt.timedelta(days=2))


def _block(app, client, t):
    sb = sb_of(app)
    third_parties.set_application_status(sb.db, sb.clock, demo(app).utility_id, demo_app_id(app), "block")


def _hold(app, client, t):
    sb = sb_of(app)
    third_parties.set_application_status(sb.db, sb.clock, demo(app).utility_id, demo_app_id(app), "hold")


@pytest.mark.parametrize(
    "end, reason",
    [
        (_revoke_in_portal, "authorization_revoked_by_customer"),
        (_delete_by_third_party, "authorization_revoked_by_third_party"),
        (_revoke_token, "authorization_revoked_by_third_party"),
        (_expire_by_clock, "authorization_expired"),
        (_token_expires, "token_expired"),
        (_move_out, "customer_moved_out"),
        (_block, "third_party_blocked"),
        (_hold, "third_party_on_hold"),
    ],
)
def test_each_end_of_access_turns_the_next_call_into_its_refusal(app, client, end, reason):
    t = granted(client)
    feed = path_of(t["resourceURI"])
    assert client.get(feed, headers=bearer(t), query_string={"max-results": "3"}).status_code == 200
    end(app, client, t)
    refused(client.get(feed, headers=bearer(t), query_string={"max-results": "3"}), 401, reason)
    # and the refusal comes before any lookup: the same for a resource that does not exist
    refused(client.get(R + "Subscription/nothing/UsagePoint", headers=bearer(t)), 401, reason)
    # and for a path the resource server does not have at all
    refused(client.get(R + "NoSuchResource/1", headers=bearer(t)), 401, reason)


def test_a_replayed_code_ends_the_authorization_it_minted(app, client):
    sign_in(client)
    code = get_code(client, scope=BASE)
    t = token(client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    again = token(client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    refused(client.get(path_of(t["resourceURI"]), headers=bearer(t)), 401, "authorization_revoked_code_reused")


def test_a_refresh_retires_the_old_access_token_with_its_own_reason(app, client):
    t = granted(client)
    fresh = token(client, grant_type="refresh_token", refresh_token=t["refresh_token"]).json
    refused(client.get(path_of(t["resourceURI"]), headers=bearer(t)), 401, "token_revoked")
    assert (
        client.get(path_of(fresh["resourceURI"]), headers=bearer(fresh), query_string={"max-results": "2"}).status_code
        == 200
    )


def test_after_a_move_the_data_up_to_the_moving_day_was_readable_and_no_later_day_is(app, client):
    sb = sb_of(app)
    t = granted(client)
    tz = "America/Los_Angeles"
    moving = sb.clock.today(tz) + dt.timedelta(days=3)
    customers.move_out(sb.db, sb.clock, demo(app).id, moving, tz)
    sb.clock.advance(dt.timedelta(days=2))  # before the move: the days since are published, up to the day before
    t = token(client, grant_type="refresh_token", refresh_token=t["refresh_token"]).json
    root = parse(client.get(path_of(t["resourceURI"]), headers=bearer(t)).data)
    last_start = max(
        int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}start"))
        for b in root.findall(ATOM + "entry")
        if b.find(f"{ATOM}content/{ESPI}IntervalBlock") is not None
    )
    last_day = (
        dt.datetime.fromtimestamp(last_start, dt.timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()
    )
    assert last_day == sb.clock.today(tz) - dt.timedelta(days=1) < moving
    sb.clock.advance(dt.timedelta(days=2))  # past the moving day
    refused(client.get(path_of(t["resourceURI"]), headers=bearer(t)), 401, "customer_moved_out")


# --- scope decides content -----------------------------------------------------------------


def _feed(client, t, **params):
    r = client.get(path_of(t["resourceURI"]), headers=bearer(t), query_string=params)
    assert r.status_code == 200, r.data[:300]
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = parse(r.data)
    # a filtered feed leaves out blocks its MeterReadings still link (they are served at their URLs)
    by_kind = check_feed(root, related_resolve=not params)
    check_usage_structure(by_kind, root)
    return root, by_kind, r.data


def _offer(app, scope: str) -> None:
    """Let the demo third party ask for `scope` (its registration lists it)."""
    with sb_of(app).db.transaction() as s:
        a = s.get(Application, demo_app_id(app))
        a.scopes = list(a.scopes) + [scope]


def test_without_cost_blocks_there_is_no_cost_and_no_summary(app, client):
    t = granted(client)
    _, by_kind, data = _feed(client, t)
    assert b"<espi:cost>" not in data and "UsageSummary" not in by_kind
    up = by_kind["UsagePoint"][0].find(ATOM + "link[@rel='self']").get("href")
    refused(client.get(path_of(up) + "/UsageSummary", headers=bearer(t)), 403, "missing_function_block")


def test_cost_and_summaries_come_with_their_function_blocks(app, client):
    scope = "FB=1_3_4_5_12_13_14_15_16_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
    t = granted(client, scope)
    _, by_kind, data = _feed(client, t)
    assert b"<espi:cost>" in data and by_kind["UsageSummary"]
    assert all(
        s.find(f"{ATOM}content/{ESPI}UsageSummary/{ESPI}billLastPeriod") is not None for s in by_kind["UsageSummary"]
    )


def test_history_length_bounds_how_far_back_data_goes(app, client):
    month = 30 * 86400
    scope = f"FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength={month}"
    _offer(app, scope)
    t = granted(client, scope)
    _, by_kind, _ = _feed(client, t)
    starts = [
        int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}start"))
        for b in by_kind["IntervalBlock"]
    ]
    now = sb_of(app).clock.now().timestamp()
    assert now - month - 86400 <= min(starts) and len(by_kind["IntervalBlock"]) in range(29, 33)


def test_block_duration_monthly_gives_one_block_per_month(app, client):
    scope = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
    _offer(app, scope)
    t = granted(client, scope)
    _, by_kind, _ = _feed(client, t)
    blocks = by_kind["IntervalBlock"]
    assert 12 <= len(blocks) <= 14
    durations = [int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}duration")) for b in blocks]
    assert all(d >= 27 * 86400 for d in durations[1:-1])  # whole months between the partial ends


def test_interval_duration_and_commodity_blocks_choose_the_streams(app, client):
    scope = "FB=1_3_4_10_13_14_32_39;IntervalDuration=86400;BlockDuration=daily;HistoryLength=34128000"
    _offer(app, scope)
    t = granted(client, scope)
    _, by_kind, _ = _feed(client, t)
    kinds = {
        u.findtext(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind") for u in by_kind["UsagePoint"]
    }
    assert kinds == {"1"}  # gas only
    lengths = {r.findtext(f"{ATOM}content/{ESPI}ReadingType/{ESPI}intervalLength") for r in by_kind["ReadingType"]}
    assert lengths == {"86400"}


def test_solar_export_needs_forward_and_reverse_metering(app, client):
    plain = granted(client)
    _, by_kind, _ = _feed(client, plain)
    flows = {r.findtext(f"{ATOM}content/{ESPI}ReadingType/{ESPI}flowDirection") for r in by_kind["ReadingType"]}
    assert flows == {"1"}  # delivered only: no FB 7 or 8
    scope = "FB=1_3_4_5_8_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
    _offer(app, scope)
    both = granted(client, scope)
    _, by_kind, _ = _feed(client, both)
    flows = {r.findtext(f"{ATOM}content/{ESPI}ReadingType/{ESPI}flowDirection") for r in by_kind["ReadingType"]}
    assert flows == {"1", "19"}  # the demo home has solar: energy received is shared too


def test_only_the_usage_points_ticked_at_consent_are_visible(app, client):
    sign_in(client)
    from web.oauth_steps import authorize_url

    scope = "FB=1_3_4_5_10_13_14_32_39;IntervalDuration=3600_86400;BlockDuration=daily;HistoryLength=34128000"
    _offer(app, scope)
    html = client.get(authorize_url(scope=scope)).get_data(as_text=True)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    assert len(ids) == 2
    t = granted(client, scope, usage_points=[ids[0]])
    _, by_kind, _ = _feed(client, t)
    assert len(by_kind["UsagePoint"]) == 1
    with sb_of(app).db.sessions() as s:
        from sandbox.core.models import UsagePoint

        other = s.get(UsagePoint, int(ids[1])).uuid
    sub = t["resourceURI"].rsplit("/", 1)[1]
    for path in (
        f"Subscription/{sub}/UsagePoint/{other}",
        f"Batch/Subscription/{sub}/UsagePoint/{other}",
        f"Subscription/{sub}/UsagePoint/{other}/MeterReading",
    ):
        r = client.get(R + path, headers=bearer(t))
        refused(r, 404, "not_found")
        assert other.encode() not in r.data.replace(path.encode(), b"")


def test_pii_names_only_the_usage_points_ticked_at_consent(app, client):
    """A subscription's customer data (ServiceLocation, Meters) names the shared usage point only,
    not the meter the customer left unticked."""
    sign_in(client)
    from web.oauth_steps import authorize_url

    scope = (
        "FB=1_3_4_5_10_13_14_32_39_46_51_55_56_58_60;IntervalDuration=3600_86400;BlockDuration=daily;"
        "HistoryLength=34128000"
    )
    _offer(app, scope)
    html = client.get(authorize_url(scope=scope)).get_data(as_text=True)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    assert len(ids) == 2
    t = granted(client, scope, usage_points=[ids[0]])
    with sb_of(app).db.sessions() as s:
        from sandbox.core.models import UsagePoint

        shared, other = (s.get(UsagePoint, int(i)) for i in ids)
        shared_uuid, other_uuid, other_serial = shared.uuid, other.uuid, other.meter_serial
    r = client.get(path_of(t["customerResourceURI"]), headers=bearer(t))
    assert r.status_code == 200, r.data[:300]
    assert_valid(parse(r.data))
    assert shared_uuid.encode() in r.data
    assert other_uuid.encode() not in r.data and other_serial.encode() not in r.data
    assert r.data.count(b'cust-entry/Meter"') == 2  # the one Meter's self link and the location's link to it


def test_pii_needs_a_customer_data_block(app, client):
    t = granted(client)
    with sb_of(app).db.sessions() as s:
        rc = s.get(Customer, demo(app).id).uuid
    for path in (f"Batch/RetailCustomer/{rc}", f"RetailCustomer/{rc}/Customer"):
        refused(client.get(R + path, headers=bearer(t)), 403, "missing_function_block")


def test_entries_and_member_documents_validate(app, client):
    scope = "FB=1_3_4_5_12_13_14_15_16_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
    t = granted(client, scope)
    root, by_kind, _ = _feed(client, t, **{"published-min": "2025-05-01T07:00:00Z"})
    for kind in ("UsagePoint", "MeterReading", "IntervalBlock", "UsageSummary", "ReadingType", "LocalTimeParameters"):
        href = by_kind[kind][-1].find(ATOM + "link[@rel='self']").get("href")
        r = client.get(path_of(href), headers=bearer(t))
        assert r.status_code == 200, (kind, r.data[:200])
        doc = parse(r.data)
        assert doc.tag == ATOM + "entry" and doc.find(ATOM + "link[@rel='self']").get("href") == href
        assert_valid(doc)
        up = doc.find(ATOM + "link[@rel='up']").get("href")
        collection = client.get(path_of(up), headers=bearer(t))
        assert collection.status_code == 200, (kind, up)
        assert_valid(parse(collection.data))


@pytest.mark.parametrize("client_id", ["upload-client", "data-custodian"])
def test_staff_actions_do_not_reach_the_utilitys_own_clients(app, client_id):
    """Block, hold and approve are for third parties: the utility's upload and admin clients are not
    found there (and keep working)."""
    from sandbox.core.errors import NotFound
    from sandbox.services import onboarding

    sb = sb_of(app)
    with sb.db.sessions() as s:
        own = s.scalars(
            select(Application).where(Application.client_id == client_id, Application.utility.has(slug="bayview"))
        ).one()
        own_id, utility_id, status = own.id, own.utility_id, own.status
    for action in ("block", "hold"):
        with pytest.raises(NotFound):
            third_parties.set_application_status(sb.db, sb.clock, utility_id, own_id, action)
    with pytest.raises(NotFound):
        onboarding.approve_application(
            sb.db, sb.clock, utility_id, own_id, sb.require_world().utility("bayview").profile
        )
    with sb.db.sessions() as s:
        assert s.get(Application, own_id).status == status


def _client_token(client, credentials: bytes) -> str:
    import base64

    r = token(client, auth="Basic " + base64.b64encode(credentials).decode(), grant_type="client_credentials")
    assert r.status_code == 200, r.json
    return r.json["access_token"]


def test_head_is_answered_as_the_get_it_is(app, client):
    """RFC 9110 9.3.2: HEAD gets GET's status and headers, no body, for every token the GET allows."""
    t = granted(client)
    cc = _client_token(client, b"demo-third-party:demo-secret")
    for path, who in (
        (path_of(t["resourceURI"]), t),
        (R + "ReadServiceStatus", cc),
        (path_of(t["authorizationURI"]), cc),
    ):
        got, head = client.get(path, headers=bearer(who)), client.head(path, headers=bearer(who))
        assert got.status_code == head.status_code == 200, (path, head.status_code, head.data[:200])
        assert head.data == b"" and head.headers["Content-Type"] == got.headers["Content-Type"]
    r = client.head(R + "ReadServiceStatus", headers=bearer("nope"))  # a refusal too, without its body
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "unknown_token" and r.data == b""


def test_a_method_no_resource_offers_is_answered_by_the_matrix(app, client):
    """PATCH is granted nowhere: the data custodian's admin client gets 405 with the methods the
    resource answers, another token 403 naming them, never Werkzeug's list of route methods."""
    cc = _client_token(client, b"demo-third-party:demo-secret")
    admin = _client_token(client, b"data-custodian:data-custodian-secret")
    r = client.patch(R + "ReadServiceStatus", headers=bearer(admin))
    refused(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    r = client.patch(R + "ReadServiceStatus", headers=bearer(cc))
    refused(r, 403, "wrong_token_kind")
    assert "it answers GET" in r.get_json()["error_description"]
    with sb_of(app).db.sessions() as s:
        demo_uuid = s.get(Application, demo_app_id(app)).uuid
    r = client.patch(R + f"ApplicationInformation/{demo_uuid}", headers=bearer(admin))
    refused(r, 405, "method_not_allowed")
    assert "POST" not in r.headers["Allow"] and "PATCH" not in r.headers["Allow"]
