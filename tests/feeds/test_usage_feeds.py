"""Every usage document the sandbox writes: schema-valid, and right where the schema cannot look."""

from __future__ import annotations

import datetime as dt
import random
import re
from zoneinfo import ZoneInfo

import pytest
from espi.checks import (
    ATOM,
    ESPI,
    all_text,
    blocks_of,
    check_feed,
    check_usage_structure,
    links,
    parse,
    reading_type_of,
    readings_of,
)

from sandbox.core.models import UsagePoint
from sandbox.espi.atom import FeedWriter
from sandbox.espi.scopes import content_of
from sandbox.espi.uuids import resource_uuid_str
from sandbox.feeds import Urls, UsageFeed
from sandbox.services.readings import History, series
from sandbox.synth.archetypes import usage_points_for
from sandbox.synth.world import ARCHETYPES

# a window with a DST change (US, 3 Nov 2024), a whole month (November) and the start of another
START, END = dt.date(2024, 10, 27), dt.date(2024, 12, 3)


def transient_usage_points(world, utility, archetype, seed=7):
    rng = random.Random(f"{utility.slug}-{archetype}-{seed}")
    out = []
    for n, p in enumerate(usage_points_for(archetype, utility, rng)):
        out.append(
            UsagePoint(
                number=n,
                uuid=resource_uuid_str(world.seed, "test", utility.slug, archetype, n),
                commodity=p.commodity,
                label=p.label,
                meter_serial="T1",
                params=p.to_json(),
            )
        )
    return out


def write(world, utility, ups, start=START, end=END, with_cost=True) -> bytes:
    urls = Urls.for_customer("http://sandbox.test", utility.slug, "c0ffee00-0000-5000-8000-000000000000")
    feed = UsageFeed(world, utility, urls, start, end, with_cost)
    entries = feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1))) for up in ups])
    return b"".join(
        FeedWriter().feed("f0000000-0000-5000-8000-000000000000", "test", urls.parent + "/UsagePoint", 0, entries)
    )


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_every_archetype_and_utility_validates_and_holds_together(world, slug, archetype):
    u = world.utility(slug)
    ups = transient_usage_points(world, u, archetype)
    root = parse(write(world, u, ups))
    by_kind = check_feed(root)
    check_usage_structure(by_kind, root)
    assert len(by_kind["UsagePoint"]) == len(ups)
    assert len(by_kind["LocalTimeParameters"]) == 1
    tz = ZoneInfo(u.time_zone)
    for up, up_entry in zip(ups, by_kind["UsagePoint"]):
        up_self = links(up_entry, "self")[0]
        mrs = [m for m in by_kind["MeterReading"] if links(m, "self")[0].startswith(up_self + "/")]
        model_streams = list(__import__("sandbox.services.readings", fromlist=["streams"]).streams(world, u, up))
        assert len(mrs) == len(model_streams)
        for mr, stream in zip(mrs, model_streams):
            rt = reading_type_of(mr, root)
            assert rt["accumulationBehaviour"] == 4 and rt["intervalLength"] == stream.interval
            for key in ("commodity", "flowDirection", "kind", "uom", "powerOfTenMultiplier"):
                assert key in rt
            truth = series(world, u, up, stream.key, START, END)
            blocks = blocks_of(mr, by_kind)
            rows = [r for b in blocks for r in readings_of(b)]
            # exactly the computed readings: gaps only where the data has them
            assert [r["start"] for r in rows] == truth.starts.tolist()
            assert [r["value"] for r in rows] == truth.values.tolist()
            # a net stream is never priced (its money is in the delivered and received streams)
            assert [r.get("cost") for r in rows] == (
                truth.costs.tolist() if stream.flow != "net" else [None] * len(rows)
            )
            assert [r.get("quality", 0) for r in rows] == truth.qualities.tolist()
            block_starts = [
                int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}start")) for b in blocks
            ]
            assert len(set(block_starts)) == len(block_starts)
            for b in blocks:  # one block per local day
                days = {dt.datetime.fromtimestamp(r["start"], tz).date() for r in readings_of(b)}
                assert len(days) == 1
            for r in rows:
                if stream.interval == 86400:
                    day = dt.datetime.fromtimestamp(r["start"], tz).date()
                    nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp()
                    assert r["start"] + r["duration"] == nxt
                else:
                    assert r["duration"] == rt["intervalLength"]


def test_dst_day_blocks_hold_23_and_25_hours(exact_world):
    u = exact_world.utility("bayview")
    up = transient_usage_points(exact_world, u, "gas_house")[0]
    root = parse(write(exact_world, u, [up], dt.date(2024, 3, 9), dt.date(2024, 3, 12)))
    by_kind = check_feed(root)
    counts = [len(readings_of(b)) for b in by_kind["IntervalBlock"]]
    assert counts == [24, 23, 24]


def test_summaries_add_up_to_the_readings_and_bill(world):
    u = world.utility("prairie")
    up = transient_usage_points(world, u, "electric_house")[0]
    root = parse(write(world, u, [up]))
    by_kind = check_feed(root)
    (summary,) = by_kind["UsageSummary"]
    c = summary.find(f"{ATOM}content/{ESPI}UsageSummary")
    start = int(c.findtext(f"{ESPI}billingPeriod/{ESPI}start"))
    end = start + int(c.findtext(f"{ESPI}billingPeriod/{ESPI}duration"))
    rows = [r for b in by_kind["IntervalBlock"] for r in readings_of(b) if start <= r["start"] < end]
    assert int(c.findtext(f"{ESPI}overallConsumptionLastPeriod/{ESPI}value")) == sum(r["value"] for r in rows)
    items = {
        int(i.findtext(ESPI + "itemKind")): int(i.findtext(ESPI + "amount"))
        for i in c.findall(ESPI + "costAdditionalDetailLastPeriod")
    }
    assert items[3] == sum(r["cost"] for r in rows)
    assert items[4] == u.tariffs["electricity"].fixed_monthly
    assert int(c.findtext(ESPI + "billLastPeriod")) == sum(items.values())
    assert int(c.findtext(ESPI + "currency")) == 124


def test_without_cost_there_is_no_money(world):
    u = world.utility("bayview")
    root = parse(write(world, u, transient_usage_points(world, u, "solar_house"), with_cost=False))
    check_feed(root)
    assert not root.findall(f".//{ESPI}cost") and not root.findall(f".//{ESPI}billLastPeriod")


def test_local_time_parameters_follow_the_zone(world):
    expected = {
        "bayview": ("-28800", "3600", "360E2000", "B40E2000"),
        "lakeshore": ("-18000", "3600", "360E2000", "B40E2000"),
        "prairie": ("-21600", "0", "FFFFFFFF", "FFFFFFFF"),
    }
    for slug, (tz_offset, dst_offset, start_rule, end_rule) in expected.items():
        u = world.utility(slug)
        root = parse(write(world, u, transient_usage_points(world, u, "apartment")))
        ltp = check_feed(root)["LocalTimeParameters"][0].find(f"{ATOM}content/{ESPI}LocalTimeParameters")
        got = tuple(ltp.findtext(ESPI + n) for n in ("tzOffset", "dstOffset", "dstStartRule", "dstEndRule"))
        assert got == (tz_offset, dst_offset, start_rule, end_rule)


def test_usage_documents_carry_no_personal_data(app):
    from sqlalchemy import select

    from sandbox.core.models import Customer
    from sandbox.services.dmd import usage_document

    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        for customer in s.scalars(select(Customer)).all():
            data = b"".join(
                usage_document(
                    sb, customer.id, None, dt.date(2025, 5, 1), dt.date(2025, 7, 1), True, "http://sandbox.test"
                )
            )
            text = all_text(parse(data))
            tokens = set(re.split(r"[^0-9A-Za-z]+", text))
            for secret in (customer.street, customer.email, customer.phone):
                assert secret not in text, secret
            for word in (
                customer.first_name,
                customer.last_name,
                customer.account_number,
                customer.postal_code.replace(" ", ""),
                customer.username if customer.username != "demo" else "",
            ):
                assert word not in tokens, word


@pytest.mark.parametrize("with_cost", [True, False])
def test_entries_written_from_a_template_equal_lxml_serializing_each(world, with_cost):
    """UsageSummary entries are written from a template of their layout (Entry.formed); serializing
    every one of them with lxml must give the same bytes, whatever the text (escaping included)."""
    import dataclasses

    u = world.utility("bayview")
    ups = transient_usage_points(world, u, "solar_house")
    urls = Urls.for_customer("http://sandbox.test", u.slug, "c0ffee00-0000-5000-8000-000000000000")
    feed = UsageFeed(world, u, urls, dt.date(2024, 1, 1), dt.date(2024, 7, 1), with_cost)
    formed = [
        e
        for e in feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1))) for up in ups])
        if getattr(e, "form", None) is not None
    ]
    assert len(formed) >= 6
    odd = dataclasses.replace(
        formed[0],
        title='Q&A <"bill"> 100%',
        fields=tuple("Tariff & <rate> 5%" if isinstance(f, str) else f for f in formed[0].fields),
    )
    writer = FeedWriter()
    for e in formed + [odd]:
        templated = writer.entry(e)
        plain = FeedWriter().entry(dataclasses.replace(e, form=None, content=lambda e=e: e.form(*e.fields)))
        assert templated == plain
    assert b'Q&amp;A &lt;"bill"&gt; 100%' in writer.entry(odd)


def test_blocks_written_from_the_run_template_equal_lxml_serializing_each(world):
    """A MeterReading's blocks are written in one pass from a template (FeedWriter.run); each block
    as an ordinary entry, serialized by lxml, must give the same bytes."""
    from sandbox.espi.atom import BlockRun

    u = world.utility("lakeshore")  # 15-minute electricity, a DST change inside START..END
    ups = transient_usage_points(world, u, "solar_house")
    urls = Urls.for_customer("http://sandbox.test", u.slug, "c0ffee00-0000-5000-8000-000000000000")
    feed = UsageFeed(world, u, urls, START, END, True)
    runs = [
        e
        for e in feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1))) for up in ups])
        if isinstance(e, BlockRun)
    ]
    assert runs
    for run in runs:
        written = b"".join(FeedWriter().run(run, chunk=1)).split(b"\n")[:-1]
        assert len(written) == len(run)
        for i in (0, len(run) // 2, len(run) - 1):
            assert written[i] + b"\n" == FeedWriter().entry(run.entry(i))


@pytest.mark.parametrize("prefix", ["espi", "cust"])
def test_related_links_written_as_text_equal_lxml_serializing_them(prefix):
    """An entry's related links are written as text (a MeterReading has one per block); in a feed
    and as a bare entry they must be the bytes lxml writes for the same link elements, odd
    characters included."""
    from lxml import etree

    from sandbox.espi.atom import ATOM as ATOM_NS
    from sandbox.espi.atom import NSMAPS, Entry, Link

    related = [
        Link("related", 'http://sandbox.test/a?x=1&y="2"<3>', "espi-feed/IntervalBlock"),
        Link("related", "http://sandbox.test/b\tc"),
        Link("related", "http://sandbox.test/ü", "espi-entry/X"),
    ]
    e = Entry(
        "MeterReading",
        "u-1",
        "http://sandbox.test/MR/u-1",
        "http://sandbox.test/MR",
        "t",
        0,
        0,
        lambda: etree.Element("{http://naesb.org/espi}MeterReading"),
        related,
    )
    writer = FeedWriter(prefix)
    by_lxml = etree.tostring(etree.Element(f"{{{ATOM_NS}}}entry", nsmap=NSMAPS[prefix]))[:-2] + b">"
    by_lxml = etree.fromstring(by_lxml + b"</entry>")
    for x in related:
        etree.SubElement(
            by_lxml, f"{{{ATOM_NS}}}link", {"rel": x.rel, "href": x.href, **({"type": x.type} if x.type else {})}
        )
    data = etree.tostring(by_lxml, encoding="UTF-8")
    expected = data[data.index(b">") + 1 : -len(b"</entry>")]
    for written, bare in ((writer.entry(e), False), (writer.entry_document(e), True)):
        entry = etree.fromstring(
            written if bare else writer.header("f", "t", "http://s", 0) + written + writer.footer()
        )
        entry = entry if bare else entry.find(f"{{{ATOM_NS}}}entry")
        got = [(x.get("rel"), x.get("href"), x.get("type")) for x in entry.findall(f"{{{ATOM_NS}}}link")][2:]
        assert got == [(x.rel, x.href, x.type) for x in related]
        assert expected in written


def _written(world, utility, ups, rendered=None, start=START, end=END, with_cost=True, keep=None) -> bytes:
    """A feed of `ups` with the writer keeping block text in `rendered`; `keep` picks some blocks of each run."""
    from sandbox.espi.atom import BlockRun

    urls = Urls.for_customer("http://sandbox.test", utility.slug, "c0ffee00-0000-5000-8000-000000000000")
    feed = UsageFeed(world, utility, urls, start, end, with_cost)
    entries = feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1))) for up in ups])
    if keep is not None:
        entries = (e.subset([i for i in range(len(e)) if keep(i)]) if isinstance(e, BlockRun) else e for e in entries)
    writer = FeedWriter("espi", rendered, world)
    return b"".join(
        writer.feed("f0000000-0000-5000-8000-000000000000", "test", urls.parent + "/UsagePoint", 0, entries)
    )


def test_kept_block_text_is_what_writing_anew_gives(world, exact_world, monkeypatch):
    """The writer keeps the text of synthetic block runs (RenderedRuns): asked again, it gives the bytes
    written without it; another period, another cost setting or a subset of the blocks is written anew;
    another world drops everything kept."""
    from sandbox.espi.atom import RenderedRuns

    u = world.utility("bayview")
    ups = transient_usage_points(world, u, "solar_house")
    rendered = RenderedRuns()
    plain = _written(world, u, ups)
    assert _written(world, u, ups, rendered) == plain and rendered.size > 0
    kept = rendered.size
    formatted = []
    real_run = FeedWriter._run
    monkeypatch.setattr(FeedWriter, "_run", lambda self, r, chunk: formatted.append(r) or real_run(self, r, chunk))
    assert _written(world, u, ups, rendered) == plain and rendered.size == kept
    assert formatted == []  # served from what was kept
    assert _written(world, u, ups) == plain and formatted  # (the counting sees a write without it)
    assert _written(world, u, ups, rendered, with_cost=False) == _written(world, u, ups, with_cost=False)
    later = (START + dt.timedelta(days=3), END + dt.timedelta(days=3))
    assert _written(world, u, ups, rendered, *later) == _written(world, u, ups, None, *later)
    odd = _written(world, u, ups, rendered, keep=lambda i: i % 2 == 1)
    assert odd == _written(world, u, ups, keep=lambda i: i % 2 == 1) and odd != plain
    grown = rendered.size
    # exact_world makes other readings from the same usage points: nothing of `world` may be served for it
    assert _written(exact_world, u, ups, rendered) == _written(exact_world, u, ups) != plain
    assert 0 < rendered.size < grown
    tiny = RenderedRuns(budget_bytes=64 * 1024)  # every run is longer than a quarter of it: none is kept
    assert _written(world, u, ups, tiny) == plain and tiny.size == 0


def test_kept_block_text_stays_within_its_budget():
    from sandbox.espi.atom import RenderedRuns

    world = object()
    rendered = RenderedRuns(budget_bytes=1000)
    for n in range(10):
        rendered.put(world, (n,), [b"x" * 150, b"y" * 50])
    assert rendered.size <= 1000
    assert rendered.get(world, (0,)) is None and rendered.get(world, (9,)) == [b"x" * 150, b"y" * 50]
    rendered.get(world, (5,))  # used lately: kept when the next ones come in
    for n in range(10, 13):
        rendered.put(world, (n,), [b"z" * 200])
    assert rendered.get(world, (5,)) is not None and rendered.get(world, (6,)) is None
    rendered.put(world, ("huge",), [b"h" * 251])  # over a quarter of the budget: never kept
    assert rendered.get(world, ("huge",)) is None
    assert rendered.get(object(), (5,)) is None and rendered.size == 0


def test_a_period_without_a_whole_month_links_to_no_summaries(world):
    u = world.utility("bayview")
    ups = transient_usage_points(world, u, "gas_house")
    root = parse(write(world, u, ups, dt.date(2024, 1, 15), dt.date(2024, 2, 10)))
    by_kind = check_feed(root)  # every related link resolves to an entry of the document
    assert "UsageSummary" not in by_kind
    assert not [h for e in by_kind["UsagePoint"] for h in links(e, "related") if h.endswith("/UsageSummary")]


FB_07 = {"accumulationBehaviour": 4, "commodity": 1, "flowDirection": 4, "kind": 12, "uom": 72}  # the Alliance's rule


@pytest.mark.parametrize("blocks, flows", [("7", {1, 4}), ("8", {1, 19}), ("7_8", {1, 4, 19}), ("5", {1})])
def test_a_solar_homes_feed_holds_the_net_series_with_fb_7_and_the_received_one_with_fb_8(world, blocks, flows):
    u = world.utility("bayview")
    (up,) = [p for p in transient_usage_points(world, u, "solar_house") if p.commodity == "electricity"]
    urls = Urls.for_customer("http://sandbox.test", u.slug, "c0ffee00-0000-5000-8000-000000000000")
    content = content_of(f"FB=1_3_4_5_{blocks}_12_13_14_15_16;IntervalDuration=3600")
    feed = UsageFeed(world, u, urls, START, END, True, content)
    entries = feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1)))])
    root = parse(b"".join(FeedWriter().feed("f0000000-0000-5000-8000-000000000000", "t", urls.parent, 0, entries)))
    by_kind = check_feed(root)
    check_usage_structure(by_kind, root)
    types = {
        reading_type_of(mr, root)["flowDirection"]: (mr, reading_type_of(mr, root)) for mr in by_kind["MeterReading"]
    }
    assert set(types) == flows
    if 4 not in flows:
        return
    mr, rt = types[4]
    assert {k: rt[k] for k in FB_07} == FB_07 and rt["intervalLength"] == 3600
    rows = {
        flow: {r["start"]: r for b in blocks_of(m, by_kind) for r in readings_of(b)} for flow, (m, _) in types.items()
    }
    assert rows[4] and all("cost" not in r for r in rows[4].values())  # net is not priced
    received = rows.get(19)
    truth = series(world, u, up, "electricity-received", START, END, cost=False)
    exported = dict(zip(truth.starts.tolist(), truth.values.tolist()))
    for start, r in rows[4].items():  # the same intervals, delivered minus received
        assert r["value"] == rows[1][start]["value"] - exported[start]
        if received is not None:
            assert exported[start] == received[start]["value"]
    assert rows[4].keys() == rows[1].keys()
