"""Download My Data: the periods a customer may ask for (one rule for the portal and the CLI),
their Green Button file (XML) or CSV, and importing a Green Button file as their data."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid as uuidlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from sandbox.core.db import Database, bulk_insert, fetch
from sandbox.core.errors import ImportRefused, Refused
from sandbox.core.models import Customer, ImportedReading, ImportedStream, UsagePoint
from sandbox.core.state import Sandbox
from sandbox.espi import codes, forms, urls
from sandbox.espi.atom import FeedWriter
from sandbox.espi.reader import ParsedUsagePoint, read_usage_feed
from sandbox.espi.scopes import EVERYTHING, Content
from sandbox.espi.urls import href
from sandbox.espi.uuids import resource_uuid_str
from sandbox.espi.xmlio import XmlRefused, parse_untrusted, validation_errors
from sandbox.feeds import Urls, UsageFeed
from sandbox.services import quotas, readings
from sandbox.services.notifications import announce
from sandbox.services.readings import History, history, usage_point_history
from sandbox.services.summaries import quantity, quantity_places, unit_label
from sandbox.synth.calendar import local_midnight, month_start, months_back, next_month
from sandbox.synth.usage import Stream
from sandbox.synth.world import UtilityDef, WorldDef

MAX_SPAN_DAYS = 3 * 366  # longest period one file may cover
MAX_IMPORT_BYTES = 32 * 1024 * 1024


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


# --- the period ---------------------------------------------------------------------------

PERIOD_CHOICES = ("last_month", "last_12_months", "custom")


def check_period(h: History, start: dt.date, end: dt.date, max_span_days: int | None = None) -> None:
    """Refused (naming the field) unless start <= day < end lies within the account's data `h`
    and one file's span (MAX_SPAN_DAYS unless given)."""
    span = MAX_SPAN_DAYS if max_span_days is None else max_span_days
    if h.empty:
        raise Refused("There is no data to download yet.", "period")
    if end <= start:
        raise Refused("The end date comes before the start date.", "end")
    last = (h.end - dt.timedelta(days=1)).isoformat()
    available = f"data is available from {h.first.isoformat()} to {last}"
    if start < h.first:
        raise Refused(f"Your data starts on {h.first.isoformat()}: choose a later start date ({available}).", "start")
    if end > h.end:
        raise Refused(f"Your data runs to {last}: choose an earlier end date ({available}).", "end")
    if (end - start).days > span:
        raise Refused(f"A download can cover at most {span} days; this one covers {(end - start).days}.", "end")


def preset_period(choice: str, history: History) -> tuple[dt.date, dt.date] | None:
    """The whole calendar month(s) before the end of the data, clamped to the history; None if empty."""
    ref = month_start(history.end)
    start, end = history.clamp(months_back(ref, 1 if choice == "last_month" else 12), ref)
    return (start, end) if start < end else None


def parse_day(text: str | None, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise Refused(f"{param}: enter a date as YYYY-MM-DD.", param) from None


def dmd_period(
    choice: str | None, start_text: str | None, end_text: str | None, history: History, max_span_days: int | None = None
) -> tuple[dt.date, dt.date]:
    """(start, end exclusive) of the portal's Download My Data form, or Refused naming the bad field.

    `end_text` is the last day wanted (inclusive), as a person writes it.
    """
    if history.empty:
        raise Refused("There is no data to download yet.", "period")
    if choice not in PERIOD_CHOICES:
        raise Refused(f"period must be one of {', '.join(PERIOD_CHOICES)}.", "period")
    if choice != "custom":
        found = preset_period(choice, history)
        if found is None:
            raise Refused("There is no whole month of data yet: choose custom dates.", "period")
        return found
    start = parse_day(start_text, "start")
    last = parse_day(end_text, "end")
    end = min(last, history.end) + dt.timedelta(days=1)  # a later last day is refused as this one (9999-12-31: no next)
    check_period(history, start, end, max_span_days)
    return start, end


def last_month_label(start: dt.date, end: dt.date) -> str:
    if next_month(start) == end and start.day == 1:
        return start.strftime("%B %Y")
    return f"{start.isoformat()} to {(end - dt.timedelta(days=1)).isoformat()}"


# --- the files ----------------------------------------------------------------------------


def readings_held(world: WorldDef, utility: UtilityDef, customer: Customer) -> dict[int, list[Stream]]:
    """The readings each of the customer's usage points can put in its file, by usage point id (the
    net series of a solar home only when asked for: see `NET_CHOICE`)."""
    return {up.id: readings.streams(world, utility, up) for up in customer.usage_points}


# A net series (FB 7: delivered minus received) is derived from the two series every file holds, and
# published Green Button parsers refuse a whole file holding one (greenbutton-objects knows no
# flowDirection 4): a customer's download holds it only when they tick it.
NET_CHOICE = "net"


def _content(net: bool) -> Content:
    return EVERYTHING if net else dataclasses.replace(EVERYTHING, net=False)


def file_name(utility: UtilityDef, customer: Customer, start: dt.date, end: dt.date, ext: str = "xml") -> str:
    last = end - dt.timedelta(days=1)
    return f"GreenButton_{utility.slug}_{customer.uuid[:8]}_{start:%Y%m%d}-{last:%Y%m%d}.{ext}"


def usage_document(
    sb: Sandbox,
    customer_id: int,
    usage_point_ids: Sequence[int] | None,
    start: dt.date,
    end: dt.date,
    with_cost: bool,
    base_url: str,
    net: bool = False,
) -> Iterator[bytes]:
    """The Download My Data feed, streamed; it opens its own database session for as long as it runs.
    `net`: with the net series of homes with generation."""
    world = sb.require_world()
    with sb.db.sessions() as s:
        customer = fetch(s, Customer, customer_id)
        utility = world.utility(customer.utility.slug)
        ups = [up for up in customer.usage_points if usage_point_ids is None or up.id in usage_point_ids]
        links = Urls.for_customer(base_url, utility.slug, customer.uuid)
        feed = UsageFeed(world, utility, links, start, end, with_cost, _content(net))
        chosen = [(up, usage_point_history(world, utility, sb.clock, customer, up)) for up in ups]
        if usage_point_ids is not None and len(ups) == 1 and len(customer.usage_points) > 1:
            self_href = href(
                links.root,
                "BatchRetailCustomerUsagePointOne",
                retail_customer_id=customer.uuid,
                usage_point_id=ups[0].uuid,
            )
        else:
            self_href = href(links.root, "BatchRetailCustomerUsagePoint", retail_customer_id=customer.uuid)
        feed_id = resource_uuid_str(
            world.seed,
            "dmd-feed",
            customer.uuid,
            ",".join(up.uuid for up in ups),
            start.isoformat(),
            end.isoformat(),
            with_cost,
            *(("net",) if net else ()),
        )
        updated = max([feed.span(h).updated for _, h in chosen] or [local_midnight(utility.time_zone, start)])
        writer = FeedWriter("espi")
        yield from writer.feed(feed_id, "Green Button Download My Data", self_href, updated, feed.entries(chosen))


def build_download(
    sb: Sandbox,
    customer: Customer,
    usage_point_ids: list[int],
    start: dt.date,
    end: dt.date,
    with_cost: bool,
    base_url: str,
    h: History | None = None,
    net: bool = False,
) -> Download:
    """The customer's chosen usage points and period as a Green Button file (start, end: local days, end
    exclusive); `h` is the customer's history when the caller has it already."""
    world = sb.require_world()
    utility = world.utility(customer.utility.slug)
    check_period(h or history(world, utility, sb.clock, customer), start, end)
    own = {up.id for up in customer.usage_points}
    chosen = [i for i in usage_point_ids if i in own]
    if not chosen:
        raise Refused("usage_point: choose at least one of your services.", "usage_point")
    # in the utility's own form (ESPI 3.3 at an Ontario utility): any Green Button parser must read it
    chunks = forms.in_form(
        usage_document(sb, customer.id, chosen, start, end, with_cost, base_url, net),
        forms.Form(*utility.profile.behaviour.xml_form),
    )
    return Download(file_name(utility, customer, start, end), "application/atom+xml", iter(chunks))


CSV_HEADER = [
    "usage_point",
    "meter",
    "reading",
    "flow",
    "start",
    "end",
    "duration_seconds",
    "quantity",
    "unit",
    "cost",
    "currency",
    "quality",
]


def usage_csv(
    sb: Sandbox,
    customer_id: int,
    usage_point_ids: Sequence[int],
    start: dt.date,
    end: dt.date,
    with_cost: bool,
    net: bool = False,
) -> Iterator[str]:
    """Every reading of the customer's chosen usage points over local days start <= day < end, one CSV
    row each, streamed; like `usage_document` it opens its own database session for as long as it runs
    (imported readings are read through it, after the request that asked has ended).

    Times are local ISO 8601 with their offset; quantities in the billing unit; cost in the
    currency with five decimals (the file's 1e-5 units) or empty without cost. Text cells that a
    spreadsheet would run as a formula are neutralised (`text_cell`); numbers stay numbers.
    """
    world = sb.require_world()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    w.writerow(CSV_HEADER if with_cost else [c for c in CSV_HEADER if c not in ("cost", "currency")])
    yield flush()
    with sb.db.sessions() as s:
        customer = fetch(s, Customer, customer_id)
        utility = world.utility(customer.utility.slug)
        tz = ZoneInfo(utility.time_zone)
        wanted = set(usage_point_ids)
        for up in [up for up in customer.usage_points if up.id in wanted]:
            for stream in readings.streams(world, utility, up):
                if stream.flow == "net" and not net:
                    continue
                series = readings.series(world, utility, up, stream.key, start, end, cost=with_cost, session=s)
                places = quantity_places(stream)
                texts = [text_cell(t) for t in (up.label, up.meter_serial, stream.title, stream.flow)]
                unit = text_cell(unit_label(stream))
                for i in range(len(series)):
                    t0 = int(series.starts[i])
                    dur = int(series.durations[i])
                    row: list[str | int] = [
                        *texts,
                        dt.datetime.fromtimestamp(t0, tz).isoformat(),
                        dt.datetime.fromtimestamp(t0 + dur, tz).isoformat(),
                        dur,
                        f"{quantity(int(series.values[i]), stream):.{places}f}",
                        unit,
                    ]
                    if with_cost:
                        row += [
                            "" if series.costs is None else f"{Decimal(int(series.costs[i])) / 100000:.5f}",
                            text_cell(utility.currency),
                        ]
                    row.append("estimated" if int(series.qualities[i]) else "measured")
                    w.writerow(row)
                yield flush()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A CSV text cell as a spreadsheet shows it, never as a formula: one that begins with = + - @
    (or a tab or carriage return) gets a leading single quote (OWASP, CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


# --- importing ----------------------------------------------------------------------------


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
    Readings are kept as the file gives them. Third parties sharing the usage points uploaded are notified in the same transaction.
    """
    parsed = parse_green_button(data)
    world = sb.require_world()
    return store_usage_points(sb.db, world.seed, customer.id, parsed, sb.base_url(), sb.clock.now())


def store_usage_points(
    db: Database,
    seed: int,
    customer_id: int,
    parsed: list[ParsedUsagePoint],
    base_url: str | None = None,
    at: dt.datetime | None = None,
) -> ImportSummary:
    """Store the usage points in one transaction; with `base_url` and `at`, third parties sharing
    them are notified in the same transaction."""
    replaced = readings = 0
    touched: list[int] = []
    starts = [r.start for p in parsed for ps in p.streams for r in ps.readings]
    ends = [r.start + r.duration for p in parsed for ps in p.streams for r in ps.readings]
    with db.transaction() as s:
        customer = fetch(s, Customer, customer_id)
        number = (s.scalar(select(func.max(UsagePoint.number)).where(UsagePoint.customer_id == customer.id)) or 0) + 1
        for p in parsed:
            existing = s.scalars(
                select(UsagePoint).where(
                    UsagePoint.customer_id == customer.id,
                    UsagePoint.source_uuid.is_not(None),
                    or_(UsagePoint.source_uuid == p.uuid, UsagePoint.uuid == p.uuid),
                )
            ).first()
            if existing is not None:
                up = existing
                up.imported_streams.clear()
                s.flush()
                replaced += 1
            else:
                own = _name_based(p.uuid)
                if own is None or s.scalars(select(UsagePoint.id).where(UsagePoint.uuid == own)).first() is not None:
                    own = resource_uuid_str(seed, "imported", customer.uuid, p.uuid, number)
                up = UsagePoint(
                    customer_id=customer.id,
                    number=number,
                    params={},
                    uuid=own,
                    source_uuid=p.uuid,
                    commodity=codes.SERVICE_KIND_NAMES.get(p.service_kind or 0, "electricity"),
                    label=p.title or "Imported service",
                    meter_serial="imported",
                )
                number += 1
                s.add(up)
            up.service_kind = p.service_kind
            up.label = p.title or up.label
            s.flush()
            for n, ps in enumerate(p.streams):
                stream = ImportedStream(
                    usage_point_id=up.id,
                    number=n,
                    uuid=resource_uuid_str(seed, "imported-mr", up.uuid, ps.uuid, n),
                    title=ps.title,
                    reading_type=ps.reading_type,
                    reading_type_uuid=resource_uuid_str(seed, "imported-rt", up.uuid, ps.reading_type_uuid, n),
                )
                s.add(stream)
                s.flush()
                bulk_insert(
                    s,
                    ImportedReading.__table__,
                    [
                        {
                            "stream_id": stream.id,
                            "start": r.start,
                            "duration": r.duration,
                            "value": r.value,
                            "cost": r.cost,
                            "quality": r.quality,
                        }
                        for r in ps.readings
                    ],
                )
                readings += len(ps.readings)
            touched.append(up.id)
        s.flush()
        quotas.check(s, "imported_readings", 0)  # the readings the sandbox holds with these (the replaced gone)
        if base_url is not None and at is not None and starts:
            announce.uploaded(
                s, customer.id, touched, min(starts), max(ends), urls.resource_root(base_url, customer.utility.slug), at
            )
    return ImportSummary(len(parsed), readings, replaced)
