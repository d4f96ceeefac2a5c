"""Reading Green Button usage documents as a third party does: from the XML alone.

The demo app is a model client, so this is its own small reader (lxml, no entity expansion, no
network) and knows nothing of how the sandbox made the document. It follows the Atom links: a
MeterReading's `up` link is its usage point's MeterReading collection, its `related` link names
its ReadingType, and an IntervalBlock's `up` link is its MeterReading's IntervalBlock collection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
MAX_BYTES = 64 * 1024 * 1024
MAX_ELEMENTS = 4_000_000
MAX_EPOCH = 253402300800  # 10000-01-01: a reading later than that is not one

SERVICE_KINDS = {0: "electricity", 1: "gas", 2: "water"}
# flowDirection: delivered to the customer, received from the customer, and net (delivered minus received)
FORWARD, REVERSE, NET = 1, 19, 4


class NotGreenButton(ValueError):
    """The document is not a Green Button usage feed this reader understands."""


@dataclass
class Reading:
    start: int
    duration: int
    value: int
    cost: int | None = None  # in 1e-5 of the currency
    tou: int | None = None


@dataclass
class Stream:
    """One MeterReading: what it measures and its readings (by start, so a re-read replaces)."""

    key: str  # the MeterReading's self href
    usage_point: str  # the usage point's title
    commodity: str  # electricity, gas, water
    flow: int = FORWARD
    uom: int = 72  # Wh
    multiplier: int = 0  # powerOfTenMultiplier
    currency: int | None = None  # ISO 4217 number
    readings: dict[int, Reading] = field(default_factory=dict)

    def quantity(self, value: int) -> float:
        """A reading's value in the display unit: kWh for Wh, else the unit as given."""
        q = value * 10.0**self.multiplier
        return q / 1000 if self.uom == 72 else q

    @property
    def unit(self) -> str:
        return {72: "kWh", 169: "therms", 42: "m³", 128: "gal"}.get(self.uom, "units")


@dataclass
class Bill:
    usage_point: str
    start: int
    duration: int
    amount: int | None  # 1e-5 of the currency
    currency: int | None


@dataclass(frozen=True)
class LocalTime:
    """A feed's LocalTimeParameters: the standard offset, and daylight saving by its two rules
    (ESPI's DstRuleType: bits 28-31 month, 25-27 operator, 20-24 day of month, 17-19 weekday
    1 = Monday .. 7 = Sunday, 12-16 hour, 0-11 seconds; FFFFFFFF for none)."""

    tz_offset: int = 0
    dst_offset: int = 0
    dst_start: int = 0xFFFFFFFF
    dst_end: int = 0xFFFFFFFF

    def local(self, epoch: int) -> dt.datetime:
        """The wall-clock time of an instant (naive)."""
        standard = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=epoch + self.tz_offset)
        if self.dst_offset and 0xFFFFFFFF not in (self.dst_start, self.dst_end):
            try:
                start = _rule_instant(self.dst_start, standard.year)  # on the standard-time clock
                end = _rule_instant(self.dst_end, standard.year) - dt.timedelta(seconds=self.dst_offset)
            except ValueError:  # a rule naming no real day (month 0, 30 February): no daylight saving
                return standard
            if (start <= standard < end) if start < end else not (end <= standard < start):
                return standard + dt.timedelta(seconds=self.dst_offset)
        return standard


def _rule_instant(rule: int, year: int) -> dt.datetime:
    """The local time a DstRuleType names in a year."""
    month, op, dom, dow = rule >> 28 & 0xF, rule >> 25 & 0x7, rule >> 20 & 0x1F, rule >> 17 & 0x7
    at = dt.timedelta(hours=rule >> 12 & 0x1F, seconds=rule & 0xFFF)
    first = dt.date(year, month, 1)
    if op == 0 or not dow:
        day = dt.date(year, month, max(1, dom))
    elif op == 1:
        day = dt.date(year, month, max(1, dom))
        day += dt.timedelta(days=(dow - 1 - day.weekday()) % 7)
    else:
        day = first + dt.timedelta(days=(dow - 1 - first.weekday()) % 7)  # the first such weekday
        if op == 7:
            while (day + dt.timedelta(days=7)).month == month:
                day += dt.timedelta(days=7)
        else:
            day += dt.timedelta(days=7 * (op - 2))
    return dt.datetime(day.year, day.month, day.day) + at


@dataclass
class Usage:
    streams: list[Stream] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    local_time: LocalTime = field(default_factory=LocalTime)  # the feed's LocalTimeParameters


def _links(entry, rel: str) -> list[str]:
    return [link.get("href", "") for link in entry.findall(ATOM + "link") if link.get("rel") == rel]


def _int(node, path: str, default: int | None = None) -> int | None:
    text = node.findtext(path)
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _hex(node, name: str) -> int:
    try:
        return int(node.findtext(ESPI + name) or "FFFFFFFF", 16)
    except ValueError:
        return 0xFFFFFFFF


def _path(href: str) -> str:
    """An href without scheme and host, so absolute and root-relative hrefs compare equal."""
    if "://" in href:
        href = href.split("://", 1)[1]
        href = href[href.find("/") :] if "/" in href else "/"
    return href.rstrip("/")


def parse_usage(data: bytes) -> Usage:
    """The usage data of an Atom feed of ESPI entries; NotGreenButton if it is not one."""
    if len(data) > MAX_BYTES:
        raise NotGreenButton("the file is larger than 64 MB")
    if data.count(b"<") - data.count(b"</") > MAX_ELEMENTS:  # a tree costs ~130 bytes an element
        raise NotGreenButton(f"the file has more than {MAX_ELEMENTS:,} elements, more than any Green Button file")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise NotGreenButton(f"not XML: {exc}") from None
    if root.tag != ATOM + "feed":
        raise NotGreenButton("not an Atom feed (a Green Button file is one)")
    usage = Usage()
    points: dict[str, tuple[str, str]] = {}  # usage point self path -> (title, commodity)
    types: dict[str, etree._Element] = {}
    readings: list[tuple[etree._Element, etree._Element]] = []
    blocks: list[tuple[etree._Element, etree._Element]] = []
    for entry in root.iter(ATOM + "entry"):
        content = entry.find(ATOM + "content")
        body = next((c for c in content if isinstance(c.tag, str)), None) if content is not None else None
        if body is None:  # no payload (or only a comment)
            continue
        name = etree.QName(body).localname
        selves = _links(entry, "self")
        self_path = _path(selves[0]) if selves else ""
        if name == "UsagePoint":
            kind = _int(body, f"{ESPI}ServiceCategory/{ESPI}kind", 0)
            points[self_path] = (
                entry.findtext(ATOM + "title") or "Service",
                SERVICE_KINDS.get(kind or 0, "electricity"),
            )
        elif name == "ReadingType":
            types[self_path] = body
        elif name == "MeterReading":
            readings.append((entry, body))
        elif name == "IntervalBlock":
            blocks.append((entry, body))
        elif name == "LocalTimeParameters":
            usage.local_time = LocalTime(
                _int(body, ESPI + "tzOffset", 0) or 0,
                _int(body, ESPI + "dstOffset", 0) or 0,
                _hex(body, "dstStartRule"),
                _hex(body, "dstEndRule"),
            )
        elif name == "UsageSummary":
            up = next((p for p in points if self_path.startswith(p + "/")), "")
            usage.bills.append(
                Bill(
                    points.get(up, ("Service", ""))[0],
                    _int(body, f"{ESPI}billingPeriod/{ESPI}start", 0) or 0,
                    _int(body, f"{ESPI}billingPeriod/{ESPI}duration", 0) or 0,
                    _int(body, ESPI + "billLastPeriod"),
                    _int(body, ESPI + "currency"),
                )
            )
    streams: dict[str, Stream] = {}
    for entry, _ in readings:
        self_path = _path(_links(entry, "self")[0]) if _links(entry, "self") else ""
        up_path = _path(_links(entry, "up")[0]).rsplit("/MeterReading", 1)[0] if _links(entry, "up") else ""
        title, commodity = points.get(up_path, ("Service", "electricity"))
        stream = Stream(self_path, title, commodity)
        for href in _links(entry, "related"):
            rt = types.get(_path(href))
            if rt is not None:
                stream.flow = _int(rt, ESPI + "flowDirection", FORWARD) or FORWARD
                stream.uom = _int(rt, ESPI + "uom", 72) or 72
                stream.multiplier = _int(rt, ESPI + "powerOfTenMultiplier", 0) or 0
                if abs(stream.multiplier) > 24:
                    raise NotGreenButton(f"powerOfTenMultiplier {stream.multiplier} is no power ESPI uses")
                stream.currency = _int(rt, ESPI + "currency")
        streams[self_path] = stream
    for entry, body in blocks:
        ups = _links(entry, "up")
        owner = streams.get(_path(ups[0]).rsplit("/IntervalBlock", 1)[0]) if ups else None
        if owner is None:
            continue
        for r in body.iterchildren(_READING):
            _read(r, owner.readings)
    if not streams and not points:
        raise NotGreenButton("the feed holds no usage points: is it a Green Button usage file?")
    usage.streams = list(streams.values())
    return usage


_READING, _PERIOD, _VALUE, _COST, _TOU = (ESPI + n for n in ("IntervalReading", "timePeriod", "value", "cost", "tou"))
_START, _DURATION = ESPI + "start", ESPI + "duration"


def _read(r: etree._Element, into: dict[int, Reading]) -> None:
    """One IntervalReading (its children read in one pass: a year of hourly data is 9,000 of them)."""
    start = duration = value = cost = tou = None
    try:
        for child in r:
            tag = child.tag
            if tag == _PERIOD:
                start, duration = int(child.findtext(_START)), int(child.findtext(_DURATION) or 0)
            elif tag == _VALUE:
                value = int(child.text)
            elif tag == _COST:
                cost = int(child.text)
            elif tag == _TOU:
                tou = int(child.text)
    except (TypeError, ValueError):  # a reading without a number where one belongs is skipped
        return
    if start is not None and value is not None and 0 <= start < MAX_EPOCH and 0 <= (duration or 0) <= 31 * 86400:
        into[start] = Reading(start, duration or 0, value, cost, tou)


def merge(into: Usage, new: Usage) -> Usage:
    """New readings (a notified day, a re-read) added to what was known; the same start replaces."""
    known = {s.key: s for s in into.streams}
    for s in new.streams:
        if s.key in known:
            known[s.key].readings.update(s.readings)
        else:
            into.streams.append(s)
            known[s.key] = s
    seen = {(b.usage_point, b.start) for b in into.bills}
    into.bills += [b for b in new.bills if (b.usage_point, b.start) not in seen]
    return into


def batch_list_uris(data: bytes) -> list[str]:
    """The resources a notification (a BatchList) names; NotGreenButton if it is not one."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError as exc:
        raise NotGreenButton(f"not XML: {exc}") from None
    if root.tag != ESPI + "BatchList":
        raise NotGreenButton("not a BatchList")
    return [(r.text or "").strip() for r in root.iter(ESPI + "resources") if (r.text or "").strip()]
