"""Well-formed extremes against the real run.py (issue 21, item 9): ids of 2**63 and beyond in the
staff view's and developer portal's routes, the calendar's edge dates in ESPI query parameters and
form fields, a lone surrogate in a registration, NUL characters in every part of a request (SQLite,
and PostgreSQL, which refuses to store them), and the CSV Download My Data of an imported usage point,
written to its end by a real server (the stream used to stop mid-file). Each answer is a 4xx naming
the field, or a correct answer; never a 5xx; nothing is stored."""

from __future__ import annotations

import base64
import csv
import io
import re
import sqlite3

import pytest
import requests
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox.testing.client import SandboxClient

from ..server import LiveServer, small_world
from ..tokens import DEMO, csrf, signed_in

pytestmark = pytest.mark.live
KEY = "extremes-key"
EDGES = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
WIDEST = {"published-min": EDGES[0], "published-max": EDGES[1], "updated-min": EDGES[0], "updated-max": EDGES[1]}
UP = re.compile(r'name="usage_point" value="(\d+)"')


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(the server's URL, its SQLite file)."""
    folder = tmp_path_factory.mktemp("extremes")
    with small_world(folder, KEY) as server:
        yield server.url, folder / "world.db"


def staff(base: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/dc/bayview/admin/", timeout=30).text
    r = s.post(
        f"{base}/dc/bayview/admin/login",
        data={"csrf_token": csrf(page), "username": "staff", "password": "staff"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303
    return s


def count(db, table: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def refused(r: requests.Response, field: str, what: str = "holds a NUL character") -> None:
    assert r.status_code == 400, (r.status_code, r.text[:300])
    body = r.json()
    assert body.get("field", field) == field and body["error_description"].startswith(f"{field}: {what}"), body


def test_ids_beyond_int64_match_no_route(live):
    base, _ = live
    admin = staff(base)
    dev = requests.Session()
    page = dev.get(f"{base}/dc/bayview/developer/", timeout=30).text
    assert (
        dev.post(
            f"{base}/dc/bayview/developer/signup",
            data={"csrf_token": csrf(page), "name": "Ann", "email": "ann@example.com", "password": "correct horse"},
            allow_redirects=False,
            timeout=30,
        ).status_code
        == 303
    )
    for big in (2**63, 2**64):
        assert admin.get(f"{base}/dc/bayview/admin/customers/{big}", timeout=30).status_code == 404
        assert dev.get(f"{base}/dc/bayview/developer/apps/{big}", timeout=30).status_code == 404
        assert (
            dev.post(
                f"{base}/dc/bayview/developer/apps/{big}/rotate", data={"csrf_token": csrf(page)}, timeout=30
            ).status_code
            == 404
        )


def test_edge_dates_in_espi_queries_answer_as_ordinary_dates_do(live):
    base, _ = live
    t = SandboxClient(base, KEY).authorize("demo")
    headers = {"Authorization": f"Bearer {t['access_token']}"}

    def ids(query: dict) -> list[str]:
        r = requests.get(t["resourceURI"], params=query, headers=headers, timeout=60)
        assert r.status_code == 200 and r.content.rstrip().endswith(b"</feed>"), (query, r.status_code)
        return re.findall(r"<entry><id>([^<]+)</id>", r.text)

    whole = ids({})
    assert len(whole) > 100 and ids(WIDEST) == whole
    for name in WIDEST:
        assert ids({name: EDGES[0]}) == ids({name: "1990-01-01T00:00:00Z"})
        assert ids({name: EDGES[1]}) == ids({name: "2100-01-01T00:00:00Z"})


def test_edge_days_in_download_my_data_are_refused_naming_the_field(live):
    base, _ = live
    customer = signed_in(base, "bayview")
    page = customer.get(f"{base}/dc/bayview/download", timeout=30).text
    for fmt in ("xml", "csv"):
        r = customer.post(
            f"{base}/dc/bayview/download",
            data={
                "csrf_token": csrf(page),
                "usage_point": UP.findall(page)[:1],
                "format": fmt,
                "period": "custom",
                "start": "2025-01-01",
                "end": "9999-12-31",
            },
            timeout=30,
        )
        assert r.status_code == 400 and "choose an earlier end date" in r.text


def test_a_lone_surrogate_in_a_registration_is_refused_and_nothing_stored(live):
    base, db = live
    before = count(db, "application")
    body = b'{"client_name": "Grid \\ud800 Graph", "redirect_uris": ["https://gg.example.com/cb"]}'
    r = requests.post(
        f"{base}/dc/bayview/espi/1_1/register",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    refused(r, "client_name", "holds a lone surrogate")
    assert count(db, "application") == before


def _nul_attacks(base: str) -> None:
    """NUL characters in a query string, a path segment, a form, a JSON body and client credentials."""
    admin = {"Authorization": f"Bearer {KEY}"}
    refused(requests.get(f"{base}/sandbox-api/requests?client_id=a%00b", headers=admin, timeout=30), "client_id")
    refused(
        requests.get(f"{base}/sandbox-api/utilities/bayview/customers/de%00mo/data-quality", headers=admin, timeout=30),
        "username",
    )
    refused(
        requests.post(
            f"{base}/dc/bayview/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "demo\x00", "client_secret": "x"},
            timeout=30,
        ),
        "client_id",
    )
    refused(
        requests.post(
            f"{base}/sandbox-api/authorizations",
            headers=admin,
            timeout=30,
            json={"utility": "bayview", "customer": "demo\x00", "client_id": DEMO[0], "scope": "FB=1_3_4_5_13_14_39"},
        ),
        "customer",
    )
    basic = "Basic " + base64.b64encode(b"demo-third-party%00:demo-secret").decode()
    refused(
        requests.post(
            f"{base}/dc/bayview/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic},
            timeout=30,
        ),
        "Authorization",
    )
    refused(requests.get(f"{base}/dc/bayview/espi/1_1/resource/ReadServiceStatus/x%00y", timeout=30), "path")
    # the refused call is in the request log, and the calls after it too
    assert requests.get(f"{base}/dc/bayview/espi/1_1/resource/ReadServiceStatus", timeout=30).status_code == 401
    calls = requests.get(f"{base}/sandbox-api/requests?utility=bayview", headers=admin, timeout=30).json()["requests"]
    assert {
        "/dc/bayview/espi/1_1/resource/ReadServiceStatus/x%00y",
        "/dc/bayview/espi/1_1/resource/ReadServiceStatus",
    } <= {c["path"] for c in calls}


def test_nul_characters_are_refused_naming_the_field(live):
    base, db = live
    before = count(db, "authorization")
    _nul_attacks(base)
    assert count(db, "authorization") == before


def test_nul_characters_are_refused_on_postgresql(postgres_url):  # noqa: F811
    with LiveServer(
        "--database", postgres_url, "--customers", "1", "--reset", "--no-demo-app", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as server:
        _nul_attacks(server.url)
        assert requests.get(f"{server.url}/dc/bayview/admin/customers/{2**63}", timeout=30).status_code == 404


def test_the_csv_of_an_imported_usage_point_is_written_to_its_end(live):
    base, _ = live
    customer = signed_in(base, "bayview")
    page = customer.get(f"{base}/dc/bayview/download", timeout=30).text
    own = UP.findall(page)
    xml = customer.post(
        f"{base}/dc/bayview/download",
        data={"csrf_token": csrf(page), "usage_point": own, "format": "xml", "period": "last_month"},
        timeout=60,
    )
    assert xml.status_code == 200 and xml.content.rstrip().endswith(b"</feed>")
    # staff import the file as the customer's own data (new usage points)
    admin = staff(base)
    home = admin.get(f"{base}/dc/bayview/admin/", timeout=30).text
    customer_id = re.search(r'href="/dc/bayview/admin/customers/(\d+)"', home).group(1)
    page = admin.get(f"{base}/dc/bayview/admin/customers/{customer_id}", timeout=30).text
    r = admin.post(
        f"{base}/dc/bayview/admin/customers/{customer_id}/import",
        data={"csrf_token": csrf(page)},
        files={"file": ("mine.xml", xml.content, "application/xml")},
        timeout=120,
    )
    assert r.status_code == 200 and "Imported" in r.text, r.text[:300]
    page = customer.get(f"{base}/dc/bayview/download", timeout=30).text
    imported = [u for u in UP.findall(page) if u not in own]
    assert imported
    r = customer.post(
        f"{base}/dc/bayview/download",
        data={"csrf_token": csrf(page), "usage_point": imported, "format": "csv", "period": "last_month", "cost": "1"},
        timeout=120,
    )
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][0] == "usage_point" and all(len(row) == 12 for row in rows)
    assert len(rows) - 1 == xml.content.count(b"<espi:IntervalReading>")  # every reading of the file
