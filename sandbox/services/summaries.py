"""What a usage point's readings add up to, as the portal shows them: totals, the last days
hour by hour with each day's peak, the last months' bills, and how quantities and money are
written.

Every number comes from `services.readings` (the source of the Green Button file), so the
chart, its table, the CSV and the XML always agree. Quantities stay in the stream's stored
integer units and money in 1e-5 currency until they are formatted, so totals are exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import numpy as np

from sandbox.core.models import UsagePoint
from sandbox.services import readings
from sandbox.services.readings import History
from sandbox.synth.bills import Bill
from sandbox.synth.calendar import local_midnight, month_start, months_back
from sandbox.synth.usage import Stream
from sandbox.synth.world import UtilityDef, WorldDef

UNIT_LABELS = {"Wh": "kWh", "therm": "therms", "m3": "m³", "gal": "gal"}
CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}
RECENT_DAYS = 30
RECENT_MONTHS = 13


# --- formatting -------------------------------------------------------------------------


def unit_label(stream: Stream) -> str:
    return UNIT_LABELS.get(stream.unit, stream.unit)


def _kilo(stream: Stream) -> int:
    return 3 if stream.unit == "Wh" else 0  # energy is shown in kWh


def quantity(value: int, stream: Stream) -> Decimal:
    """A stored integer reading in the unit people read (kWh, therms, m³, gal), exactly:
    value x 10^powerOfTenMultiplier in the stream's unit, Wh shown as kWh."""
    return Decimal(int(value)).scaleb(stream.multiplier - _kilo(stream))


def quantity_places(stream: Stream) -> int:
    return max(0, _kilo(stream) - stream.multiplier)


def format_quantity(value: int, stream: Stream) -> str:
    return f"{quantity(value, stream):,.{quantity_places(stream)}f} {unit_label(stream)}"


def money(amount: int) -> Decimal:
    """1e-5 currency units as currency, rounded half up to cents."""
    return (Decimal(int(amount)) / 100000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    m = money(amount)
    sign = "−" if m < 0 else ""
    return f"{sign}{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{abs(m):,.2f}"


# --- aggregates -------------------------------------------------------------------------


@dataclass
class StreamTotal:
    stream: Stream
    value: int  # stored units
    cost: int  # 1e-5 currency (credits negative)
    readings: int


@dataclass
class DayRow:
    day: dt.date
    delivered: int
    received: int | None
    cost: int
    peak: int  # largest hourly (or daily) delivered amount
    peak_hour: int | None  # local clock hour of the peak, None for daily data


@dataclass
class RecentUsage:
    """The last RECENT_DAYS days of a usage point, hourly (daily for daily meters)."""

    usage_point: UsagePoint
    start: dt.date
    end: dt.date  # exclusive
    delivered: Stream
    received: Stream | None
    hourly: bool
    slots: list[int] = field(default_factory=list)  # per bucket, delivered stored units
    slots_received: list[int] = field(default_factory=list)
    day_slots: list[tuple[int, int]] = field(default_factory=list)  # per day: (first slot, end slot)
    days: list[DayRow] = field(default_factory=list)
    totals: list[StreamTotal] = field(default_factory=list)

    @property
    def cost(self) -> int:
        return sum(t.cost for t in self.totals)


def streams_charted(world: WorldDef, utility: UtilityDef, up: UsagePoint) -> tuple[Stream, Stream | None] | None:
    """The stream charted above the axis (delivered) and the one below (received), if any. A net
    stream is charted only in a file that holds nothing else: it is delivered minus received, so
    beside them it would count the same energy twice."""
    found = readings.streams(world, utility, up)
    if not found:
        return None
    delivered = next((s for s in found if s.flow == "delivered"), next((s for s in found if s.flow != "net"), found[0]))
    received = next(
        (
            s
            for s in found
            if s.flow == "received"
            and s is not delivered
            and s.unit == delivered.unit
            and s.multiplier == delivered.multiplier
        ),
        None,
    )
    return delivered, received


def recent_window(history: History, days: int = RECENT_DAYS) -> tuple[dt.date, dt.date]:
    return history.clamp(history.end - dt.timedelta(days=days), history.end)


def recent_usage(
    world: WorldDef, utility: UtilityDef, up: UsagePoint, history: History, days: int = RECENT_DAYS
) -> RecentUsage:
    start, end = recent_window(history, days)
    charted = streams_charted(world, utility, up)
    if charted is None:
        raise ValueError(f"usage point {up.uuid} has no readings to chart")  # the caller checks first
    delivered, received = charted
    hourly = delivered.interval < 86400
    out = RecentUsage(up, start, end, delivered, received, hourly)
    if start >= end:
        return out
    tz = utility.time_zone
    day_list = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    bounds = np.array([local_midnight(tz, d) for d in day_list] + [local_midnight(tz, end)], dtype=np.int64)
    hours = (np.diff(bounds) // 3600) if hourly else np.ones(len(day_list), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(hours)])
    n = int(offsets[-1])
    out.day_slots = [(int(offsets[i]), int(offsets[i + 1])) for i in range(len(day_list))]

    def buckets(stream: Stream):
        s = readings.series(world, utility, up, stream.key, start, end, cost=True)
        day_idx = np.searchsorted(bounds, s.starts, side="right") - 1
        slot = offsets[day_idx] + ((s.starts - bounds[day_idx]) // 3600 if hourly else 0)
        vals = np.bincount(slot, weights=s.values, minlength=n)
        costs = (
            np.bincount(day_idx, weights=s.costs, minlength=len(day_list))
            if s.costs is not None
            else np.zeros(len(day_list))
        )
        dvals = np.bincount(day_idx, weights=s.values, minlength=len(day_list))
        total = StreamTotal(stream, int(s.values.sum()), int(s.costs.sum()) if s.costs is not None else 0, len(s))
        return np.rint(vals).astype(np.int64), np.rint(dvals).astype(np.int64), np.rint(costs).astype(np.int64), total

    d_slots, d_days, d_costs, d_total = buckets(delivered)
    out.slots = [int(v) for v in d_slots]
    out.totals.append(d_total)
    r_days = None
    day_costs = d_costs
    if received is not None:
        r_slots, r_days, r_costs, r_total = buckets(received)
        out.slots_received = [int(v) for v in r_slots]
        out.totals.append(r_total)
        day_costs = d_costs + r_costs
    for i, d in enumerate(day_list):
        a, b = out.day_slots[i]
        seg = d_slots[a:b]
        k = int(np.argmax(seg)) if len(seg) else 0
        peak_hour = None
        if hourly and len(seg):
            peak_hour = dt.datetime.fromtimestamp(int(bounds[i]) + 3600 * k, ZoneInfo(tz)).hour
        out.days.append(
            DayRow(
                d,
                int(d_days[i]),
                int(r_days[i]) if r_days is not None else None,
                int(day_costs[i]),
                int(seg[k]) if len(seg) else 0,
                peak_hour,
            )
        )
    return out


def monthly_bills(
    world: WorldDef, utility: UtilityDef, up: UsagePoint, history: History, months: int = RECENT_MONTHS
) -> list[Bill]:
    """The bills of the last `months` whole calendar months with data, oldest first."""
    start, end = history.clamp(months_back(month_start(history.end), months), history.end)
    if start >= end:
        return []
    return readings.bills(world, utility, up, start, end)
