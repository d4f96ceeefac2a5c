"""The text a feed's bulk is written from, checked against lxml serializing the same elements: a
stream's IntervalReadings (bytes formats, numbers of any sign and width, every optional child) and a
MeterReading's hundreds of related links (checked for escaping at once, one odd link among them)."""

from __future__ import annotations

import numpy as np
import pytest
from lxml import etree

from sandbox.espi.atom import ATOM, ESPI, NSMAPS, Link, _links_text, element
from sandbox.espi.resources import interval_readings


def _lxml_reading(cost, quality, start, duration, value, tier, tou) -> bytes:
    children: list = [("cost", cost)]
    if quality:
        children.append(("ReadingQuality", [("quality", quality)]))
    children += [("timePeriod", [("duration", duration), ("start", start)]), ("value", value)]
    children += [("consumptionTier", tier or None), ("tou", tou or None)]
    wrapper = etree.Element(f"{{{ATOM}}}feed", nsmap=NSMAPS["espi"])
    wrapper.append(element("IntervalReading", ESPI, children))
    data = etree.tostring(wrapper)
    return data[data.index(b">") + 1 : -len(b"</feed>")]


@pytest.mark.parametrize("priced", [True, False])
def test_interval_readings_are_the_bytes_lxml_writes(priced):
    rng = np.random.default_rng(23)
    n = 400
    starts = 1_700_000_000 + 3600 * np.arange(n, dtype=np.int64)
    durations = rng.choice(np.array([900, 3600, 82800, 86400, 90000]), n)
    values = rng.integers(-(10**7), 10**7, n) // rng.choice(np.array([1, 10, 1000, 10**6]), n)
    values[:4] = [0, -1, 9, 10]
    qualities = rng.choice(np.array([0, 0, 0, 8, 17]), n)
    costs = rng.integers(-(10**9), 10**9, n) // rng.choice(np.array([1, 1000, 10**6]), n)
    tou, tiers = rng.integers(0, 4, n), rng.integers(0, 3, n)
    run = interval_readings(
        starts,
        durations,
        values,
        qualities,
        costs if priced else None,
        tou if priced else None,
        tiers if priced else None,
    )
    assert len(run) == n
    expected = [
        _lxml_reading(
            int(costs[i]) if priced else None,
            int(qualities[i]),
            int(starts[i]),
            int(durations[i]),
            int(values[i]),
            int(tiers[i]) if priced else 0,
            int(tou[i]) if priced else 0,
        )
        for i in range(n)
    ]
    assert run.text(0, n) == b"".join(expected)
    assert run.text(17, 40) == b"".join(expected[17:40])
    assert run.text(5, 5) == b""


def _lxml_links(links: list[Link]) -> bytes:
    entry = etree.Element(f"{{{ATOM}}}entry", nsmap=NSMAPS["espi"])
    for x in links:
        etree.SubElement(
            entry, f"{{{ATOM}}}link", {"rel": x.rel, "href": x.href, **({"type": x.type} if x.type else {})}
        )
    data = etree.tostring(entry, encoding="UTF-8")
    return data[data.index(b">") + 1 : -len(b"</entry>")]


@pytest.mark.parametrize("odd", [None, 'http://sandbox.test/IntervalBlock/x?a=1&b="2"', "http://sandbox.test/b\tc"])
def test_a_meter_readings_block_links_are_the_bytes_lxml_writes(odd):
    """Hundreds of plain links are written without checking each; one needing escapes among them
    (wherever it is) is still escaped."""
    links = [Link("related", "http://sandbox.test/MeterReading/m/IntervalBlock", "espi-feed/IntervalBlock")]
    links += [
        Link(
            "related",
            f"http://sandbox.test/MeterReading/m/IntervalBlock/{i:08x}-0000-5000-8000-000000000000",
            "espi-entry/IntervalBlock",
        )
        for i in range(300)
    ]
    links.append(Link("related", "http://sandbox.test/ReadingType/r"))
    if odd is not None:
        links.insert(150, Link("related", odd, "espi-entry/IntervalBlock"))
    assert _links_text(links).encode("utf-8") == _lxml_links(links)
