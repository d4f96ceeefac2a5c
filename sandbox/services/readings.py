"""Readings and bills of a stored usage point, whether computed (synthetic) or imported.

The one place the web layer and the XML feeds get numbers from, so the portal's chart,
its CSV and the Green Button file always agree.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Mapping
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from sandbox.core.clock import Clock
from sandbox.core.models import Customer, ImportedReading, ImportedStream, UsagePoint
from sandbox.espi import codes
from sandbox.synth.archetypes import UsagePointParams
from sandbox.synth.bills import Bill, monthly_bills
from sandbox.synth.calendar import local_date, local_midnight
from sandbox.synth.quality import DataQuality
from sandbox.synth.usage import Series, Stream, UsageModel
from sandbox.synth.world import UtilityDef, WorldDef


@dataclass(frozen=True)
class History:
    """Local days with data: first <= day < end (end is today, or the move-out day)."""

    first: dt.date
    end: dt.date

    @property
    def empty(self) -> bool:
        return self.end <= self.first

    def clamp(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        return max(start, self.first), min(end, self.end)


def session_of(up: UsagePoint) -> Session:
    """The session a usage point was loaded in (its imported readings are read through it)."""
    s = object_session(up)
    if s is None:
        raise ValueError(f"usage point {up.uuid} is not in a session: load it in one to read its imported readings")
    return s


@functools.lru_cache(maxsize=8)  # a world is a frozen value, compared by identity
def _world_quality(world: WorldDef) -> DataQuality:
    return DataQuality.of_world(world)


def quality_of(world: WorldDef, customer: Customer | None) -> DataQuality:
    """The customer's data-quality knobs in effect: its own, each knob it has not set the world's."""
    default = _world_quality(world)
    if customer is None or not customer.data_quality:
        return default
    return DataQuality.from_json(customer.data_quality, default)


def model_for(world: WorldDef, utility: UtilityDef, up: UsagePoint) -> UsageModel:
    """The usage point's readings, with its customer's data quality (a transient usage point without
    a customer: the world's)."""
    return UsageModel(world, utility, UsagePointParams.from_json(up.params), quality_of(world, up.customer))


def service_history(world: WorldDef, utility: UtilityDef, clock: Clock, customer: Customer) -> History:
    """Days of synthetic data: from moving in (or the world's first day) to yesterday or moving out."""
    first = max(customer.service_start, world.history_start)
    end = clock.published_end(utility.time_zone)
    if customer.service_end is not None:
        end = min(end, customer.service_end)
    return History(first, max(first, end))


def imported_days(utility: UtilityDef, up: UsagePoint) -> History | None:
    """Days an imported usage point has readings for, or None."""
    ids = [s.id for s in up.imported_streams]
    if not ids:
        return None
    lo, hi = (
        session_of(up)
        .execute(
            select(func.min(ImportedReading.start), func.max(ImportedReading.start)).where(
                ImportedReading.stream_id.in_(ids)
            )
        )
        .one()
    )
    if lo is None:
        return None
    return History(local_date(utility.time_zone, lo), local_date(utility.time_zone, hi) + dt.timedelta(days=1))


def history(world: WorldDef, utility: UtilityDef, clock: Clock, customer: Customer) -> History:
    """Days with data of any of the customer's usage points (imported files may reach further back)."""
    h = service_history(world, utility, clock, customer)
    for up in customer.usage_points:
        if up.imported:
            days = imported_days(utility, up)
            if days is not None:
                h = History(min(h.first, days.first), max(h.end, days.end))
    return h


def usage_point_history(
    world: WorldDef, utility: UtilityDef, clock: Clock, customer: Customer, up: UsagePoint
) -> History:
    if up.imported:
        return imported_days(utility, up) or History(world.history_start, world.history_start)
    return service_history(world, utility, clock, customer)


def _imported_stream(s: ImportedStream) -> Stream:
    rt = s.reading_type
    commodity = codes.COMMODITY_NAMES.get(int(rt.get("commodity", 0)), "electricity")
    flow = codes.FLOW_DIRECTION_NAMES.get(rt.get("flowDirection", 1), "delivered")  # other codes read as delivered
    uom = rt.get("uom", 72)
    unit = codes.UNIT_OF_UOM.get(uom, f"uom-{uom}")
    mult = int(rt.get("powerOfTenMultiplier", 0))
    divisor = 1000 if unit == "Wh" else 1  # only synthetic data is priced; kept for displaying kWh
    return Stream(
        f"imported-{s.number}",
        commodity,
        flow,
        int(rt.get("intervalLength", 3600)),
        unit,
        mult,
        divisor,
        s.title or "Imported readings",
    )


def streams(world: WorldDef, utility: UtilityDef, up: UsagePoint) -> list[Stream]:
    if up.imported:
        return [_imported_stream(s) for s in up.imported_streams]
    return list(model_for(world, utility, up).streams.values())


def imported_stream(up: UsagePoint, key: str) -> ImportedStream:
    for s in up.imported_streams:
        if f"imported-{s.number}" == key:
            return s
    raise KeyError(key)


def series(
    world: WorldDef,
    utility: UtilityDef,
    up: UsagePoint,
    key: str,
    start: dt.date,
    end: dt.date,
    cost: bool = True,
    session: Session | None = None,
    computed: Mapping[str, Series] | None = None,
) -> Series:
    """Readings of local days start <= day < end of one stream (see `streams`); `computed` may hold
    the usage point's other streams over the same days (a net stream is made of them)."""
    if not up.imported:
        return model_for(world, utility, up).series(key, start, end, cost=cost, computed=computed)
    return _imported_series(utility, up, key, start, end, cost, session)


def _imported_series(
    utility: UtilityDef, up: UsagePoint, key: str, start: dt.date, end: dt.date, cost: bool, session: Session | None
) -> Series:
    stored = imported_stream(up, key)
    stream = _imported_stream(stored)
    s = session or session_of(up)
    lo, hi = local_midnight(utility.time_zone, start), local_midnight(utility.time_zone, end)
    rows = s.execute(
        select(
            ImportedReading.start,
            ImportedReading.duration,
            ImportedReading.value,
            ImportedReading.cost,
            ImportedReading.quality,
        )
        .where(ImportedReading.stream_id == stored.id, ImportedReading.start >= lo, ImportedReading.start < hi)
        .order_by(ImportedReading.start)
    ).all()
    cols: list[tuple] = list(zip(*rows)) if rows else [(), (), (), (), ()]
    starts = np.array(cols[0], dtype=np.int64)
    costs = None
    if cost and rows and all(c is not None for c in cols[3]):
        costs = np.array(cols[3], dtype=np.int64)
    tz = ZoneInfo(utility.time_zone)
    days: list[tuple[dt.date, int, int]] = []
    for i, t in enumerate(starts.tolist()):
        d = dt.datetime.fromtimestamp(t, tz).date()
        if days and days[-1][0] == d:
            days[-1] = (d, days[-1][1], i + 1)
        else:
            days.append((d, i, i + 1))
    return Series(
        stream,
        starts,
        np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.int64),
        np.array([q or 0 for q in cols[4]], dtype=np.int64),
        days,
        costs,
    )


def bills(
    world: WorldDef,
    utility: UtilityDef,
    up: UsagePoint,
    start: dt.date,
    end: dt.date,
    computed: dict[str, Series] | None = None,
) -> list[Bill]:
    """Bills of the whole calendar months within start <= day < end (none for imported data).

    `computed` may hold series with cost already computed for the period, by stream key.
    """
    if up.imported:
        return []
    model = model_for(world, utility, up)
    computed = computed or {}
    return monthly_bills(model, start, end, computed.get(up.commodity), computed.get(f"{up.commodity}-received"))
