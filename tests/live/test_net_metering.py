"""Function block 7 (net metering) against a live server: a customer token whose scope grants FB 7
reads a net series (the Alliance's FB_07 ReadingType, its MeterReading and IntervalBlocks), one that
grants FB 8 and not 7 reads the received series and no net one, and the customer's own Download My
Data file holds all three."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from espi.checks import ATOM, blocks_of, check_feed, check_usage_structure, links, parse, reading_type_of, readings_of

from .tokens import csrf, customer_token, offered_scopes, signed_in

pytestmark = pytest.mark.live

SLUG = "bayview"  # its demo home has solar panels
FB_07 = {"accumulationBehaviour": 4, "commodity": 1, "flowDirection": 4, "kind": 12, "uom": 72}  # the Alliance's rule


def _days_ago(n: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=n)


# a few recent days (the data ends yesterday): a feed small enough to read four times
WINDOW = {"published-min": f"{_days_ago(6):%Y-%m-%dT00:00:00Z}", "published-max": f"{_days_ago(3):%Y-%m-%dT00:00:00Z}"}


def _scope_without(scope: str, block: int) -> str:
    """The offered scope with one function block left out (a subset: it stays within the registration)."""
    fb, rest = scope.split(";", 1)
    kept = [n for n in fb[3:].split("_") if n != str(block)]
    return "FB=" + "_".join(kept) + ";" + rest


def _feed_by_flow(base: str, scope: str) -> dict[int, tuple]:
    """The token's Batch/Subscription feed over a few days, checked: its MeterReadings by flowDirection."""
    tok = customer_token(base, SLUG, scope)
    r = requests.get(
        tok["resourceURI"], params=WINDOW, headers={"Authorization": f"Bearer {tok['access_token']}"}, timeout=120
    )
    assert r.status_code == 200, r.text[:300]
    root = parse(r.content)
    by_kind = check_feed(root, related_resolve=False)  # schema-valid ESPI 4.0; blocks outside the window left out
    check_usage_structure(by_kind, root)
    out: dict[int, tuple] = {}
    for mr in by_kind["MeterReading"]:
        rt = reading_type_of(mr, root)
        if rt["commodity"] == 1:
            out[rt["flowDirection"]] = (mr, rt, [x for b in blocks_of(mr, by_kind) for x in readings_of(b)], tok)
    return out


@pytest.fixture(scope="module")
def usage_scope(live) -> str:
    scope = offered_scopes(live, SLUG)[0]
    assert {"7", "8"} <= set(scope.split(";")[0][3:].split("_")), scope  # FB 7 stays offered
    return scope


def test_a_token_with_fb_7_reads_the_net_series(live, usage_scope):
    flows = _feed_by_flow(live, _scope_without(usage_scope, 8))
    assert set(flows) == {1, 4}  # delivered and net; received needs FB 8
    mr, rt, rows, tok = flows[4]
    assert {k: rt[k] for k in FB_07} == FB_07
    delivered = {x["start"]: x["value"] for x in flows[1][2]}
    assert rows and {x["start"] for x in rows} == set(delivered)
    assert any(x["value"] < 0 for x in rows) and all("cost" not in x for x in rows)
    # the MeterReading and its IntervalBlocks answer by id as well
    auth = {"Authorization": f"Bearer {tok['access_token']}"}
    one = requests.get(links(mr, "self")[0], headers=auth, timeout=60)
    assert one.status_code == 200 and b"<espi:MeterReading" in one.content
    blocks = requests.get(links(mr, "self")[0] + "/IntervalBlock", params=WINDOW, headers=auth, timeout=60)
    assert blocks.status_code == 200
    assert blocks_of(mr, check_feed(parse(blocks.content), related_resolve=False))


def test_a_token_with_fb_8_and_not_7_reads_no_net_series(live, usage_scope):
    flows = _feed_by_flow(live, _scope_without(usage_scope, 7))
    assert set(flows) == {1, 19}
    # nor by id: the net MeterReading of the same usage point is not this token's
    net = _feed_by_flow(live, usage_scope)[4][0]
    tok = flows[1][3]
    r = requests.get(
        links(net, "self")[0].replace(_subscription(links(net, "self")[0]), _subscription(tok["resourceURI"])),
        headers={"Authorization": f"Bearer {tok['access_token']}"},
        timeout=60,
    )
    assert r.status_code == 404, r.text[:300]


def _subscription(href: str) -> str:
    return re.search(r"Subscription/[^/]+", href).group(0)


def test_a_token_with_both_reads_all_three(live, usage_scope):
    flows = _feed_by_flow(live, usage_scope)
    assert set(flows) == {1, 4, 19}
    delivered, received = ({x["start"]: x["value"] for x in flows[f][2]} for f in (1, 19))
    assert {x["start"]: x["value"] for x in flows[4][2]} == {t: v - received[t] for t, v in delivered.items()}


def test_the_customers_download_holds_the_net_series(live):
    s = signed_in(live, SLUG)
    page = s.get(f"{live}/dc/{SLUG}/download", timeout=30).text
    assert "Include net metering readings" in page
    ids = re.findall(r'name="usage_point" value="(\d+)"', page)
    r = s.post(
        f"{live}/dc/{SLUG}/download",
        data={
            "csrf_token": csrf(page),
            "usage_point": ids,
            "period": "custom",
            "start": f"{_days_ago(6):%Y-%m-%d}",
            "end": f"{_days_ago(5):%Y-%m-%d}",
            "cost": "1",
            "format": "xml",
            "net": "1",
        },
        timeout=120,
    )
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    root = parse(r.content)
    by_kind = check_feed(root)
    net = [
        reading_type_of(mr, root) for mr in by_kind["MeterReading"] if reading_type_of(mr, root)["flowDirection"] == 4
    ]
    assert len(net) == 1 and {k: net[0][k] for k in FB_07} == FB_07
    assert root.find(ATOM + "entry") is not None
