"""The named test identities (seed_data/identities.toml), each through the resource server as a third
party meets it: consent through the control API, then the ESPI feeds and the token's answers. Each
test reads the identity's behaviour from the catalogue file itself, not from the code under test."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_KEY, FIXED_NOW
from espi.checks import ATOM, ESPI, assert_valid, blocks_of, check_feed, parse, reading_type_of, readings_of
from sqlalchemy import select
from web.helpers import offered, sb_of
from web.test_portal import login, login_account

from sandbox.core.models import Authorization, Customer
from sandbox.espi.atom import FeedWriter
from sandbox.feeds.management import authorization_entry
from sandbox.services import authorizations
from sandbox.services.authorizations import AuthState

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = {i["username"]: i for i in tomllib.loads((ROOT / "seed_data" / "identities.toml").read_text())["identity"]}
H = {"Authorization": f"Bearer {ADMIN_KEY}"}
TZ = ZoneInfo("America/St_Johns")
DELIVERED, NET, RECEIVED = 1, 4, 19


def consent(client, world, username: str) -> dict:
    ident = CATALOGUE[username]
    r = client.post(
        "/sandbox-api/authorizations",
        headers=H,
        json={
            "utility": ident["utility"],
            "customer": username,
            "client_id": "demo-third-party",
            "scope": offered(world, ident["utility"])[0],
        },
    )
    assert r.status_code == 200, r.data[:300]
    return r.get_json()


def batch(client, t: dict, first: dt.date, end: dt.date):
    """The subscription's Batch for local days first <= day < end: (root, its feed entries by kind)."""
    lo, hi = (
        dt.datetime.combine(d, dt.time(), TZ).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for d in (first, end)
    )
    r = client.get(
        f"/dc/harbour/espi/1_1/resource/Batch/Subscription/{t['subscription_id']}",
        query_string={"published-min": lo, "published-max": hi},
        headers={"Authorization": f"Bearer {t['access_token']}"},
    )
    assert r.status_code == 200, r.data[:300]
    root = parse(r.data)
    assert_valid(root)
    return root, check_feed(root, related_resolve=False)  # a window's entries link to days outside it


def readings_by_flow(root, by_kind) -> dict[int, list[list[dict]]]:
    """Each MeterReading's readings (a list per meter reading), by its ReadingType's flowDirection."""
    out: dict[int, list[list[dict]]] = defaultdict(list)
    for mr in by_kind["MeterReading"]:
        rt = reading_type_of(mr, root)
        if rt.get("commodity") == 1:  # electricity
            out[rt["flowDirection"]].append([r for b in blocks_of(mr, by_kind) for r in readings_of(b)])
    return out


def stored_state(app, t: dict) -> tuple[AuthState, dt.datetime, str | None]:
    """The authorization's state now, when it ends (naive UTC) and why, as the portal reads them."""
    sb = sb_of(app)
    with sb.db.sessions() as s:
        auth = s.scalars(select(Authorization).where(Authorization.uuid == t["authorization_id"])).one()
        return (*authorizations.state(auth, sb.clock.now()), auth.status_reason)


def local_day(start: int) -> dt.date:
    return dt.datetime.fromtimestamp(start, TZ).date()


def test_the_catalogue_is_at_the_half_hour_utility_and_every_identity_can_sign_in(app):
    with sb_of(app).db.sessions() as s:
        found = {
            c.username: c
            for c in s.scalars(select(Customer).where(Customer.utility.has(slug="harbour"), Customer.number < 0))
        }
    assert set(found) == set(CATALOGUE) and all(c.is_test for c in found.values())
    for username, c in found.items():
        r = login(app.test_client(), "harbour", username, "password")
        assert r.status_code == 303 and "/login" not in r.headers["Location"], username
        r = login_account(app.test_client(), c.account_number, c.postal_code, "harbour")
        assert r.status_code == 303 and "/login" not in r.headers["Location"], username
    offset = dt.datetime(2025, 1, 15, tzinfo=TZ).utcoffset()
    assert offset == -dt.timedelta(hours=3, minutes=30)


def test_the_net_exporter_sends_more_than_it_takes_and_nets_below_zero(client, world):
    t = consent(client, world, "net.exporter")
    root, by_kind = batch(client, t, dt.date(2025, 6, 1), dt.date(2025, 7, 1))
    flows = readings_by_flow(root, by_kind)
    assert set(flows) == {DELIVERED, NET, RECEIVED}
    delivered, received, net = (sum(r["value"] for r in flows[f][0]) for f in (DELIVERED, RECEIVED, NET))
    assert received > delivered and net == delivered - received < 0
    daily: dict[dt.date, int] = defaultdict(int)
    for r in flows[NET][0]:
        daily[local_day(r["start"])] += r["value"]
    assert len(daily) == 30 and sum(v < 0 for v in daily.values()) > 15
    assert {r["duration"] for r in flows[DELIVERED][0]} == {900}  # the utility's 15-minute readings


def test_three_meters_at_one_address_each_have_their_own_readings(app, client, world):
    t = consent(client, world, "three.meters")
    root, by_kind = batch(client, t, dt.date(2025, 7, 1), dt.date(2025, 7, 2))
    electric = [
        up for up in by_kind["UsagePoint"] if up.findtext(".//{*}ServiceCategory/{*}kind") == "0"
    ]  # ServiceKind 0: electricity
    assert len(electric) == CATALOGUE["three.meters"]["meters"] == 3
    series = readings_by_flow(root, by_kind)[DELIVERED]
    assert len(series) == 3 and all(len(s) == 96 for s in series)
    assert len({tuple(r["value"] for r in s) for s in series}) == 3  # three meters, three sets of values
    with sb_of(app).db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.username == "three.meters")).one()
        serials = {up.meter_serial for up in c.usage_points if up.commodity == "electricity"}
    assert len(serials) == 3


def test_gaps_and_outage_days_leave_their_intervals_out(client, world):
    days = [dt.date.fromisoformat(d) for d in CATALOGUE["gaps.outages"]["data_quality"]["outage_days"]]
    outage = max(d for d in days if d < FIXED_NOW.date())  # the latest in the test clock's history
    t = consent(client, world, "gaps.outages")
    first = outage - dt.timedelta(days=7)
    root, by_kind = batch(client, t, first, outage + dt.timedelta(days=7))
    (readings,) = readings_by_flow(root, by_kind)[DELIVERED]
    per_day: dict[dt.date, int] = defaultdict(int)
    for r in readings:
        per_day[local_day(r["start"])] += 1
    assert outage not in per_day and len(per_day) == 13
    share = 1 - sum(per_day.values()) / (13 * 96)
    missing = CATALOGUE["gaps.outages"]["data_quality"]["missing_share"]
    assert missing / 2 < share < missing * 2, share


@pytest.mark.parametrize(
    ("username", "check"),
    [
        (
            "estimated.reads",
            lambda rs, dq: abs(sum(r.get("quality") == 8 for r in rs) / len(rs) - dq["estimated_share"]) < 0.05,
        ),
        ("faulty.meter", lambda rs, dq: 0 < sum(r["value"] == 0 for r in rs) / len(rs) < dq["zero_share"] * 2),
        ("faulty.meter", lambda rs, dq: 0 < sum(r["value"] < 0 for r in rs) / len(rs) < dq["negative_share"] * 2),
    ],
)
def test_a_meters_quality_shows_in_its_readings(client, world, username, check):
    t = consent(client, world, username)
    root, by_kind = batch(client, t, dt.date(2025, 6, 1), dt.date(2025, 7, 1))
    (readings,) = readings_by_flow(root, by_kind)[DELIVERED]
    assert len(readings) > 2000 and check(readings, CATALOGUE[username]["data_quality"])


def test_the_mover_s_authorization_ends_on_the_moving_day(app, client, world):
    days = CATALOGUE["moving.out"]["moves_out_in_days"]
    moving_day = FIXED_NOW.astimezone(TZ).date() + dt.timedelta(days=days)  # the world was seeded at FIXED_NOW
    t = consent(client, world, "moving.out")
    ends = dt.datetime.combine(moving_day, dt.time(), TZ).astimezone(dt.timezone.utc)
    assert stored_state(app, t) == (AuthState.ACTIVE, ends.replace(tzinfo=None), "moved out")
    bearer = {"Authorization": f"Bearer {t['access_token']}"}
    path = f"/dc/harbour/espi/1_1/resource/Subscription/{t['subscription_id']}/UsagePoint"
    assert client.get(path, headers=bearer).status_code == 200
    sb_of(app).clock.advance(ends - FIXED_NOW)
    r = client.get(path, headers=bearer)
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "customer_moved_out"


def test_the_quick_revoker_revokes_a_minute_after_consenting(app, client, world):
    after = CATALOGUE["quick.revoker"]["revokes_after_seconds"]
    t = consent(client, world, "quick.revoker")
    bearer = {"Authorization": f"Bearer {t['access_token']}"}
    path = f"/dc/harbour/espi/1_1/resource/Subscription/{t['subscription_id']}/UsagePoint"
    sb_of(app).clock.advance(after - 1)
    assert client.get(path, headers=bearer).status_code == 200
    sb_of(app).clock.advance(1)
    r = client.get(path, headers=bearer)
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "authorization_revoked_by_customer"
    revoked = (FIXED_NOW + dt.timedelta(seconds=after)).replace(tzinfo=None)
    assert stored_state(app, t) == (AuthState.REVOKED, revoked, "revoked by the customer")
    with sb_of(app).db.sessions() as s:  # the ESPI Authorization resource says so too (status 0: revoked)
        auth = s.scalars(select(Authorization).where(Authorization.uuid == t["authorization_id"])).one()
        entry = FeedWriter().entry_document(
            authorization_entry(auth, "http://localhost", "harbour", sb_of(app).clock.now())
        )
    assert parse(entry).findtext(f"{ATOM}content/{ESPI}Authorization/{ESPI}status") == "0"


def test_the_readme_lists_every_identity_with_what_it_shows():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Named test identities", 1)[1].split("\n## ", 1)[0]
    for username, ident in CATALOGUE.items():
        assert f"| `{username}` | `{ident['utility']}` | {ident['summary']} |" in section
