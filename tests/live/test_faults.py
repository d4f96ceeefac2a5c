"""Fault scenarios against the real run.py: each gives exactly the status, headers and body a
client sees, breaks the one check it names, and leaks into no call that did not ask for it."""

from __future__ import annotations

import http.client
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests
from espi.checks import ATOM, ESPI, espi_schema, parse

from sandbox.testing.client import SandboxClient

from .server import LiveServer, small_world

pytestmark = pytest.mark.live
KEY = "faults-key"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with small_world(tmp_path_factory.mktemp("faults"), KEY) as s:
        yield s


@pytest.fixture(scope="module")
def control(live):
    c = SandboxClient(live.url, KEY)
    c.freeze()
    return c


@pytest.fixture(scope="module")
def tokens(control):
    return control.authorize("demo", SCOPE)


def get(tokens: dict, fault: str | None = None, uri: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    if fault:
        headers["X-Sandbox-Fault"] = fault
    return requests.get(uri or tokens["resourceURI"], headers=headers, timeout=60)


def entries(data: bytes, kind: str) -> list:
    return [e for e in parse(data).iter(ATOM + "entry") if e.find(f"{ATOM}content/{ESPI}{kind}") is not None]


def starts(data: bytes) -> list[int]:
    return [int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")) for r in parse(data).iter(ESPI + "IntervalReading")]


@pytest.fixture(scope="module")
def normal(tokens) -> bytes:
    r = get(tokens)
    assert r.status_code == 200 and "X-Sandbox-Fault-Applied" not in r.headers
    return r.content


def test_server_error_and_rate_limited_say_when_to_retry(tokens, normal):
    for fault, status, error, retry in (
        ("server-error", 503, "temporarily_unavailable", "2"),
        ("server-error:500", 500, "server_error", "2"),
        ("rate-limited", 429, "too_many_requests", "1"),
    ):
        r = get(tokens, fault)
        assert (r.status_code, r.headers["Retry-After"], r.json()["error"]) == (status, retry, error)
        assert r.headers["X-Sandbox-Fault-Applied"] == fault
    assert get(tokens).content == normal  # the next call, asking nothing, is as ever


def test_slow_answers_late_and_whole(tokens, normal):
    import time

    t0 = time.monotonic()
    r = get(tokens, "slow:1.5")
    assert time.monotonic() - t0 >= 1.5 and r.status_code == 200 and r.content == normal


def test_a_truncated_body_is_a_short_read(live, tokens):
    parts = urlsplit(tokens["resourceURI"])
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    c.request(
        "GET",
        parts.path,
        headers={"Authorization": f"Bearer {tokens['access_token']}", "X-Sandbox-Fault": "truncated-body"},
    )
    resp = c.getresponse()
    assert resp.status == 200 and resp.getheader("X-Sandbox-Fault-Applied") == "truncated-body"
    with pytest.raises(http.client.IncompleteRead) as short:
        resp.read()
    assert 0 < len(short.value.partial) < int(resp.getheader("Content-Length"))


def test_a_reset_connection_has_no_whole_answer(live, tokens, normal):
    """Under granian (run.py's default) the status line comes, then the connection closes before the
    announced body."""
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        get(tokens, "connection-reset")
    assert get(tokens).content == normal  # the server goes on


def test_under_waitress_a_reset_connection_has_no_answer_at_all(tmp_path):
    with LiveServer(
        "--server",
        "waitress",
        "--database",
        str(tmp_path / "w.db"),
        "--customers",
        "1",
        "--reset",
        "--no-demo-app",
        env={"SANDBOX_ADMIN_KEY": KEY},
    ) as s:
        t = SandboxClient(s.url, KEY).authorize("demo", SCOPE)
        with pytest.raises(requests.exceptions.ConnectionError):  # a TCP reset: not even a status line
            get(t, "connection-reset")
        assert get(t).status_code == 200  # the server goes on


def test_a_token_expired_early_is_refreshed_away(live, tokens):
    r = get(tokens, "token-expired-early")
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "token_expired"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "fault",
    [
        "RemoveEntry:ReadingType",
        "Duplicate:UsagePoint",
        "BreakUplink:MeterReading",
        "dst-local-as-utc",
        "dst-duplicate-hour",
        "dst-missing-hour",
        "wrong-multiplier",
        "decimal-values",
        "unknown-uom",
        "gap-days",
        "late-revision",
    ],
)
def test_each_document_fault_breaks_what_it_says_and_nothing_else(tokens, normal, fault):
    r = get(tokens, fault)
    assert r.status_code == 200 and r.headers["X-Sandbox-Fault-Applied"] == fault
    bad = r.content
    name = fault.split(":")[0]
    if name == "RemoveEntry":
        assert not entries(bad, "ReadingType") and entries(normal, "ReadingType")
        related = {
            link.get("href")
            for e in entries(bad, "MeterReading")
            for link in e.findall(ATOM + "link")
            if link.get("rel") == "related" and "ReadingType" in link.get("href")
        }
        selves = {
            link.get("href")
            for e in parse(bad).iter(ATOM + "entry")
            for link in e.findall(ATOM + "link")
            if link.get("rel") == "self"
        }
        assert related and not related & selves  # a related link that resolves nowhere
    elif name == "Duplicate":
        ids = Counter(e.findtext(ATOM + "id") for e in parse(bad).iter(ATOM + "entry"))
        assert max(ids.values()) == 2 and len(entries(bad, "UsagePoint")) == len(entries(normal, "UsagePoint")) + 1
    elif name == "BreakUplink":
        ups = [
            link.get("href")
            for link in entries(bad, "MeterReading")[0].findall(ATOM + "link")
            if link.get("rel") == "up"
        ]
        assert ups and ups[0].endswith("-nowhere")
    elif name == "dst-local-as-utc":
        assert [s + -28800 for s in starts(normal)] == starts(bad)  # bayview's standard offset, UTC-8
    elif name == "dst-duplicate-hour":
        assert len(starts(bad)) == len(starts(normal)) + 1 and len(set(starts(bad))) == len(starts(normal))
    elif name == "dst-missing-hour":
        assert len(starts(bad)) == len(starts(normal)) - 1
    elif name == "wrong-multiplier":
        assert [int(m.text) + 3 for m in parse(normal).iter(ESPI + "powerOfTenMultiplier")] == [
            int(m.text) for m in parse(bad).iter(ESPI + "powerOfTenMultiplier")
        ]
    elif name == "decimal-values":
        assert not espi_schema().validate(parse(bad))  # value is an integer in the schema
        assert espi_schema().validate(parse(normal))
    elif name == "unknown-uom":
        assert {u.text for u in parse(bad).iter(ESPI + "uom")} == {"999"}
    elif name == "gap-days":
        assert len(entries(bad, "IntervalBlock")) == len(entries(normal, "IntervalBlock")) - 1
    elif name == "late-revision":
        last_bad, last_good = entries(bad, "IntervalBlock")[-1], entries(normal, "IntervalBlock")[-1]
        assert last_bad.findtext(ATOM + "published") == last_good.findtext(ATOM + "published")
        assert last_bad.findtext(ATOM + "updated") > last_good.findtext(ATOM + "updated")
        values = [int(v.text) for v in last_bad.iter(ESPI + "value") if v.getparent().tag == ESPI + "IntervalReading"]
        before = [int(v.text) for v in last_good.iter(ESPI + "value") if v.getparent().tag == ESPI + "IntervalReading"]
        assert values == [round(v * 1.05) for v in before]
    assert get(tokens).content == normal  # no leak into the next call


def test_faults_set_for_a_third_party_or_an_authorization_stay_with_it(control, tokens, normal):
    other = control.authorize("demo", SCOPE)
    control.set_authorization_faults(other, ["rate-limited"])
    assert get(other).status_code == 429 and get(tokens).content == normal  # only that authorization's calls
    control.set_authorization_faults(other, [])
    assert get(other).status_code == 200
    control.set_faults(["server-error"])
    lakeshore = control.authorize("demo", SCOPE, utility="lakeshore")
    assert get(tokens).status_code == 503 and get(other).status_code == 503
    assert get(lakeshore).status_code == 200  # another utility's registration of the same client_id
    control.set_faults([])
    assert get(tokens).content == normal


def test_a_bad_fault_name_is_400_naming_the_header(tokens):
    r = get(tokens, "melt-down")
    assert r.status_code == 400 and "X-Sandbox-Fault" in r.json()["error_description"]
    assert "server-error" in r.json()["error_description"]  # the known ones are listed
    r = get(tokens, "RemoveEntry:Nothing")
    assert r.status_code == 400 and "names a resource" in r.json()["error_description"]


def test_the_header_can_be_turned_off_for_shared_deployments(tmp_path):
    with LiveServer(
        "--database",
        str(tmp_path / "w.db"),
        "--customers",
        "1",
        "--no-demo-app",
        env={"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_FAULT_HEADER": "0"},
    ) as s:
        c = SandboxClient(s.url, KEY)
        t = c.authorize("demo", SCOPE)
        assert get(t, "server-error").status_code == 200
        assert c.api("GET", "/faults")["header_allowed"] is False
