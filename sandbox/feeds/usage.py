"""Turning the world's usage points into ESPI entries (the what) for the espi writers (the how).

Ids are version-5 UUIDs of each resource's identity; URLs are `{R}` (the utility's
resource endpoint) and `{P}` (RetailCustomer/{id} for Download My Data,
Subscription/{id} for Connect My Data). Times are taken from the data, not the wall
clock: a day's IntervalBlock is published at the end of that day, so the same data
gives the same bytes whenever it is downloaded.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Mapping, Sequence

import numpy as np

from sandbox.core.models import UsagePoint
from sandbox.espi import codes, urls
from sandbox.espi.atom import BlockRun, Entry, Link, ReadingRun
from sandbox.espi.dst import local_time
from sandbox.espi.resources import (
    interval_readings,
    local_time_parameters,
    meter_reading,
    period_texts,
    reading_type,
    usage_point,
    usage_summary,
)
from sandbox.espi.scopes import EVERYTHING, Content
from sandbox.espi.urls import INTERVAL_BLOCKS, METER_READINGS, USAGE_POINTS, USAGE_SUMMARIES, below, href
from sandbox.espi.uuids import resource_uuid_str, uuid_family
from sandbox.services.readings import History, bills, imported_stream, quality_of, series, streams
from sandbox.synth.bills import billed_months
from sandbox.synth.calendar import local_midnight
from sandbox.synth.usage import Series, Stream
from sandbox.synth.world import UtilityDef, WorldDef


@dataclass(frozen=True)
class Urls:
    root: str  # {R}: .../dc/<slug>/espi/1_1/resource
    parent: str  # {P}: {R}/RetailCustomer/<id> or {R}/Subscription/<id>

    @classmethod
    def for_customer(cls, base_url: str, slug: str, customer_uuid: str) -> "Urls":
        root = urls.resource_root(base_url, slug)
        return cls(root, urls.href(root, "RetailCustomer", retail_customer_id=customer_uuid))


def ltp_uuid(world: WorldDef, utility: UtilityDef) -> str:
    return resource_uuid_str(world.seed, utility.slug, "local-time-parameters")


def meter_reading_uuid(world: WorldDef, up: UsagePoint, stream: Stream) -> str:
    if up.imported:
        return imported_stream(up, stream.key).uuid
    return resource_uuid_str(world.seed, "usage-point", up.uuid, "meter-reading", stream.key)


def reading_type_uuid(world: WorldDef, utility: UtilityDef, up: UsagePoint, stream: Stream) -> str:
    if up.imported:
        return imported_stream(up, stream.key).reading_type_uuid
    return resource_uuid_str(world.seed, utility.slug, "reading-type", stream.key, stream.interval, stream.unit)


def summary_uuid(world: WorldDef, up_uuid: str, month: dt.date) -> str:
    return resource_uuid_str(world.seed, "usage-summary", up_uuid, month.isoformat())


def reading_type_fields(utility: UtilityDef, up: UsagePoint, stream: Stream) -> Mapping[str, object]:
    if up.imported:
        return dict(imported_stream(up, stream.key).reading_type)
    return codes.reading_type(
        stream.commodity, stream.flow, stream.unit, stream.multiplier, stream.interval, utility.currency
    )


def service_kind(up: UsagePoint) -> int:
    if up.imported and up.service_kind is not None:
        return up.service_kind
    return codes.SERVICE_KIND[up.commodity]


def local_time_entry(world: WorldDef, utility: UtilityDef, root: str, published: int, year: int) -> Entry:
    """The utility's LocalTimeParameters (its DST rules of `year`)."""
    ltp = ltp_uuid(world, utility)
    lt = local_time(utility.time_zone, year)
    return Entry(
        "LocalTimeParameters",
        ltp,
        href(root, "LocalTimeParameters", local_time_parameters_id=ltp),
        href(root, "LocalTimeParametersList"),
        f"{utility.time_zone} local time",
        published,
        published,
        lambda: local_time_parameters(lt),
        structural=True,
    )


@dataclass(frozen=True)
class Span:
    """One usage point's days in a feed (the requested days clamped to its data), and the times
    its parent entries carry: published at the first day's start, updated at the last day's end."""

    start: dt.date
    end: dt.date
    published: int
    updated: int


USAGE_KINDS = frozenset(
    {"UsagePoint", "LocalTimeParameters", "MeterReading", "ReadingType", "IntervalBlock", "UsageSummary"}
)


class UsageFeed:
    """The entries of one customer's usage points over local days start <= day < end.

    Each usage point comes with its History (readings.usage_point_history); the period is
    clamped to it, so a feed never claims data that does not exist. `content` is what the
    scope grants (streams, cost, summaries, block length); `kinds` limits the entries made to
    those a request needs (a UsagePoint entry needs no readings computed).
    """

    def __init__(
        self,
        world: WorldDef,
        utility: UtilityDef,
        urls: Urls,
        start: dt.date,
        end: dt.date,
        with_cost: bool = True,
        content: Content = EVERYTHING,
        kinds: frozenset[str] = USAGE_KINDS,
        sent: set[str] | None = None,
    ):
        self.world, self.utility, self.urls = world, utility, urls
        self.start, self.end = start, end
        self.content = content
        self.with_cost = with_cost and content.interval_cost
        self.summary_cost = with_cost and content.summary_cost
        self.kinds = kinds
        self.tz = utility.time_zone
        # shared entries (LocalTimeParameters, ReadingType) already in the document; feeds writing
        # into one document (a bulk request's subscriptions) share the set
        self._sent: set[str] = set() if sent is None else sent

    def span(self, history: History) -> Span:
        start, end = history.clamp(self.start, self.end)
        end = max(end, start)
        return Span(start, end, local_midnight(self.tz, start), local_midnight(self.tz, end))

    def entries(self, ups: Sequence[tuple[UsagePoint, History]]) -> Iterator[Entry | BlockRun]:
        for up, h in ups:
            yield from self.usage_point_entries(up, h)

    def streams(self, up: UsagePoint) -> list[Stream]:
        """The usage point's streams the scope grants."""
        return [
            st
            for st in streams(self.world, self.utility, up)
            if self.content.serves(st.commodity, st.flow, st.interval)
        ]

    def usage_point_entries(self, up: UsagePoint, history: History) -> Iterator[Entry | BlockRun]:
        span = self.span(history)
        urls, world, utility, kinds = self.urls, self.world, self.utility, self.kinds
        up_href = below(urls.parent, USAGE_POINTS, up.uuid)
        ltp = ltp_uuid(world, utility)
        its_streams = self.streams(up)
        has_summaries = (
            self.content.summaries
            and not up.imported
            and bool(its_streams)
            and billed_months(span.start, span.end) is not None
        )
        mr_collection = below(up_href, METER_READINGS)
        related = [Link("related", mr_collection, "espi-feed/MeterReading")]
        related += [
            Link("related", below(mr_collection, meter_reading_uuid(world, up, st)), "espi-entry/MeterReading")
            for st in its_streams
        ]
        if has_summaries:
            related.append(Link("related", below(up_href, USAGE_SUMMARIES), "espi-feed/UsageSummary"))
        related.append(
            Link(
                "related",
                href(urls.root, "LocalTimeParameters", local_time_parameters_id=ltp),
                "espi-entry/LocalTimeParameters",
            )
        )
        kind = service_kind(up)
        tariff = utility.tariffs.get(up.commodity) if not up.imported else None
        if "UsagePoint" in kinds:
            yield Entry(
                "UsagePoint",
                up.uuid,
                up_href,
                below(urls.parent, USAGE_POINTS),
                up.label,
                span.published,
                span.updated,
                lambda: usage_point(kind, 1, tariff.name if tariff else None),
                related,
                structural=True,
            )
        if ltp not in self._sent and "LocalTimeParameters" in kinds:
            self._sent.add(ltp)
            yield local_time_entry(
                world, utility, urls.root, span.published, max(span.end - dt.timedelta(days=1), span.start).year
            )
        if not kinds & {"MeterReading", "ReadingType", "IntervalBlock", "UsageSummary"}:
            return
        computed: dict[str, Series] = {}
        for stream in its_streams:
            yield from self._meter_reading_entries(up, up_href, stream, span, computed)
        if has_summaries and "UsageSummary" in kinds:
            yield from self._summary_entries(up, up_href, its_streams[0], span, computed)

    def _meter_reading_entries(
        self, up: UsagePoint, up_href: str, stream: Stream, span: Span, computed: dict[str, Series]
    ) -> Iterator[Entry | BlockRun]:
        urls, world, kinds = self.urls, self.world, self.kinds
        mr = meter_reading_uuid(world, up, stream)
        rt = reading_type_uuid(world, self.utility, up, stream)
        mr_href = below(up_href, METER_READINGS, mr)
        if kinds & {"MeterReading", "IntervalBlock", "UsageSummary"}:
            data = computed[stream.key] = series(
                world,
                self.utility,
                up,
                stream.key,
                span.start,
                span.end,
                cost=self.with_cost or self.summary_cost or not up.imported,
                computed=computed,
            )
            key = (
                None
                if up.imported
                else (
                    json.dumps(up.params, sort_keys=True),
                    quality_of(world, up.customer),
                    stream.key,
                    span.start,
                    span.end,
                    self.with_cost,
                    self.content.block,
                )
            )
            run = self._block_run(mr, mr_href, data, key)
        else:
            run = None
        if "MeterReading" in kinds:
            ib_collection = below(mr_href, INTERVAL_BLOCKS)
            links = [Link("related", ib_collection, "espi-feed/IntervalBlock")]
            if run is not None:
                links += [Link("related", below(ib_collection, b), "espi-entry/IntervalBlock") for b in run.uuids]
            links.append(Link("related", href(urls.root, "ReadingType", reading_type_id=rt), "espi-entry/ReadingType"))
            yield Entry(
                "MeterReading",
                mr,
                mr_href,
                below(up_href, METER_READINGS),
                stream.title,
                span.published,
                span.updated,
                meter_reading,
                links,
                structural=True,
            )
        if rt not in self._sent and "ReadingType" in kinds:
            self._sent.add(rt)
            fields = reading_type_fields(self.utility, up, stream)
            yield Entry(
                "ReadingType",
                rt,
                href(urls.root, "ReadingType", reading_type_id=rt),
                href(urls.root, "ReadingTypes"),
                _reading_type_title(stream),
                span.published,
                span.published,
                lambda: reading_type(fields),
                structural=True,
            )
        if run is not None and len(run) and "IntervalBlock" in kinds:
            yield run

    def _block_run(self, mr: str, mr_href: str, data: Series, key: tuple | None = None) -> BlockRun:
        """The MeterReading's IntervalBlocks, one per local day (or week, or month: the scope's
        BlockDuration) with readings, as one run. `key` names what the synthetic data is made of (the
        usage point's parameters, its customer's data quality, the stream, the days, cost, block length),
        None for imported data."""
        priced = data.costs is not None and self.with_cost
        made: list[ReadingRun] = []

        def readings() -> ReadingRun:
            if not made:  # the whole stream at once, on first use
                periods = (
                    period_texts(data.grid, data.positions)
                    if data.grid is not None and data.positions is not None
                    else None
                )
                made.append(
                    interval_readings(
                        data.starts,
                        data.durations,
                        data.values,
                        data.qualities,
                        data.costs if priced else None,
                        data.tou if priced else None,
                        data.tiers if priced else None,
                        periods,
                    )
                )
            return made[0]

        block_id = uuid_family(self.world.seed, "interval-block", mr)
        groups = _group_days([(day, a, b) for day, a, b in data.days if a < b], self.content.block)
        if not groups:
            return BlockRun(below(mr_href, INTERVAL_BLOCKS), [], [], [], [], readings)
        first = np.array([a for _, _, a, _ in groups])
        last = np.array([b - 1 for _, _, _, b in groups])
        windows = zip(data.starts[first].tolist(), (data.starts[last] + data.durations[last]).tolist())
        return BlockRun(
            below(mr_href, INTERVAL_BLOCKS),
            [block_id(name) for name, _, _, _ in groups],
            list(windows),
            [_day_facts(self.tz, day)[1] for _, day, _, _ in groups],
            [(a, b) for _, _, a, b in groups],
            readings,
            key=key,
        )

    def _summary_entries(
        self, up: UsagePoint, up_href: str, stream: Stream, span: Span, computed: dict[str, Series]
    ) -> Iterator[Entry]:
        """Monthly bills, measured in the usage point's first (delivered) stream."""
        u = self.utility
        uom, _ = codes.UNITS[stream.unit]
        for bill in bills(self.world, u, up, span.start, span.end, computed):
            uuid = summary_uuid(self.world, up.uuid, bill.first_day)
            end = bill.start + bill.duration
            items = [
                (bill.energy_charges, "Energy charges", codes.ITEM_USAGE_FEE),
                (bill.fixed_charge, "Basic service charge", codes.ITEM_ADMINISTRATIVE_FEE),
            ]
            if bill.received:
                items.append((bill.credits, "Credit for energy exported", codes.ITEM_GENERATION_CREDIT))
            cost = (bill.total, u.currency_code) if self.summary_cost else (None, None)
            # with cost (FB 16): the line items and their total, costAdditionalLastPeriod
            additional = sum(amount for amount, _, _ in items) if self.summary_cost else None
            fields = (
                bill.start,
                bill.duration,
                *cost,
                bill.consumption,
                uom,
                stream.multiplier,
                end,
                codes.COMMODITY[up.commodity],
                u.tariffs[up.commodity].name,
                additional,
            )
            if self.summary_cost:
                fields += tuple(x for item in items for x in item)
            yield Entry.formed(
                "UsageSummary",
                uuid,
                below(up_href, USAGE_SUMMARIES),
                f"Bill for {bill.first_day:%B %Y}",
                end,
                end,
                _summary_content,
                fields,
                related=[Link("related", up_href, "espi-entry/UsagePoint")],
                window=(bill.start, end),
            )


def _summary_content(
    start,
    duration,
    bill,
    currency,
    consumption,
    uom,
    multiplier,
    status_time,
    commodity,
    tariff_profile,
    additional,
    *items,
):
    """UsageSummary from flat fields (Entry.formed); items are (amount, note, itemKind) flattened."""
    return usage_summary(
        start=start,
        duration=duration,
        bill=bill,
        currency=currency,
        consumption=consumption,
        uom=uom,
        multiplier=multiplier,
        status_time=status_time,
        commodity=commodity,
        tariff_profile=tariff_profile,
        line_items=[items[i : i + 3] for i in range(0, len(items), 3)],
        additional=additional,
    )


def _group_days(days: list[tuple[dt.date, int, int]], block: str) -> list[tuple[str, dt.date, int, int]]:
    """(block name, its last day, first reading, end reading) of each block: one per day, ISO week or month."""
    if block == "daily":
        return [(day.isoformat(), day, a, b) for day, a, b in days]
    out: list[tuple[str, dt.date, int, int]] = []
    for day, a, b in days:
        if block == "weekly":
            name = "week-" + (day - dt.timedelta(days=day.weekday())).isoformat()
        else:
            name = f"month-{day:%Y-%m}"
        if out and out[-1][0] == name:
            out[-1] = (name, day, out[-1][2], b)
        else:
            out.append((name, day, a, b))
    return out


@lru_cache(maxsize=8192)
def _day_facts(tz: str, day: dt.date) -> tuple[str, int]:
    """A local day's name in block ids, and the end of the day (when its block is published)."""
    return day.isoformat(), local_midnight(tz, day + dt.timedelta(days=1))


def _reading_type_title(stream: Stream) -> str:
    minutes = stream.interval // 60
    every = "daily" if stream.interval == 86400 else f"{minutes}-minute"
    unit = {"Wh": "Wh", "therm": "therms", "m3": "cubic metres", "gal": "US gallons"}.get(stream.unit, stream.unit)
    return f"{stream.commodity.capitalize()} {stream.flow}, {every}, {unit}"
