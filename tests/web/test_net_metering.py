"""The net series (FB 7) where a customer meets it: the Download My Data page names it, the file
holds it, an imported file's net series stays one, and the portal's charts leave it out."""

from __future__ import annotations

import datetime as dt
import html as htmllib

from espi.checks import ATOM, ESPI, blocks_of, check_feed, reading_type_of, readings_of
from lxml import etree
from sqlalchemy import select
from web.helpers import sb_of, text
from web.test_portal import customer, dmd_post, login, other_customer

from sandbox.core.models import Customer, UsagePoint
from sandbox.services import dmd, readings, summaries

FB_07 = {"accumulationBehaviour": 4, "commodity": 1, "flowDirection": 4, "kind": 12, "uom": 72}  # the Alliance's rule


def _flows(root) -> dict[int, list[dict]]:
    """Readings by the flowDirection of their MeterReading's ReadingType (each must meet FB_07 when 4)."""
    by_kind = check_feed(root)
    out: dict[int, list[dict]] = {}
    for mr in by_kind["MeterReading"]:
        rt = reading_type_of(mr, root)
        if rt["flowDirection"] == 4:
            assert {k: rt[k] for k in FB_07} == FB_07
        out.setdefault(rt["flowDirection"], []).extend(r for b in blocks_of(mr, by_kind) for r in readings_of(b))
    return out


def _electricity(app, c: Customer) -> UsagePoint:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(UsagePoint)
            .where(UsagePoint.customer_id == c.id, UsagePoint.commodity == "electricity")
            .order_by(UsagePoint.number)
        ).first()


def test_the_download_page_names_the_readings_each_file_holds(client, app):
    login(client)
    page = htmllib.unescape(text(client.get("/dc/bayview/download")))
    up = _electricity(app, customer(app))
    sb = sb_of(app)
    with sb.db.sessions() as s:
        titles = [st.title for st in readings.streams(sb.world, sb.world.utility("bayview"), s.get(UsagePoint, up.id))]
    assert len(titles) == 3  # the demo home has solar
    line = page.split(f'value="{up.id}"', 1)[1].split("</label>", 1)[0]
    assert '<span class="hint holds">Readings: ' + "; ".join(titles[:2]) + "</span>" in line
    assert "net (delivered minus received)" in titles[2] and titles[2] not in line  # a choice of its own
    choice = page.split('name="net" value="1"', 1)[1].split("</label>", 1)[0]
    assert "Include net metering readings" in choice


def test_a_download_holds_no_net_series_unless_asked(client, app):
    """Published parsers refuse a whole file with flowDirection 4: the customer's file leaves the net
    series out by default, in the XML and the CSV alike."""
    login(client)
    up = _electricity(app, customer(app))
    r = dmd_post(client, usage_point=str(up.id), start="2025-06-01", end="2025-06-03")
    assert r.status_code == 200, text(r)[:500]
    assert set(_flows(etree.fromstring(r.data))) == {1, 19}
    rows = dmd_post(client, usage_point=str(up.id), start="2025-06-01", end="2025-06-03", format="csv")
    assert ",net," not in text(rows) and ",received," in text(rows)
    rows = dmd_post(client, usage_point=str(up.id), start="2025-06-01", end="2025-06-03", format="csv", net="1")
    assert ",net," in text(rows)


def test_the_customers_download_holds_the_net_series(client, app):
    login(client)
    up = _electricity(app, customer(app))
    r = dmd_post(client, usage_point=str(up.id), start="2025-06-01", end="2025-06-03", net="1")
    assert r.status_code == 200, text(r)[:500]
    flows = _flows(etree.fromstring(r.data))
    assert set(flows) == {1, 4, 19}
    delivered = {x["start"]: x["value"] for x in flows[1]}
    received = {x["start"]: x["value"] for x in flows[19]}
    assert {x["start"]: x["value"] for x in flows[4]} == {t: v - received[t] for t, v in delivered.items()}
    assert all("cost" not in x for x in flows[4]) and all("cost" in x for x in flows[1])


def test_an_imported_net_series_is_exported_as_one_and_not_charted(app):
    sb = sb_of(app)
    demo, other = customer(app), other_customer(app)
    start, end = dt.date(2025, 6, 1), dt.date(2025, 6, 4)
    first = b"".join(
        dmd.usage_document(sb, demo.id, [_electricity(app, demo).id], start, end, True, "http://t", net=True)
    )
    with sb.db.sessions() as s:
        dmd.import_green_button(sb, s.get(Customer, other.id), first)
    with sb.db.sessions() as s:
        (imported,) = [up for up in s.get(Customer, other.id).usage_points if up.imported]
        utility = sb.world.utility("bayview")
        flows = {st.flow for st in readings.streams(sb.world, utility, imported)}
        delivered, received = summaries.streams_charted(sb.world, utility, imported)
        assert flows == {"delivered", "received", "net"}
        assert (delivered.flow, received.flow if received else None) == ("delivered", "received")
        again = b"".join(dmd.usage_document(sb, other.id, [imported.id], start, end, True, "http://t", net=True))
    assert _flows(etree.fromstring(again)) == _flows(etree.fromstring(first))
    assert etree.fromstring(again).find(f".//{ATOM}content/{ESPI}ReadingType") is not None


def test_the_portals_charts_leave_a_synthetic_net_series_out(app):
    sb = sb_of(app)
    with sb.db.sessions() as s:
        up = s.get(UsagePoint, _electricity(app, customer(app)).id)
        delivered, received = summaries.streams_charted(sb.world, sb.world.utility("bayview"), up)
    assert (delivered.key, received.key if received else None) == ("electricity", "electricity-received")
