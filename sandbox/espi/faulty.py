"""Faulty ESPI documents, made on purpose (the document scenarios of services.faults, whose table
names the function each uses): each function takes a well-formed feed and breaks it one way. Pure lxml: the
sandbox writes the document as always, and only a call that asked for a fault is rewritten."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Callable, Iterable

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"


def _entries(root, resource: str) -> list:
    return [
        e
        for e in root.iter(ATOM + "entry")
        if (c := e.find(ATOM + "content")) is not None and len(c) and etree.QName(c[0]).localname == resource
    ]


def _first(root, resource: str):
    found = _entries(root, resource)
    return found[0] if found else None


def _readings(root) -> list:
    return list(root.iter(ESPI + "IntervalReading"))


def remove_entry(root, resource: str) -> None:
    e = _first(root, resource)
    if e is not None:
        e.getparent().remove(e)


def duplicate(root, resource: str) -> None:
    e = _first(root, resource)
    if e is not None:
        e.addnext(copy.deepcopy(e))


def break_uplink(root, resource: str) -> None:
    e = _first(root, resource)
    if e is not None:
        for link in e.findall(ATOM + "link"):
            if link.get("rel") == "up":
                link.set("href", link.get("href", "").rstrip("/") + "-nowhere")


def local_as_utc(root) -> None:
    """Every reading and block start moved by the standard offset, as if local times were UTC."""
    ltp = next(root.iter(ESPI + "tzOffset"), None)
    offset = int(ltp.text) if ltp is not None and ltp.text else -18000
    for period in root.iter(ESPI + "timePeriod", ESPI + "interval"):
        start = period.find(ESPI + "start")
        if start is not None and start.text:
            start.text = str(int(start.text) + offset)


def duplicate_hour(root) -> None:
    rs = _readings(root)
    if len(rs) > 2:
        rs[1].addnext(copy.deepcopy(rs[1]))


def missing_hour(root) -> None:
    rs = _readings(root)
    if len(rs) > 2:
        rs[1].getparent().remove(rs[1])


def wrong_multiplier(root) -> None:
    for m in root.iter(ESPI + "powerOfTenMultiplier"):
        m.text = str(int(m.text or 0) + 3)


def decimal_values(root) -> None:
    for v in root.iter(ESPI + "value"):
        if v.getparent().tag == ESPI + "IntervalReading" and v.text:
            v.text = f"{int(v.text)}.5"


def unknown_uom(root) -> None:
    for u in root.iter(ESPI + "uom"):
        u.text = "999"


def gap_days(root) -> None:
    blocks = _entries(root, "IntervalBlock")
    if len(blocks) >= 3:
        victim = blocks[len(blocks) // 2]
        victim.getparent().remove(victim)


def late_revision(root) -> None:
    """The last block's values 5% higher and its `updated` a day later; `published` as it was."""
    blocks = _entries(root, "IntervalBlock")
    if not blocks:
        return
    e = blocks[-1]
    for v in e.iter(ESPI + "value"):
        if v.getparent().tag == ESPI + "IntervalReading" and v.text:
            v.text = str(round(int(v.text) * 1.05))
    updated = e.find(ATOM + "updated")
    if updated is not None and updated.text:
        when = dt.datetime.fromisoformat(updated.text.replace("Z", "+00:00")) + dt.timedelta(days=1)
        updated.text = when.strftime("%Y-%m-%dT%H:%M:%SZ")


def rewrite(document: bytes, steps: Iterable[tuple[Callable[..., None], str]]) -> bytes:
    """The document with each (function of this module, argument) applied in order: `fn(root, argument)`,
    or `fn(root)` for none. Which scenario uses which function is the fault table's (services.faults)."""
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    for fn, arg in steps:
        fn(root, arg) if arg else fn(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
