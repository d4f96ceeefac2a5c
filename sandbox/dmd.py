"""Download My Data: a customer's Green Button file, and importing one as their data."""
from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from dataclasses import dataclass
from typing import Iterator, Sequence

from sqlalchemy import func, or_, select

from . import Sandbox
from .db import Database, bulk_insert
from .espi import codes
from .espi.atom import FeedWriter
from .espi.reader import ParsedUsagePoint, read_usage_feed
from .espi.uuids import resource_uuid_str
from .espi.xmlio import XmlRefused, parse_untrusted, validation_errors
from .feeds import Urls, UsageFeed
from .models import Customer, ImportedReading, ImportedStream, UsagePoint
from .readings import History, history, usage_point_history
from .synth.calendar import local_midnight
from .synth.world import UtilityDef

MAX_SPAN_DAYS = 3 * 366  # longest period one file may cover
MAX_IMPORT_BYTES = 32 * 1024 * 1024


class PeriodError(ValueError):
    """A requested period the customer's data cannot give."""


class ImportRefused(ValueError):
    """A file that was not imported; nothing was stored."""


@dataclass
class Download:
    filename: str
    content_type: str
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class ImportSummary:
    usage_points: int
    readings: int
    replaced: int  # usage points that existed (same id) and were updated


def check_period(h: History, start: dt.date, end: dt.date) -> None:
    """PeriodError unless start <= day < end lies within the account's data `h` and one file's span."""
    if end <= start:
        raise PeriodError("the end date must be after the start date")
    if h.empty:
        raise PeriodError("there is no data for this account yet")
    if start < h.first or end > h.end:
        last = h.end - dt.timedelta(days=1)
        raise PeriodError(f"data is available from {h.first.isoformat()} to {last.isoformat()}; "
                          "choose dates in that range")
    if (end - start).days > MAX_SPAN_DAYS:
        raise PeriodError(f"one file covers at most {MAX_SPAN_DAYS} days; choose a shorter period")


def file_name(utility: UtilityDef, customer: Customer, start: dt.date, end: dt.date, ext: str = "xml") -> str:
    last = end - dt.timedelta(days=1)
    return f"GreenButton_{utility.slug}_{customer.uuid[:8]}_{start:%Y%m%d}-{last:%Y%m%d}.{ext}"


def usage_document(sb: Sandbox, customer_id: int, usage_point_ids: Sequence[int] | None, start: dt.date,
                   end: dt.date, with_cost: bool, base_url: str) -> Iterator[bytes]:
    """The Download My Data feed, streamed; it opens its own database session for as long as it runs."""
    world = sb.require_world()
    with sb.db.sessions() as s:
        customer = s.get(Customer, customer_id)
        utility = world.utility(customer.utility.slug)
        ups = [up for up in customer.usage_points if usage_point_ids is None or up.id in usage_point_ids]
        urls = Urls.for_customer(base_url, utility.slug, customer.uuid)
        feed = UsageFeed(world, utility, urls, start, end, with_cost)
        chosen = [(up, usage_point_history(world, utility, sb.clock, customer, up)) for up in ups]
        self_href = f"{urls.root}/Batch/RetailCustomer/{customer.uuid}/UsagePoint"
        if usage_point_ids is not None and len(ups) == 1 and len(customer.usage_points) > 1:
            self_href += f"/{ups[0].uuid}"
        feed_id = resource_uuid_str(world.seed, "dmd-feed", customer.uuid, ",".join(up.uuid for up in ups),
                                    start.isoformat(), end.isoformat(), with_cost)
        updated = max([feed.span(h).updated for _, h in chosen] or [local_midnight(utility.time_zone, start)])
        writer = FeedWriter("espi")
        yield from writer.feed(feed_id, "Green Button Download My Data", self_href, updated, feed.entries(chosen))


def build_download(sb: Sandbox, customer: Customer, usage_point_ids: list[int], start: dt.date, end: dt.date,
                   with_cost: bool, base_url: str, h: History | None = None) -> Download:
    """The customer's chosen usage points and period as a Green Button file (start, end: local days, end
    exclusive); `h` is the customer's history when the caller has it already."""
    world = sb.require_world()
    utility = world.utility(customer.utility.slug)
    check_period(h or history(world, utility, sb.clock, customer), start, end)
    own = {up.id for up in customer.usage_points}
    chosen = [i for i in usage_point_ids if i in own]
    if not chosen:
        raise PeriodError("choose at least one of your services")
    return Download(file_name(utility, customer, start, end), "application/atom+xml",
                    usage_document(sb, customer.id, chosen, start, end, with_cost, base_url))


def parse_green_button(data: bytes) -> list[ParsedUsagePoint]:
    """Usage points of a Green Button file, or ImportRefused naming what is wrong."""
    try:
        root = parse_untrusted(data, MAX_IMPORT_BYTES)
        errors = validation_errors(root)
        if errors:
            raise XmlRefused("the file is not valid Green Button (ESPI 4.0) XML: " + "; ".join(errors))
        return read_usage_feed(root)
    except XmlRefused as exc:
        raise ImportRefused(str(exc)) from None


def _name_based(text: str) -> str | None:
    """The id itself if it is a name-based (version 3 or 5) UUID, as Green Button ids must be."""
    try:
        u = uuidlib.UUID(text)
    except ValueError:
        return None
    return str(u) if u.version in (3, 5) else None


def import_green_button(sb: Sandbox, customer: Customer, data: bytes) -> ImportSummary:
    """Store a Green Button file's usage points as the customer's, in one transaction.

    A usage point the customer imported before under the same id is replaced (re-uploading
    a file updates instead of duplicating). Ids are kept when they are version 3 or 5
    UUIDs not used elsewhere; otherwise the sandbox derives version-5 ids from them.
    Readings are kept as the file gives them.
    """
    parsed = parse_green_button(data)
    world = sb.require_world()
    return store_usage_points(sb.db, world.seed, customer.id, parsed)


def store_usage_points(db: Database, seed: int, customer_id: int, parsed: list[ParsedUsagePoint]) -> ImportSummary:
    replaced = readings = 0
    with db.transaction() as s:
        customer = s.get(Customer, customer_id)
        number = (s.scalar(select(func.max(UsagePoint.number)).where(UsagePoint.customer_id == customer.id)) or 0) + 1
        for p in parsed:
            existing = s.scalars(select(UsagePoint).where(
                UsagePoint.customer_id == customer.id, UsagePoint.source_uuid.is_not(None),
                or_(UsagePoint.source_uuid == p.uuid, UsagePoint.uuid == p.uuid))).first()
            if existing is not None:
                up = existing
                up.imported_streams.clear()
                s.flush()
                replaced += 1
            else:
                own = _name_based(p.uuid)
                if own is None or s.scalars(select(UsagePoint.id).where(UsagePoint.uuid == own)).first() is not None:
                    own = resource_uuid_str(seed, "imported", customer.uuid, p.uuid, number)
                up = UsagePoint(customer_id=customer.id, number=number, params={}, uuid=own, source_uuid=p.uuid,
                                commodity=codes.SERVICE_KIND_NAMES.get(p.service_kind, "electricity"),
                                label=p.title or "Imported service", meter_serial="imported")
                number += 1
                s.add(up)
            up.service_kind = p.service_kind
            up.label = p.title or up.label
            s.flush()
            for n, ps in enumerate(p.streams):
                stream = ImportedStream(usage_point_id=up.id, number=n,
                                        uuid=resource_uuid_str(seed, "imported-mr", up.uuid, ps.uuid, n),
                                        title=ps.title, reading_type=ps.reading_type,
                                        reading_type_uuid=resource_uuid_str(seed, "imported-rt", up.uuid,
                                                                            ps.reading_type_uuid, n))
                s.add(stream)
                s.flush()
                bulk_insert(s, ImportedReading.__table__, [
                    {"stream_id": stream.id, "start": r.start, "duration": r.duration, "value": r.value,
                     "cost": r.cost, "quality": r.quality} for r in ps.readings])
                readings += len(ps.readings)
    return ImportSummary(len(parsed), readings, replaced)
