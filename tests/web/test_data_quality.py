"""A customer's data-quality knobs through the control API: what the seed files give, PUT and GET,
and every document that carries readings (the resource server, with its kept block text, and
Download My Data) following at once, for that customer only. Refusals name the field and change
nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_KEY
from espi.checks import ATOM, ESPI, assert_valid, parse
from sqlalchemy import select
from web.helpers import demo_consent, sb_of, token_from

from sandbox.core.models import Customer, UsagePoint
from sandbox.services import dmd

ROOT = Path(__file__).resolve().parents[2]
H = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
TZ = ZoneInfo("America/Los_Angeles")  # bayview's
WEEK = (dt.date(2025, 7, 1), dt.date(2025, 7, 8))
OUTAGE = dt.date(2025, 7, 4)
HARSH = {
    "missing_share": 0.1,
    "estimated_share": 0.2,
    "zero_share": 0.1,
    "negative_share": 0.2,
    "outage_days": [OUTAGE.isoformat()],
}
KNOBS = ("missing_share", "estimated_share", "zero_share", "negative_share", "outage_days")
token = token_from("/dc/bayview/")


def path(slug: str, username: str) -> str:
    return f"/sandbox-api/utilities/{slug}/customers/{username}/data-quality"


def put(client, body, slug="bayview", username="demo"):
    return client.put(path(slug, username), headers=H, json=body)


def get(client, slug="bayview", username="demo"):
    r = client.get(path(slug, username), headers=H)
    assert r.status_code == 200, r.data[:300]
    return r.get_json()


def world_defaults(app) -> dict:
    w = sb_of(app).require_world()
    return {
        "missing_share": w.missing_share,
        "estimated_share": w.estimated_share,
        "zero_share": 0.0,
        "negative_share": 0.0,
        "outage_days": [],
    }


def readings(doc: bytes) -> list[tuple[str, int, int, int]]:
    """(MeterReading, start, value, quality) of every IntervalReading, read from the XML."""
    root = parse(doc)
    assert_valid(root)
    out = []
    for entry in root.iter(ATOM + "entry"):
        block = entry.find(f"{ATOM}content/{ESPI}IntervalBlock")
        if block is None:
            continue
        mr = entry.find(ATOM + "link[@rel='self']").get("href").rsplit("/IntervalBlock", 1)[0]
        for r in block.iter(ESPI + "IntervalReading"):
            q = r.findtext(f"{ESPI}ReadingQuality/{ESPI}quality")
            out.append(
                (
                    mr,
                    int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")),
                    int(r.findtext(ESPI + "value")),
                    int(q) if q is not None else 0,
                )
            )
    return out


def local_day(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, TZ).date()


def subscription(client, t: dict) -> bytes:
    """The whole subscription, unfiltered: the resource server writes its blocks from kept text when
    it wrote them before (Sandbox.rendered)."""
    r = client.get(t["resourceURI"].split("localhost", 1)[1], headers={"Authorization": "Bearer " + t["access_token"]})
    assert r.status_code == 200, r.data[:300]
    return r.data


def download(app, username="demo", slug="bayview") -> bytes:
    """Download My Data of the customer's usage points over WEEK, as the portal and CLI make it."""
    sb = sb_of(app)
    with sb.db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.username == username, Customer.utility.has(slug=slug))).one()
        cid = c.id
    return b"".join(dmd.usage_document(sb, cid, None, *WEEK, True, "http://localhost/"))


def authorize(client) -> dict:
    return demo_consent(client, ADMIN_KEY, SCOPE)


def stored(app, slug="bayview", username="demo"):
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Customer.data_quality).where(Customer.username == username, Customer.utility.has(slug=slug))
        ).one()


def test_the_seed_files_tables_are_applied_at_seed(app, client):
    """Each customer a utility's [[data_quality]] table names (read here from the TOML itself) has
    those knobs; every other customer has none of its own (the world's)."""
    seeded: dict[tuple[str, int], dict] = {}
    for f in sorted((ROOT / "seed_data" / "utilities").glob("*.toml")):
        data = tomllib.loads(f.read_text())
        for table in data.get("data_quality", []):
            knobs = {k: v for k, v in table.items() if k != "customers"}
            for n in table["customers"]:
                seeded[(data["slug"], n)] = knobs
    numbered: dict[str, int] = {}  # the named test identities: -1, -2... in file order at their utility
    for ident in tomllib.loads((ROOT / "seed_data" / "identities.toml").read_text())["identity"]:
        numbered[ident["utility"]] = numbered.get(ident["utility"], 0) - 1
        if "data_quality" in ident:
            seeded[(ident["utility"], numbered[ident["utility"]])] = ident["data_quality"]
    assert seeded
    with sb_of(app).db.sessions() as s:
        rows = s.execute(select(Customer.number, Customer.username, Customer.data_quality, Customer.utility_id)).all()
        slugs = {c.utility_id: c.utility.slug for c in s.scalars(select(Customer))}
    applied = 0
    for number, username, knobs, utility_id in rows:
        want = seeded.get((slugs[utility_id], number))
        assert knobs == want, (slugs[utility_id], number)
        if want:  # the control API shows them, the others left at the world's
            applied += 1
            answer = get(client, slugs[utility_id], username)
            assert {k: answer[k] for k in want} == {
                k: (sorted(v) if k == "outage_days" else v) for k, v in want.items()
            }
            assert {k: answer[k] for k in KNOBS if k not in want} == {
                k: v for k, v in world_defaults(app).items() if k not in want
            }
    assert applied >= 1  # the small test world has at least one of the customers named


def test_put_then_get_and_every_document_follows_at_once(app, client):
    assert get(client) == {"username": "demo", **world_defaults(app)}
    t = authorize(client)
    before_rs = subscription(client, t)  # the resource server keeps the blocks' text from here
    assert subscription(client, t) == before_rs and sb_of(app).rendered.size > 0
    before_dmd = download(app)
    for doc in (before_rs, before_dmd):
        assert all(v >= 0 for _, _, v, _ in readings(doc)) and OUTAGE in {local_day(t) for _, t, _, _ in readings(doc)}

    r = put(client, HARSH)
    assert r.status_code == 200, r.data[:300]
    assert r.get_json() == get(client) == {"username": "demo", **HARSH}

    for doc, before in ((subscription(client, t), before_rs), (download(app), before_dmd)):
        now, plain = readings(doc), readings(before)
        days = Counter(local_day(t) for _, t, _, _ in now)
        assert OUTAGE not in days and set(days) == {local_day(t) for _, t, _, _ in plain} - {OUTAGE}
        expected = {(mr, t): v for mr, t, v, _ in plain if local_day(t) != OUTAGE}
        assert 0.8 * len(expected) < len(now) < 0.97 * len(expected)  # about a tenth missing besides
        assert sum(v < 0 for _, _, v, _ in now) > 0.1 * len(now)
        assert sum(q == 8 for _, _, _, q in now) > 0.1 * len(now)
        assert any(v == 0 and expected[(mr, t)] > 0 for mr, t, v, _ in now)
        # what is still there and untouched is the reading it was
        assert all(expected[(mr, t)] == v for mr, t, v, _ in now if v > 0)

    r = put(client, {})  # back to the world's
    assert r.status_code == 200 and r.get_json() == {"username": "demo", **world_defaults(app)}
    assert stored(app) is None
    assert subscription(client, t) == before_rs and download(app) == before_dmd


def test_knobs_left_out_are_the_worlds(app, client):
    r = put(client, {"zero_share": 0.25})
    assert r.status_code == 200
    assert r.get_json() == {"username": "demo", **world_defaults(app), "zero_share": 0.25}
    assert stored(app) == {"zero_share": 0.25}
    r = put(client, {"outage_days": ["2025-07-04", "2025-07-02", "2025-07-04"]})  # replaces, not merges
    assert r.get_json()["outage_days"] == ["2025-07-02", "2025-07-04"] and r.get_json()["zero_share"] == 0.0


def test_one_customers_knobs_never_change_anothers_readings(app, client):
    others = [("bayview", "demo"), ("lakeshore", "demo")]
    with sb_of(app).db.sessions() as s:
        numbered = s.scalars(select(Customer).where(Customer.number == 1, Customer.utility.has(slug="bayview"))).one()
        others.append(("bayview", numbered.username))
    before = {(slug, name): download(app, name, slug) for slug, name in others}
    target = others.pop()[1]
    assert put(client, HARSH, username=target).status_code == 200
    assert download(app, target) != before[("bayview", target)]
    for slug, name in others:
        assert download(app, name, slug) == before[(slug, name)], (slug, name)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"missing_share": 0.7}, "missing_share"),
        ({"estimated_share": -0.01}, "estimated_share"),
        ({"zero_share": "0.1"}, "zero_share"),
        ({"negative_share": None}, "negative_share"),
        ({"outage_days": "2025-07-04"}, "outage_days"),
        ({"outage_days": ["2025-07-04", "2025-07-32"]}, "outage_days.1"),
        ({"outage_days": ["2025-7-4"]}, "outage_days.0"),
        ({"zero_share": 0.1, "dropout_share": 0.1}, "dropout_share"),
        ([0.1], "body"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field_and_changes_nothing(app, client, body, field):
    assert put(client, {"zero_share": 0.05}).status_code == 200
    before = get(client)
    r = put(client, body)
    assert r.status_code == 400, r.data[:300]
    answer = r.get_json()
    assert answer["error"] == "invalid_request" and answer["field"] == field, answer
    assert get(client) == before and stored(app) == {"zero_share": 0.05}


def test_unknown_customer_or_utility_is_404(client):
    for slug, username, field in (("bayview", "nobody", "username"), ("atlantis", "demo", "slug")):
        for r in (client.get(path(slug, username), headers=H), put(client, {"zero_share": 0.1}, slug, username)):
            assert r.status_code == 404 and r.get_json()["field"] == field, r.data[:300]


def test_the_portals_csv_follows_the_knobs(app, client):
    """The portal's own numbers (its CSV, like its charts) come from the same readings as the XML."""
    client.post(
        "/dc/bayview/login",
        data={"csrf_token": token(client), "method": "password", "username": "demo", "password": "demo"},
    )
    with sb_of(app).db.sessions() as s:
        up = s.scalars(
            select(UsagePoint)
            .join(Customer)
            .where(Customer.username == "demo", UsagePoint.number == 0, Customer.utility.has(slug="bayview"))
        ).one()

    def csv_rows() -> list[dict]:
        form = {
            "csrf_token": token(client, "/dc/bayview/download"),
            "period": "custom",
            "cost": "1",
            "format": "csv",
            "usage_point": str(up.id),
            "start": WEEK[0].isoformat(),
            "end": (WEEK[1] - dt.timedelta(days=1)).isoformat(),
        }
        r = client.post("/dc/bayview/download", data=form)
        assert r.status_code == 200, r.data[:300]
        return list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))

    plain = csv_rows()
    on_the_day = [row for row in plain if row["start"].startswith(OUTAGE.isoformat())]
    assert len(on_the_day) >= 24
    assert put(client, {"outage_days": [OUTAGE.isoformat()]}).status_code == 200
    assert csv_rows() == [row for row in plain if row not in on_the_day]


def test_the_portal_shows_a_customer_with_imperfect_data(app, client):
    """The seeded prairie customer with negative and zero readings and outage days: its pages draw."""
    with sb_of(app).db.sessions() as s:
        c = s.scalars(
            select(Customer).where(Customer.data_quality.is_not(None), Customer.utility.has(slug="prairie"))
        ).first()
        assert c is not None
        username = c.username
    password = sb_of(app).require_world().customer_password
    r = client.post(
        "/dc/prairie/login",
        data={
            "csrf_token": token(client, "/dc/prairie/"),
            "method": "password",
            "username": username,
            "password": password,
        },
    )
    assert r.status_code == 303, r.data[:300]
    r = client.get("/dc/prairie/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'role="img"' in html and 'id="bills"' in html  # charts and bills, not the login
