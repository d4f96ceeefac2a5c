"""An independent reader of ESPI documents for tests: the vendored ESPI schemas (4.0, and 3.3 for output in that
version), plus what they cannot check.

Written from ESPI.md sections 3 and 11, not from the writers' code.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from lxml import etree

TESTS = Path(__file__).resolve().parents[1]
# the official XSD files as the package vendors them (read here with a resolver of our own, not sandbox's loader)
SCHEMA_DIR = TESTS.parent / "sandbox" / "espi" / "schema"
SCHEMA_DIRS = {"4.0": SCHEMA_DIR, "3.3": SCHEMA_DIR / "v3.3"}  # each with its own xml.xsd and wrapper
SAMPLES = TESTS / "samples"  # published sample files, sources in tests/samples/SOURCES.md
_XML_XSD_URLS = (
    "https://www.w3.org/2001/03/xml.xsd",
    "http://www.w3.org/2001/03/xml.xsd",
    "http://www.w3.org/2001/xml.xsd",
)
ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
CUST = "{http://naesb.org/espi/customer}"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class _LocalXmlXsd(etree.Resolver):
    """atom.xsd imports the W3C xml.xsd by URL: answer with the local copy, never the network."""

    def __init__(self, folder: Path = SCHEMA_DIR):
        super().__init__()
        self.folder = folder

    def resolve(self, url, pubid, context):
        if url in _XML_XSD_URLS:
            return self.resolve_filename(str(self.folder / "xml.xsd"), context)
        return None


@lru_cache(maxsize=None)
def espi_schema(version: str = "4.0") -> etree.XMLSchema:
    """atom.xsd + espi.xsd + customer.xsd of one ESPI version through gb-feed-wrapper.xsd, as one schema set."""
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalXmlXsd(SCHEMA_DIRS[version]))
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIRS[version] / "gb-feed-wrapper.xsd"), parser))


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))


def assert_valid(root: etree._Element, version: str = "4.0") -> None:
    schema = espi_schema(version)
    if not schema.validate(root):
        errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
        raise AssertionError("schema: " + "; ".join(errors))


def kind(entry) -> str:
    return etree.QName(entry.find(ATOM + "content")[0]).localname


def links(entry, rel):
    return [link.get("href") for link in entry.findall(ATOM + "link") if link.get("rel") == rel]


def check_feed(
    root: etree._Element, prefix: str = "espi", related_resolve: bool = True, version: str = "4.0"
) -> dict[str, list]:
    """Every structural rule (`prefix` names the payloads' namespace: espi or cust); returns entries
    grouped by resource kind."""
    assert_valid(root, version)
    assert root.tag == ATOM + "feed"
    for name in ("id", "title", "updated"):
        assert root.find(ATOM + name) is not None, f"feed {name}"
    assert links(root, "self"), "feed self link"
    entries = root.findall(ATOM + "entry")
    ids, selves, ups = set(), {}, set()
    by_kind: dict[str, list] = defaultdict(list)
    for pos, e in enumerate(entries):
        ident = e.findtext(ATOM + "id")
        assert ident.startswith("urn:uuid:"), ident
        assert uuid.UUID(ident[9:]).version in (3, 5), ident
        assert ident not in ids, f"duplicate id {ident}"
        ids.add(ident)
        for name in ("title", "published", "updated"):
            assert e.find(ATOM + name) is not None, f"{ident} lacks {name}"
        assert ISO.match(e.findtext(ATOM + "published")) and ISO.match(e.findtext(ATOM + "updated"))
        children = [c.tag for c in e]
        link_pos = [i for i, t in enumerate(children) if t == ATOM + "link"]
        assert link_pos == list(range(link_pos[0], link_pos[0] + len(link_pos))) and len(link_pos) >= 2, (
            "adjacent links"
        )
        (self_href,), (up_href,) = links(e, "self"), links(e, "up")
        assert self_href not in selves, f"duplicate self {self_href}"
        assert up_href == self_href.rsplit("/", 1)[0], (self_href, up_href)
        content = e.find(ATOM + "content")
        assert len(content) == 1
        ns = CUST if prefix == "cust" else ESPI
        assert content[0].tag.startswith(ns), content[0].tag
        selves[self_href] = pos
        ups.add(up_href)
        by_kind[kind(e)].append(e)
    for e in entries if related_resolve else []:
        for href in links(e, "related"):
            assert href in selves or href in ups, f"related {href} resolves to nothing in the document"
    return by_kind


def check_usage_structure(by_kind: dict[str, list], root: etree._Element) -> None:
    entries = root.findall(ATOM + "entry")
    position = {links(e, "self")[0]: i for i, e in enumerate(entries)}
    for up in by_kind.get("UsagePoint", []):
        rel = links(up, "related")
        assert any(h.endswith("/MeterReading") for h in rel) and any("/LocalTimeParameters/" in h for h in rel)
        assert up.find(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind") is not None
    for mr in by_kind.get("MeterReading", []):
        rel = links(mr, "related")
        rts = [h for h in rel if "/ReadingType/" in h]
        assert len(rts) == 1 and rts[0] in position, "MeterReading names exactly one ReadingType in the feed"
        assert any(h.endswith("/IntervalBlock") for h in rel)
        # parents before children
        mr_self = links(mr, "self")[0]
        assert position[mr_self.rsplit("/MeterReading/", 1)[0]] < position[mr_self]
        assert position[rts[0]] < min(
            [
                position[links(b, "self")[0]]
                for b in by_kind.get("IntervalBlock", [])
                if links(b, "self")[0].startswith(mr_self + "/")
            ]
            or [10**9]
        )
    for s in by_kind.get("UsageSummary", []):
        c = s.find(f"{ATOM}content/{ESPI}UsageSummary")
        assert c.find(f"{ESPI}billingPeriod/{ESPI}start") is not None and c.find(f"{ESPI}statusTimeStamp") is not None
        m = c.find(f"{ESPI}overallConsumptionLastPeriod")
        assert all(m.find(ESPI + n) is not None for n in ("powerOfTenMultiplier", "uom", "value"))
        assert len(links(s, "related")) == 1 and links(s, "related")[0] in position


def reading_type_of(mr, root) -> dict[str, int]:
    href = [h for h in links(mr, "related") if "/ReadingType/" in h][0]
    for e in root.findall(ATOM + "entry"):
        if links(e, "self")[0] == href:
            return {
                etree.QName(c).localname: int(c.text)
                for c in e.find(f"{ATOM}content/{ESPI}ReadingType")
                if c.text and c.text.lstrip("-").isdigit()
            }
    raise AssertionError(href)


def blocks_of(mr, by_kind) -> list:
    prefix = links(mr, "self")[0] + "/IntervalBlock/"
    return [b for b in by_kind.get("IntervalBlock", []) if links(b, "self")[0].startswith(prefix)]


def readings_of(block) -> list[dict]:
    """[{start, duration, value, cost?, quality?}] of one IntervalBlock, checking the block interval."""
    ib = block.find(f"{ATOM}content/{ESPI}IntervalBlock")
    out = []
    for r in ib.findall(ESPI + "IntervalReading"):
        row = {
            "start": int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")),
            "duration": int(r.findtext(f"{ESPI}timePeriod/{ESPI}duration")),
            "value": int(r.findtext(ESPI + "value")),
        }
        if r.find(ESPI + "cost") is not None:
            row["cost"] = int(r.findtext(ESPI + "cost"))
        q = r.find(f"{ESPI}ReadingQuality/{ESPI}quality")
        if q is not None:
            row["quality"] = int(q.text)
        out.append(row)
    start = int(ib.findtext(f"{ESPI}interval/{ESPI}start"))
    duration = int(ib.findtext(f"{ESPI}interval/{ESPI}duration"))
    assert out, "a block holds readings"
    assert start == out[0]["start"] and start + duration == out[-1]["start"] + out[-1]["duration"]
    assert all(a["start"] + a["duration"] <= b["start"] for a, b in zip(out, out[1:])), "ordered, not overlapping"
    return out


def all_text(root) -> str:
    return " ".join(t for t in root.itertext()) + " " + " ".join(v for el in root.iter() for v in el.attrib.values())
