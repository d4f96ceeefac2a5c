"""Reading a Green Button usage feed into plain data, relations rebuilt from the links.

Entries are matched by their self hrefs, never by order: a MeterReading belongs to the
UsagePoint its href (or its up link) sits under, names its ReadingType by a related link,
and an IntervalBlock sits under its MeterReading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import etree

from sandbox.espi.atom import ATOM, CUST, ESPI
from sandbox.espi.codes import READING_TYPE_ORDER
from sandbox.espi.xmlio import XmlRefused

A, E = "{%s}" % ATOM, "{%s}" % ESPI
MAX_READINGS = 5_000_000


@dataclass
class ParsedReading:
    start: int
    duration: int
    value: int
    cost: int | None
    quality: int | None


@dataclass
class ParsedStream:
    uuid: str
    title: str
    reading_type: dict[str, int]
    reading_type_uuid: str
    readings: list[ParsedReading] = field(default_factory=list)


@dataclass
class ParsedUsagePoint:
    uuid: str
    title: str
    service_kind: int | None
    streams: list[ParsedStream] = field(default_factory=list)


@dataclass
class _Entry:
    uuid: str
    title: str
    self_href: str
    up_href: str | None
    related: list[str]
    content: etree._Element


def _norm(href: str | None) -> str | None:
    if href is None:
        return None
    return urlsplit(href.strip()).path.strip("/")


def _int(el: etree._Element | None, what: str) -> int | None:
    if el is None or el.text is None:
        return None
    try:
        return int(el.text.strip())
    except ValueError:
        raise XmlRefused(f"{what} is not a whole number: {el.text.strip()!r}") from None


def _entries(root: etree._Element) -> list[_Entry]:
    if root.tag != A + "feed":
        raise XmlRefused("the document is not an Atom feed (a Green Button file starts with <feed>)")
    out = []
    for n, entry in enumerate(root.iterchildren(A + "entry"), 1):
        content = entry.find(A + "content")
        payload = next(iter(content), None) if content is not None else None
        if payload is None:
            raise XmlRefused(f"entry {n} has no content")
        if payload.tag.startswith("{%s}" % CUST):
            raise XmlRefused("the file holds customer (PII) resources; only usage data can be imported")
        self_href = up_href = None
        related: list[str] = []
        for link in entry.iterchildren(A + "link"):
            rel = link.get("rel")
            if rel == "self":
                self_href = _norm(link.get("href"))
            elif rel == "up":
                up_href = _norm(link.get("href"))
            elif rel == "related":
                target = _norm(link.get("href"))
                if target is not None:
                    related.append(target)
        if self_href is None:
            raise XmlRefused(f"entry {n} ({etree.QName(payload).localname}) has no self link")
        ident = (entry.findtext(A + "id") or "").strip()
        out.append(
            _Entry(
                ident.removeprefix("urn:uuid:").lower(),
                (entry.findtext(A + "title") or "").strip(),
                self_href,
                up_href,
                related,
                payload,
            )
        )
    return out


def _parent(e: _Entry, collection: str) -> str:
    """The href of the resource this entry's collection hangs under."""
    suffix = "/" + collection
    if e.up_href and e.up_href.endswith(suffix):
        return e.up_href[: -len(suffix)]
    head, sep, _ = e.self_href.rpartition(suffix + "/")
    if not sep:
        raise XmlRefused(f"cannot tell which resource {collection} {e.self_href} belongs to (no up link)")
    return head


_NESTED = {"interharmonic", "argument"}  # structured children, not kept


def _reading_type(content: etree._Element) -> dict[str, int]:
    out = {}
    for name in READING_TYPE_ORDER:
        if name in _NESTED:
            continue
        v = _int(content.find(E + name), f"ReadingType {name}")
        if v is not None:
            out[name] = v
    return out


def _readings(block: _Entry, rt: dict[str, int], into: list[ParsedReading]) -> None:
    interval = block.content.find(E + "interval")
    block_start = _int(interval.find(E + "start"), "IntervalBlock start") if interval is not None else None
    step = rt.get("intervalLength")
    for i, r in enumerate(block.content.iterchildren(E + "IntervalReading")):
        tp = r.find(E + "timePeriod")
        if tp is not None:
            start, duration = _int(tp.find(E + "start"), "timePeriod start"), _int(tp.find(E + "duration"), "duration")
        elif block_start is not None and step:
            start, duration = block_start + i * step, step
        else:
            raise XmlRefused(f"a reading in IntervalBlock {block.self_href} has no timePeriod and no intervalLength")
        if start is None or duration is None:
            raise XmlRefused(f"a reading in IntervalBlock {block.self_href} has a timePeriod without start or duration")
        value = _int(r.find(E + "value"), "IntervalReading value")
        if value is None:
            raise XmlRefused(f"a reading at {start} in IntervalBlock {block.self_href} has no value")
        quality = r.find(E + "ReadingQuality")
        into.append(
            ParsedReading(
                start,
                duration,
                value,
                _int(r.find(E + "cost"), "cost"),
                _int(quality.find(E + "quality"), "quality") if quality is not None else None,
            )
        )
        if len(into) > MAX_READINGS:
            raise XmlRefused(f"the file holds more than {MAX_READINGS:,} readings")


def read_usage_feed(root: etree._Element) -> list[ParsedUsagePoint]:
    entries = _entries(root)
    by_kind: dict[str, list[_Entry]] = {}
    by_href: dict[str, _Entry] = {}
    for e in entries:
        by_kind.setdefault(etree.QName(e.content).localname, []).append(e)
        by_href[e.self_href] = e
    points = {
        e.self_href: ParsedUsagePoint(e.uuid, e.title, _int(e.content.find(f"{E}ServiceCategory/{E}kind"), "kind"))
        for e in by_kind.get("UsagePoint", [])
    }
    if not points:
        raise XmlRefused("the file holds no UsagePoint entry")
    streams: dict[str, ParsedStream] = {}
    for mr in by_kind.get("MeterReading", []):
        up = points.get(_parent(mr, "MeterReading"))
        if up is None:
            raise XmlRefused(f"MeterReading {mr.self_href} belongs to no UsagePoint in the file")
        rt_entry = next(
            (
                by_href[h]
                for h in mr.related
                if h in by_href and etree.QName(by_href[h].content).localname == "ReadingType"
            ),
            None,
        )
        if rt_entry is None:
            raise XmlRefused(f"MeterReading {mr.self_href} names no ReadingType that is in the file")
        stream = ParsedStream(mr.uuid, mr.title, _reading_type(rt_entry.content), rt_entry.uuid)
        up.streams.append(stream)
        streams[mr.self_href] = stream
    for block in by_kind.get("IntervalBlock", []):
        parent = streams.get(_parent(block, "IntervalBlock"))
        if parent is None:
            raise XmlRefused(f"IntervalBlock {block.self_href} belongs to no MeterReading in the file")
        _readings(block, parent.reading_type, parent.readings)
    for stream in streams.values():
        stream.readings.sort(key=lambda r: r.start)
        for a, b in zip(stream.readings, stream.readings[1:]):
            if a.start == b.start:
                raise XmlRefused(f"two readings of MeterReading {stream.uuid or stream.title} start at {a.start}")
    return list(points.values())
