"""Readings of a usage point as a pure function of its stored parameters and time.

Nothing here is stored. Every random draw is a hash of the usage point's seed and the
interval's start (noise.uniforms), so any period computed alone gives exactly the
numbers a longer period gives for the same intervals. The whole period is computed
at once on NumPy arrays; only integer results leave this module.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np

from sandbox.synth import archetypes as A
from sandbox.synth.calendar import Grid, day_numbers, grid, month_start
from sandbox.synth.noise import key_int, uniforms
from sandbox.synth.quality import DataQuality
from sandbox.synth.solar import clear_sky
from sandbox.synth.tariff import price
from sandbox.synth.weather import daily_weather, degree_days
from sandbox.synth.world import UtilityDef, WorldDef

THERM_TO_M3 = 2.832
GAL_TO_M3 = 0.003785
ESTIMATED = 8  # ReadingQuality: estimated using reference day
EV_CHARGER_KW = 7.2


@dataclass(frozen=True)
class Stream:
    """One MeterReading: what is measured, in which stored unit, how often."""

    key: str  # "electricity", "electricity-received", "electricity-net", "gas", "water"
    commodity: str
    flow: str  # "delivered", "received" or "net" (delivered minus received)
    interval: int  # seconds (a daily stream's DST days last 23 or 25 hours)
    unit: str  # "Wh", "therm", "m3", "gal"
    multiplier: int  # stored value x 10**multiplier = quantity in unit
    billing_divisor: int  # stored value / divisor = billing unit (kWh, therm, m3, gal)
    title: str


@dataclass
class Series:
    """Readings of one stream in time order, grouped by local day (NumPy int64 arrays)."""

    stream: Stream
    starts: np.ndarray
    durations: np.ndarray
    values: np.ndarray
    qualities: np.ndarray  # 0 measured, 8 estimated
    days: list[tuple[dt.date, int, int]]  # (local day, first index, end index)
    costs: np.ndarray | None = None  # 1e-5 currency
    tou: np.ndarray | None = None
    tiers: np.ndarray | None = None
    grid: Grid | None = None  # the grid the readings were computed on (None for imported readings)
    positions: np.ndarray | None = None  # each reading's interval index in `grid`

    def __len__(self) -> int:
        return len(self.values)

    def slice_days(self, start: dt.date, end: dt.date) -> "Series":
        """The readings of local days start <= day < end."""
        lo = bisect_left(self.days, (start,))
        hi = bisect_left(self.days, (end,))
        days = self.days[lo:hi]
        a = days[0][1] if days else 0
        b = days[-1][2] if days else 0
        cut = lambda xs: xs[a:b] if xs is not None else None  # noqa: E731
        return Series(
            self.stream,
            self.starts[a:b],
            self.durations[a:b],
            self.values[a:b],
            self.qualities[a:b],
            days if a == 0 else [(d, i - a, j - a) for d, i, j in days],
            cut(self.costs),
            cut(self.tou),
            cut(self.tiers),
            grid=self.grid,
            positions=cut(self.positions),
        )


def streams_for(utility: UtilityDef, params: A.UsagePointParams) -> list[Stream]:
    c = params.commodity
    if c == "electricity":
        iv = utility.electricity_interval
        label = "Hourly" if iv == 3600 else "Fifteen-minute"
        out = [Stream("electricity", c, "delivered", iv, "Wh", 0, 1000, f"{label} electricity delivered")]
        if params.solar_kw:
            out.append(
                Stream(
                    "electricity-received",
                    c,
                    "received",
                    iv,
                    "Wh",
                    0,
                    1000,
                    f"{label} electricity received (solar export)",
                )
            )
            out.append(
                Stream(
                    "electricity-net",
                    c,
                    "net",
                    iv,
                    "Wh",
                    0,
                    1000,
                    f"{label} electricity net (delivered minus received)",
                )
            )
        return out
    if c == "gas":
        return [Stream("gas", c, "delivered", 86400, utility.gas_unit, -3, 1000, "Daily natural gas")]
    iv = utility.water_interval
    unit, mult, div = ("gal", 0, 1) if utility.water_unit == "gal" else ("m3", -3, 1000)
    return [Stream("water", c, "delivered", iv, unit, mult, div, f"{'Hourly' if iv == 3600 else 'Daily'} water")]


@lru_cache(maxsize=256)
def _weather(seed: int, utility: UtilityDef, g: Grid) -> tuple[np.ndarray, ...]:
    """(temperature, heating degree days, cooling degree days, cloud factor) per day."""
    temps, clouds = daily_weather(seed, utility.slug, utility.climate, g.days)
    return (temps, *degree_days(temps), clouds)


@lru_cache(maxsize=256)
def _sunshine(seed: int, utility: UtilityDef, g: Grid, interval: int) -> np.ndarray:
    """kWh per installed kW in each interval of the grid, clouds included."""
    clouds = _weather(seed, utility, g)[3]
    day_of_year = day_numbers(g.days)[1]
    # each interval's start counted from the UTC midnight before its local day's start: the sun's
    # path is the day of the year's, whichever year it is
    seconds = g.starts - g.day_starts[:-1][g.day] + g.day_starts[:-1][g.day] % 86400
    return clear_sky(utility.latitude, utility.longitude, day_of_year[g.day], seconds, interval) * clouds[g.day]


_SHAPES = {
    name: np.array(getattr(A, name) + (getattr(A, name)[0],))
    for name in (
        "RESIDENTIAL_WEEKDAY",
        "RESIDENTIAL_WEEKEND",
        "BUSINESS_WEEKDAY",
        "BUSINESS_WEEKEND",
        "HEATING",
        "COOLING",
        "WATER",
    )
}


@lru_cache(maxsize=512)
def _shape_at(g: Grid, name: str) -> np.ndarray:
    """A 24-hour shape at each interval's local hour (interpolated within the hour); the same for every
    usage point on the grid, so computed once per grid."""
    h_lo = g.hour.astype(np.int64)
    f = g.hour - h_lo
    s = _SHAPES[name]
    out = s[h_lo] if not f.any() else s[h_lo] * (1 - f) + s[h_lo + 1] * f
    out.setflags(write=False)
    return out


@lru_cache(maxsize=256)
def _week_shape(g: Grid, kind: str) -> np.ndarray:
    """The weekday or weekend shape of `kind` (RESIDENTIAL, BUSINESS) at each interval."""
    weekend = (g.weekday >= 5)[g.day]
    out = np.where(weekend, _shape_at(g, kind + "_WEEKEND"), _shape_at(g, kind + "_WEEKDAY"))
    out.setflags(write=False)
    return out


class UsageModel:
    """The readings of one usage point, as imperfect as `quality` says (default: the world's shares)."""

    def __init__(
        self, world: WorldDef, utility: UtilityDef, params: A.UsagePointParams, quality: DataQuality | None = None
    ):
        self.world, self.utility, self.params = world, utility, params
        self.quality = quality if quality is not None else DataQuality.of_world(world)
        self.streams = {s.key: s for s in streams_for(utility, params)}
        self.tariff = utility.tariffs[params.commodity]

    def series(
        self, key: str, start: dt.date, end: dt.date, cost: bool = True, computed: Mapping[str, Series] | None = None
    ) -> Series:
        """Readings of local days start <= day < end, with costs if asked (a net stream is never priced).

        Tiered prices depend on the month so far, so readings are computed from the first of the
        month and cut to the days asked for: every stream of the period then shares one grid, and
        with it the weather, the sun and the readings' period texts, computed once. A net stream is
        taken from `computed` (series of the same days by stream key) when that holds its delivered
        and received streams already.
        """
        stream = self.streams[key]
        if stream.flow == "net":
            flows = {s.flow: s.key for s in self.streams.values()}
            d, r = (self._reuse(computed, flows[f], start, end) for f in ("delivered", "received"))
            return net_series(
                stream,
                d if d is not None else self.series(flows["delivered"], start, end, cost=False),
                r if r is not None else self.series(flows["received"], start, end, cost=False),
            )
        first = month_start(start)
        out = self._compute(stream, first, max(end, first))
        if cost:
            price(out, self.tariff, stream)
        return out.slice_days(start, end) if first != start else out

    @staticmethod
    def _reuse(computed: Mapping[str, Series] | None, key: str, start: dt.date, end: dt.date) -> Series | None:
        """The series of `key` in `computed` if it holds exactly the local days start <= day < end."""
        found = (computed or {}).get(key)
        if found is None or len(found.days) != (end - start).days or not found.days or found.days[0][0] != start:
            return None
        return found

    def _compute(self, stream: Stream, first: dt.date, end: dt.date) -> Series:
        u, p, w = self.utility, self.params, self.world
        g = grid(u.time_zone, first, end, stream.interval)
        key, counters, q, raw, scale = _demand(
            w, u, p, stream.commodity, stream.interval, stream.unit, stream.multiplier, g
        )
        if scale is not None:
            if stream.commodity == "electricity" and p.solar_kw:
                sun = _sunshine(w.seed, u, g, stream.interval) * p.solar_kw
                raw = (sun - raw) if stream.flow == "received" else (raw - sun)
                raw = np.maximum(raw, 0.0)
            raw = raw * scale
        dq = self.quality
        keep = q >= dq.missing_share
        if dq.outage_days:
            keep &= ~_outage_intervals(g, dq.outage_days)
        values = np.floor(raw + 0.5).astype(np.int64)
        if dq.faulty_values:  # its own draw (counter 2 of the interval's four), so no other value moves
            values = _faulty(values, uniforms(key, counters + 2), dq)
        values = values[keep]
        quality = np.where(q < dq.missing_share + dq.estimated_share, ESTIMATED, 0).astype(np.int64)[keep]
        counts = np.bincount(g.day[keep], minlength=len(g.days))
        ends = np.cumsum(counts)
        days = [(d, e - c, e) for d, c, e in zip(g.days, counts.tolist(), ends.tolist())]
        return Series(
            stream, g.starts[keep], g.durations[keep], values, quality, days, grid=g, positions=np.flatnonzero(keep)
        )


@lru_cache(maxsize=4)
def _demand(
    w: WorldDef,
    u: UtilityDef,
    p: A.UsagePointParams,
    commodity: str,
    interval: int,
    unit: str,
    multiplier: int,
    g: Grid,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float | None]:
    """A usage point's draws and the quantity it takes from the grid before solar, in each interval of
    the grid: (noise key, counters, quality draw, raw quantity, scale to stored units, None when raw
    is in them already). Its delivered and received streams (and so its net one) are made of the
    same, computed once."""
    temps, hdd, cdd, _ = _weather(w.seed, u, g)
    key = key_int(p.seed, commodity)
    ordinals = day_numbers(g.days)[0]
    day_noise = uniforms(key ^ 0x5DEECE66D, ordinals)
    counters = g.starts * 4
    noise = uniforms(key, counters)
    q = uniforms(key, counters + 1)
    weekend = g.weekday >= 5
    scale: float | None = None
    if interval == 86400:
        if p.commodity == "gas":
            qty = (p.base_per_day + p.heat_per_hdd * hdd) * (0.9 + 0.2 * noise)
            qty = qty * (THERM_TO_M3 if unit == "m3" else 1.0)
        else:
            qty = (p.base_per_day + p.irrigation_per_cdd * np.maximum(0.0, temps - 20.0)) * (0.85 + 0.3 * noise)
            qty = qty * (GAL_TO_M3 if unit == "m3" else 1.0)
        raw = qty * 10.0**-multiplier
    else:
        di = g.day
        h_lo = g.hour.astype(np.int64)
        frac = interval / 3600
        if p.commodity == "water":
            total = p.base_per_day * (0.85 + 0.3 * day_noise) * np.where(weekend & p.business, 0.9, 1.0)
            irrigation = p.irrigation_per_cdd * np.maximum(0.0, temps - 20.0)
            level = total[di] / 24 * _shape_at(g, "WATER") + np.where(
                (h_lo == 5) | (h_lo == 6), irrigation[di] / 2, 0.0
            )
            scale = 1.0 if unit == "gal" else GAL_TO_M3 * 1000
        else:
            kind = "BUSINESS" if p.business else "RESIDENTIAL"
            shape = _week_shape(g, kind)
            lighting = np.where(hdd > 8, 1.08, 1.0)
            base = p.base_per_day * lighting * (0.9 + 0.2 * day_noise) / 24
            level = (
                base[di] * shape
                + (p.heat_per_hdd * hdd / 24)[di] * _shape_at(g, "HEATING")
                + (p.cool_per_cdd * cdd / 24)[di] * _shape_at(g, "COOLING")
            )
            if p.ev_kwh:
                ords = ordinals * 4
                charging = uniforms(key ^ 0xE5, ords) < p.ev_share
                energy = p.ev_kwh * (0.6 + 0.8 * uniforms(key ^ 0xE5, ords + 1))
                begin = (uniforms(key ^ 0xE5, ords + 2) < 0.5).astype(np.int64)  # timer at midnight or 1 am
                into = h_lo - begin[di]
                ev = np.clip(energy[di] - EV_CHARGER_KW * into, 0.0, EV_CHARGER_KW)
                level = level + np.where(charging[di] & (into >= 0) & (h_lo < 7), ev, 0.0)
            scale = 1000.0
        raw = level * frac * (0.82 + 0.36 * noise)
    for a in (counters, q, raw):
        a.setflags(write=False)
    return key, counters, q, raw, scale


def net_series(stream: Stream, delivered: Series, received: Series) -> Series:
    """Delivered minus received, interval by interval (negative while exporting), without cost.

    Both come from the same draws (UsageModel._compute), so they have readings at the same
    intervals: a reading missing or estimated in one is missing or estimated in the other.
    """
    if not np.array_equal(delivered.starts, received.starts):
        raise ValueError("a net series needs delivered and received readings of the same intervals")
    return Series(
        stream,
        delivered.starts,
        delivered.durations,
        delivered.values - received.values,
        delivered.qualities,
        delivered.days,
        grid=delivered.grid,
        positions=delivered.positions,
    )


def _outage_intervals(g: Grid, days: tuple[dt.date, ...]) -> np.ndarray:
    """Whether each interval of the grid falls on one of `days` (local days, DST days whole)."""
    on = np.isin(
        day_numbers(g.days)[0],
        np.array([d.toordinal() for d in days], dtype=np.int64),
    )
    return on[g.day]


def _faulty(values: np.ndarray, draw: np.ndarray, dq: DataQuality) -> np.ndarray:
    """Zero and negative readings, as a faulty or mis-wired meter reports them: a draw below
    zero_share reads 0; the next negative_share of draws read the negated value (-1 for a 0,
    so that every one of them is negative). The two never fall on the same reading."""
    zero = draw < dq.zero_share
    negative = ~zero & (draw < dq.zero_share + dq.negative_share)
    return np.where(zero, 0, np.where(negative, -np.maximum(values, 1), values))
