"""The portal's charts: server-rendered SVG bar charts (with their numbers as tables for
screen readers) and the home page's view of each usage point. The numbers are
`services.summaries`'; this module only draws them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from sandbox.core.models import UsagePoint
from sandbox.services import readings
from sandbox.services.summaries import (
    CURRENCY_SYMBOLS,
    RecentUsage,
    format_money,
    format_quantity,
    money,
    monthly_bills,
    quantity,
    recent_usage,
    streams_charted,
    unit_label,
)
from sandbox.synth.bills import Bill
from sandbox.synth.usage import Stream
from sandbox.synth.world import UtilityDef, WorldDef

# --- SVG --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The drawing area in SVG units: the same chart is drawn wide (screens) and narrow
    (phones), so that its text stays readable at the size it is shown."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int = 30
    bottom: int = 58


WIDE = Layout("wide", 640, 290, 56, 64)
NARROW = Layout("narrow", 360, 270, 42, 48)


def nice_step(span: float, ticks: int = 4) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag + 1e-12:
            return m * mag
    return 10 * mag


def _fmt_tick(v: float) -> str:
    if abs(v) < 1e-9:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v * 10 - round(v * 10)) < 1e-9 else f"{v:.2f}"


@dataclass
class Segment:
    """A stretch of slots [first, end) with one line value (e.g. a day's cost) and a hover text."""

    first: int
    end: int
    value: float | None
    title: str


@dataclass
class Tick:
    slot: float
    label: str
    sublabel: str = ""  # a second line (the year under January)
    middle: bool = False  # centred on the slot (a month's bar) rather than starting at it (a day)


def bar_chart(
    *,
    ident: str,
    title: str,
    desc: str,
    up: list[float],
    down: list[float] | None,
    y_unit: str,
    ticks: list[Tick],
    segments: list[Segment],
    line_unit: str,
    line_label: str,
    line_format=lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}",
    layout: Layout = WIDE,
) -> Markup:
    """Bars above the axis (`up`, e.g. energy delivered), optional bars below (`down`, e.g.
    solar export), and a step line of per-segment values (cost) on a right-hand axis whose
    gridlines and zero coincide with the left one's.

    Screen readers get `title` and `desc` (aria-labelledby); each segment has a hover text.
    """
    n = max(len(up), 1)
    top = max(up, default=0)
    bottom = -max(down, default=0) if down else 0
    if top <= 0 and bottom >= 0:
        top = 1
    step = nice_step(top - bottom)
    above = math.ceil(top / step - 1e-9) if top > 0 else 0
    below = math.ceil(-bottom / step - 1e-9) if bottom < 0 else 0
    values = [s.value for s in segments if s.value is not None]
    lo, hi = min(values, default=0.0), max(values, default=0.0)
    if lo < 0 and below == 0:
        below = 1
    if hi > 0 and above == 0:
        above = 1
    # the cost step: the smallest nice step whose gridlines (the same as the usage ones) hold every value
    lstep = 1.0
    if values:
        need = max(hi / above if above else 0, -lo / below if below else 0, 1e-9)
        lstep = nice_step(need, 1)
    ymax, ymin = above * step, -below * step
    W, H, LEFT, RIGHT, TOP, BOTTOM = (layout.width, layout.height, layout.left, layout.right, layout.top, layout.bottom)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def y(v):
        return TOP + (ymax - v) / (ymax - ymin) * ph

    def ly(v):
        return y(v / lstep * step)

    def x(i):
        return LEFT + i * pw / n

    bw = pw / n
    gap = bw * 0.15 if bw > 4 else 0
    out = [
        f'<svg class="chart {layout.name}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>',
    ]
    for k in range(-below, above + 1):
        yy = y(k * step)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{_fmt_tick(k * step)}</text>'
        )
        if values:
            out.append(
                f'<text class="axis cost" x="{W - RIGHT + 6}" y="{yy + 4:.1f}">{escape(line_format(k * lstep))}</text>'
            )
    out.append(f'<text class="axis unit" x="{LEFT - 6}" y="{TOP - 12}" text-anchor="end">{escape(y_unit)}</text>')
    if values:
        out.append(f'<text class="axis cost unit" x="{W - RIGHT + 6}" y="{TOP - 12}">{escape(line_unit)}</text>')
    bars = [
        f"M{x(i) + gap / 2:.2f} {y(v):.2f}V{y(0):.2f}h{bw - gap:.2f}V{y(v):.2f}z" for i, v in enumerate(up) if v > 0
    ]
    out.append(f'<path class="bar-in" d="{"".join(bars)}"/>')
    if down:
        bars = [
            f"M{x(i) + gap / 2:.2f} {y(0):.2f}V{y(-v):.2f}h{bw - gap:.2f}V{y(0):.2f}z"
            for i, v in enumerate(down)
            if v > 0
        ]
        out.append(f'<path class="bar-out" d="{"".join(bars)}"/>')
    out.append(f'<line class="zero" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    if values:
        path, last_end = [], None
        for s in segments:
            if s.value is None:
                last_end = None
                continue
            yy = ly(s.value)
            path.append(f"{'L' if last_end == s.first else 'M'}{x(s.first):.2f} {yy:.2f}H{x(s.end):.2f}")
            last_end = s.end
        out.append(f'<path class="cost-line" d="{"".join(path)}"/>')
    base = y(ymin)
    for tk in ticks:
        tx, anchor = (x(tk.slot + 0.5), "middle") if tk.middle else (x(tk.slot) + 2, "start")
        if not tk.middle:
            out.append(
                f'<line class="tick" x1="{x(tk.slot):.1f}" x2="{x(tk.slot):.1f}" y1="{base:.1f}" y2="{base + 5:.1f}"/>'
            )
        out.append(
            f'<text class="axis" x="{tx:.1f}" y="{base + 18:.1f}" text-anchor="{anchor}">{escape(tk.label)}</text>'
        )
        if tk.sublabel:
            out.append(
                f'<text class="axis sub" x="{tx:.1f}" y="{base + 33:.1f}" text-anchor="{anchor}">{escape(tk.sublabel)}</text>'
            )
    for s in segments:  # hover targets with the numbers of each day or month
        out.append(
            f'<rect class="hover" x="{x(s.first):.2f}" y="{TOP}" width="{x(s.end) - x(s.first):.2f}" '
            f'height="{ph}"><title>{escape(s.title)}</title></rect>'
        )
    out.append(
        f'<text class="legend" x="{LEFT}" y="{H - 4}"><tspan class="key-in">■</tspan> {escape(y_unit)} used'
        + (' <tspan class="key-out">■</tspan> exported' if down else "")
        + (f' <tspan class="key-cost">━</tspan> {escape(line_label)}' if values else "")
        + "</text>"
    )
    out.append("</svg>")
    return Markup("".join(out))


def _both(draw) -> Markup:
    """The chart drawn wide and narrow; CSS shows one of them (the other is display: none,
    so screen readers meet it once)."""
    return Markup(draw(WIDE) + draw(NARROW))


def recent_chart(r: RecentUsage, currency: str) -> Markup:
    up = [float(quantity(v, r.delivered)) for v in r.slots]
    down = [float(quantity(v, r.received)) for v in r.slots_received] if r.received else None
    unit = unit_label(r.delivered)
    segs = []
    for (a, b), row in zip(r.day_slots, r.days):
        text = f"{row.day:%a %d %b}: {format_quantity(row.delivered, r.delivered)} used"
        if row.received is not None and r.received is not None:
            text += f", {format_quantity(row.received, r.received)} exported"
        text += f", {format_money(row.cost, currency)}"
        segs.append(Segment(a, b, float(money(row.cost)), text))
    total = next(t for t in r.totals if t.stream is r.delivered)
    desc = (
        f"{'Hourly' if r.hourly else 'Daily'} {r.delivered.commodity} use from {r.start:%d %b %Y} to "
        f"{r.end - dt.timedelta(days=1):%d %b %Y}: {format_quantity(total.value, r.delivered)} in total, "
        f"cost {format_money(r.cost, currency)}. The table below lists every day."
    )

    def draw(layout: Layout) -> Markup:
        ticks = [
            Tick(a, f"{row.day.day} {row.day:%b}") for (a, _), row in zip(r.day_slots, r.days) if row.day.weekday() == 0
        ]
        return bar_chart(
            ident=f"recent-{r.usage_point.id}-{layout.name}",
            title=f"{r.usage_point.label}: last {len(r.days)} days",
            desc=desc,
            up=up,
            down=down,
            y_unit=unit,
            ticks=ticks,
            segments=segs,
            line_unit=CURRENCY_SYMBOLS.get(currency, currency) + "/day",
            line_label="cost per day",
            layout=layout,
        )

    return _both(draw)


def monthly_chart(up: UsagePoint, stream: Stream, bills: list[Bill], currency: str, has_received: bool) -> Markup:
    segs = [
        Segment(
            i,
            i + 1,
            float(money(b.total)),
            f"{b.first_day:%B %Y}: {format_quantity(b.consumption, stream)} used"
            + (f", {format_quantity(b.received, stream)} exported" if has_received else "")
            + f", bill {format_money(b.total, currency)}",
        )
        for i, b in enumerate(bills)
    ]
    desc = (
        f"Monthly {stream.commodity} use and bill for {len(bills)} months"
        + (f" from {bills[0].first_day:%B %Y} to {bills[-1].first_day:%B %Y}" if bills else "")
        + ". The table below lists every month."
    )

    def draw(layout: Layout) -> Markup:
        short = layout is NARROW  # one letter a month on a phone
        ticks = [
            Tick(
                i,
                f"{b.first_day:%b}"[: 1 if short else 3],
                f"{b.first_day:%Y}"[2 if short else 0 :] if i == 0 or b.first_day.month == 1 else "",
                middle=True,
            )
            for i, b in enumerate(bills)
        ]
        return bar_chart(
            ident=f"monthly-{up.id}-{layout.name}",
            title=f"{up.label}: monthly use and bills",
            desc=desc,
            up=[float(quantity(b.consumption, stream)) for b in bills],
            down=[float(quantity(b.received, stream)) for b in bills] if has_received else None,
            y_unit=unit_label(stream),
            ticks=ticks,
            segments=segs,
            line_unit=CURRENCY_SYMBOLS.get(currency, currency),
            line_label="bill",
            layout=layout,
        )

    return _both(draw)


# --- the home page's numbers ----------------------------------------------------------


@dataclass
class UsagePointView:
    usage_point: UsagePoint
    recent: RecentUsage | None = None
    bills: list[Bill] = field(default_factory=list)
    recent_svg: Markup | None = None
    monthly_svg: Markup | None = None
    note: str | None = None  # why there is no chart

    @property
    def delivered(self) -> Stream | None:
        return self.recent.delivered if self.recent else None

    @property
    def received(self) -> Stream | None:
        return self.recent.received if self.recent else None


@dataclass
class BillRow:
    first_day: dt.date
    end_day: dt.date
    by_usage_point: dict[int, Bill]
    total: int


@dataclass
class Overview:
    usage_points: list[UsagePointView]
    bills: list[BillRow]  # newest first


def overview(world: WorldDef, utility: UtilityDef, clock, customer) -> Overview:
    """Charts, tables and the account's bills for the customer's home page (usage points
    loaded in a live session: imported readings load through them)."""
    views: list[UsagePointView] = []
    months: dict[tuple[dt.date, dt.date], dict[int, Bill]] = {}
    for up in customer.usage_points:
        v = UsagePointView(up)
        views.append(v)
        history = readings.usage_point_history(world, utility, clock, customer, up)
        if history.empty or streams_charted(world, utility, up) is None:
            v.note = "No readings yet." if not up.imported else "This imported file holds no readings."
            continue
        v.recent = recent_usage(world, utility, up, history)
        v.recent_svg = recent_chart(v.recent, utility.currency)
        if up.imported:
            v.note = "Loaded from a Green Button file: the last 30 days of that file are shown."
        v.bills = monthly_bills(world, utility, up, history)
        if v.bills:
            v.monthly_svg = monthly_chart(
                up, v.recent.delivered, v.bills, utility.currency, v.recent.received is not None
            )
        for b in v.bills:
            months.setdefault((b.first_day, b.end_day), {})[up.id] = b
    rows = [BillRow(f, e, by, sum(b.total for b in by.values())) for (f, e), by in sorted(months.items(), reverse=True)]
    return Overview(views, rows)
