"""Prices per interval from a utility's tariff: season, time-of-use period and tier.

Rates are integers in 1e-5 of the currency per billing unit, so a reading's cost is
exact integer arithmetic: round(value x rate / billing_divisor), half up. A tier is
chosen by the month's consumption before the reading starts. Received (exported)
energy is credited at the period's rate, without tier adders, as a negative cost.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from sandbox.synth.world import Tariff

if TYPE_CHECKING:
    from sandbox.synth.usage import Series, Stream


def rate_of(tariff: Tariff, month: int, weekend: bool, hour: int) -> tuple[int, int]:
    """(rate, tou code) of a local clock hour."""
    p = tariff.period(hour, weekend)
    return tariff.season(month).rates[p.name], p.tou


@lru_cache(maxsize=64)
def _tables(tariff: Tariff) -> tuple[np.ndarray, np.ndarray]:
    """(rate, tou code) by month, weekend and local clock hour: rate_of for each, with each month's
    season and each hour's period looked up once (not 576 times)."""
    rates = np.zeros((13, 2, 24), dtype=np.int64)
    tou = np.zeros((13, 2, 24), dtype=np.int64)
    periods = [[tariff.period(h, bool(we)) for h in range(24)] for we in (0, 1)]
    for m in range(1, 13):
        season = tariff.season(m).rates
        for we in (0, 1):
            for h, p in enumerate(periods[we]):
                rates[m, we, h], tou[m, we, h] = season[p.name], p.tou
    rates.setflags(write=False)
    tou.setflags(write=False)
    return rates, tou


def price(series: "Series", tariff: Tariff, stream: "Stream") -> None:
    """Fill series.costs, .tou and .tiers (NumPy int64 arrays)."""
    rates, tous = _tables(tariff)
    g, at = series.grid, series.positions  # when each reading is, on the grid it was computed on
    if g is None or at is None:
        raise ValueError("only readings computed on a grid are priced (imported readings keep their own cost)")
    day = g.day[at]
    month = g.month[day].astype(np.int64)
    weekend = (g.weekday[day] >= 5).astype(np.int64)
    hour = g.hour[at].astype(np.int64)
    rate = rates[month, weekend, hour]
    tiers = np.zeros(len(series), dtype=np.int64)
    v = series.values
    div = stream.billing_divisor
    if tariff.tiers and stream.flow == "delivered" and len(v):
        # consumption this month before each reading, in stored units
        new_month = np.ones(len(v), dtype=bool)
        new_month[1:] = month[1:] != month[:-1]
        total = np.cumsum(v) - v
        # the month's first reading of each (by index: a faulty meter's negative readings make totals fall)
        first = np.maximum.accumulate(np.where(new_month, np.arange(len(v)), 0))
        used = total - total[first]
        limits = np.array([t.up_to * div for t in tariff.tiers if t.up_to is not None], dtype=np.float64)
        idx = np.searchsorted(limits, used, side="right")
        rate = rate + np.array([t.adder for t in tariff.tiers], dtype=np.int64)[idx]
        tiers = np.array([t.tier for t in tariff.tiers], dtype=np.int64)[idx]
    costs = (v * rate + div // 2) // div
    series.costs = -costs if stream.flow == "received" else costs
    series.tou = tous[month, weekend, hour]
    series.tiers = tiers
