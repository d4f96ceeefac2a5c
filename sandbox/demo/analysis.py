"""What the demo app learns from a customer's readings: totals, a monthly and a daily series for
the charts, and a few plain findings (the month's peak, time-of-use, solar export). Pure
functions of the parsed readings, the same for data pulled over Connect My Data and for an
uploaded Download My Data file."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sandbox.demo.espi import FORWARD, NET, REVERSE, LocalTime, Stream, Usage

# totals are kept by commodity and flow: a net stream (delivered minus exported) is its own line,
# never added to what was delivered
FLOW_LABELS = {FORWARD: "", REVERSE: " exported", NET: " net"}
CURRENCIES = {840: "$", 124: "C$", 978: "€", 826: "£"}
TOU_NAMES = {1: "on-peak", 2: "mid-peak", 3: "off-peak"}


@dataclass
class Finding:
    title: str
    value: str
    detail: str


@dataclass
class Total:
    label: str  # the commodity, and "exported" for what the customer sent to the grid, "net" for the difference
    quantity: float
    unit: str
    cost: float | None  # in the currency; a credit for exported energy


@dataclass
class Analysis:
    totals: list[Total]
    cost: float | None
    currency: str
    first: dt.date | None
    last: dt.date | None
    months: list[tuple[str, float, float]]  # (YYYY-MM, kWh delivered, kWh exported)
    month_costs: list[tuple[str, float]]  # energy charges of the readings (no fixed charge)
    days: list[tuple[dt.date, float]]  # the latest 60 days' kWh delivered
    findings: list[Finding] = field(default_factory=list)
    # the utility's bills (UsageSummary) by month of their period's start, every usage point's together:
    # what the customer pays, fixed charges and export credits included (a credit is negative)
    month_bills: list[tuple[str, float]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.first is None


def _local(epoch: int, zone: ZoneInfo | LocalTime) -> dt.datetime:
    """Local wall time: by the utility's time zone when known, else by the file's LocalTimeParameters."""
    if isinstance(zone, ZoneInfo):
        return dt.datetime.fromtimestamp(epoch, zone).replace(tzinfo=None)
    return zone.local(epoch)


class _Local:
    """Local wall times of reading starts, each computed once (a feed repeats them per stream)."""

    def __init__(self, offset: ZoneInfo | LocalTime):
        self.offset = offset
        self.seen: dict[int, dt.datetime] = {}

    def __call__(self, epoch: int) -> dt.datetime:
        when = self.seen.get(epoch)
        if when is None:
            when = self.seen[epoch] = _local(epoch, self.offset)
        return when


def _money(amount: float, symbol: str) -> str:
    return f"{symbol}{amount:,.2f}"


def analyse(usage: Usage, time_zone: str | None = None) -> Analysis:
    """The analysis of every stream, in the utility's time zone if known (else by the file's
    LocalTimeParameters); electricity (kWh) makes the charts and findings."""
    offset: ZoneInfo | LocalTime = ZoneInfo(time_zone) if time_zone else usage.local_time
    electric = [s for s in usage.streams if s.commodity == "electricity" and s.uom == 72]
    delivered = [s for s in electric if s.flow == FORWARD]
    exported = [s for s in electric if s.flow == REVERSE]
    symbol = next((CURRENCIES.get(s.currency or 0, "") for s in usage.streams if s.currency), "$")
    totals: list[Total] = []
    for s in usage.streams:
        label = s.commodity + FLOW_LABELS.get(s.flow, f" (flowDirection {s.flow})")
        q = sum(s.quantity(r.value) for r in s.readings.values())
        priced = [r.cost for r in s.readings.values() if r.cost is not None]
        money = sum(priced) / 100000 if priced else None
        same = next((x for x in totals if x.label == label and x.unit == s.unit), None)
        if same is None:
            totals.append(Total(label, q, s.unit, money))
        else:
            same.quantity += q
            same.cost = None if same.cost is None and money is None else (same.cost or 0) + (money or 0)
    costs = [r.cost for s in usage.streams for r in s.readings.values() if r.cost is not None]
    cost = sum(costs) / 100000 if costs else None
    starts = [r.start for s in usage.streams for r in s.readings.values()]
    first = _local(min(starts), offset).date() if starts else None
    last = _local(max(starts), offset).date() if starts else None

    month_in: dict[str, float] = defaultdict(float)
    month_out: dict[str, float] = defaultdict(float)
    month_cost: dict[str, float] = defaultdict(float)
    day_in: dict[dt.date, float] = defaultdict(float)
    local = _Local(offset)
    ins, outs = {id(s) for s in delivered}, {id(s) for s in exported}
    for s in usage.streams:
        for r in s.readings.values():
            when = local(r.start)
            month = when.strftime("%Y-%m")
            if id(s) in ins:
                month_in[month] += s.quantity(r.value)
                day_in[when.date()] += s.quantity(r.value)
            elif id(s) in outs:
                month_out[month] += s.quantity(r.value)
            if r.cost is not None and s.flow == FORWARD:  # what was paid; export credits are in the totals
                month_cost[month] += r.cost / 100000
    months = [(m, month_in.get(m, 0.0), month_out.get(m, 0.0)) for m in sorted(set(month_in) | set(month_out))]
    days = sorted(day_in.items())[-60:]
    a = Analysis(totals, cost, symbol, first, last, months, sorted(month_cost.items()), days)
    a.findings = _findings(delivered, exported, local, symbol)
    a.month_bills = _month_bills(usage, local)
    return a


def _month_bills(usage: Usage, local: "_Local") -> list[tuple[str, float]]:
    """Each month's bills summed over the usage points (billLastPeriod, in hundred-thousandths)."""
    by_month: dict[str, int] = defaultdict(int)
    for b in usage.bills:
        if b.amount is not None:
            by_month[local(b.start).strftime("%Y-%m")] += b.amount
    return [(m, by_month[m] / 100000) for m in sorted(by_month)]


def _findings(delivered: list[Stream], exported: list[Stream], local: _Local, symbol: str) -> list[Finding]:
    out: list[Finding] = []
    readings = [(s, r) for s in delivered for r in s.readings.values() if r.duration]
    if not readings:
        return out
    latest = max(local(r.start) for _, r in readings)
    month = f"{latest:%Y-%m}"
    in_month = [(s, r) for s, r in readings if f"{local(r.start):%Y-%m}" == month]
    s, peak = max(in_month, key=lambda sr: sr[0].quantity(sr[1].value) * 3600 / sr[1].duration)  # duration > 0
    kw = s.quantity(peak.value) * 3600 / peak.duration
    out.append(
        Finding(
            f"Peak demand in {latest:%B %Y}",
            f"{kw:.1f} kW",
            f"at {local(peak.start):%a %d %b, %H:%M}: the highest hourly rate this month so far",
        )
    )

    by_tou: dict[int, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    for s, r in readings:
        if r.tou:
            kwh, money = by_tou[r.tou]
            by_tou[r.tou] = (kwh + s.quantity(r.value), money + (r.cost or 0) / 100000)
    if len(by_tou) >= 2:
        total = sum(k for k, _ in by_tou.values())
        peak_kwh, peak_cost = by_tou.get(1, (0.0, 0.0))
        off = by_tou.get(max(by_tou))
        if peak_kwh and off and off[0]:
            rate_gap = peak_cost / peak_kwh - off[1] / off[0]
            days = max(1, len({local(r.start).date() for _, r in readings}))
            saving = 0.2 * peak_kwh * rate_gap * 30 / days
            out.append(
                Finding(
                    "Time of use",
                    f"{peak_kwh / total:.0%} on-peak",
                    f"moving a fifth of your on-peak use to off-peak hours would save about "
                    f"{_money(saving, symbol)} a month",
                )
            )
    sent = sum(s.quantity(r.value) for s in exported for r in s.readings.values())
    used = sum(s.quantity(r.value) for s, r in readings)
    if sent and used > 0:
        out.append(
            Finding(
                "Solar export",
                f"{sent:,.0f} kWh",
                f"sent to the grid, {sent / used:.0%} of what you drew from it; the meter sees only "
                "what you export, so what your panels supplied directly is not in this data",
            )
        )
    return out


def daily_totals(usage: Usage, time_zone: str, first: dt.date, last: dt.date) -> list[dict]:
    """Per usage point (its id, read from the MeterReading links) and local day first..last: the quantity
    delivered and received in the unit people read (the powerOfTenMultiplier applied) and the cost
    (delivered, less credits for received), as decimal strings: what a conformance run's ground-truth
    check asks a client to report. Net streams are left out (they restate the other two)."""
    from decimal import Decimal

    zone = ZoneInfo(time_zone)
    out: dict[str, dict[dt.date, dict[str, Decimal]]] = {}
    for s in usage.streams:
        if s.flow not in (FORWARD, REVERSE) or "/UsagePoint/" not in s.key:
            continue
        up = s.key.split("/UsagePoint/")[1].split("/")[0]
        key = "delivered" if s.flow == FORWARD else "received"
        kilo = 3 if s.uom == 72 else 0  # Wh read as kWh
        days = out.setdefault(up, {})
        for r in s.readings.values():
            day = dt.datetime.fromtimestamp(r.start, zone).date()
            if first <= day <= last:
                d = days.setdefault(day, {"delivered": Decimal(0), "received": Decimal(0), "cost": Decimal(0)})
                d[key] += Decimal(r.value).scaleb(s.multiplier - kilo)
                d["cost"] += Decimal(r.cost or 0) / 100000
    return [
        {
            "usage_point": up,
            "days": [{"date": day.isoformat(), **{k: str(v) for k, v in d.items()}} for day, d in sorted(days.items())],
        }
        for up, days in out.items()
    ]
