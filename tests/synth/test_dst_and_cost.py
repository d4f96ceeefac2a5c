"""Interval counts across DST changes, and every reading's cost against the tariff files."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sandbox.synth.people import PeopleFactory
from sandbox.synth.usage import UsageModel

ROOT = Path(__file__).resolve().parents[2]


def _demo_model(world, slug, commodity="electricity"):
    u = world.utility(slug)
    demo = PeopleFactory(world, u, world.seed).customer(0)
    return UsageModel(world, u, [p for p in demo.usage_points if p.commodity == commodity][0])


def _per_local_day(series, tz_name):
    tz = ZoneInfo(tz_name)
    return Counter(dt.datetime.fromtimestamp(t, tz).date() for t in series.starts.tolist())


@pytest.mark.parametrize(
    "slug, per_hour, spring, fall",
    [
        ("bayview", 1, dt.date(2024, 3, 10), dt.date(2024, 11, 3)),
        ("lakeshore", 4, dt.date(2025, 3, 9), dt.date(2025, 11, 2)),
    ],
)
def test_dst_days_have_23_and_25_hours(exact_world, slug, per_hour, spring, fall):
    model = _demo_model(exact_world, slug)
    s = model.series("electricity", spring - dt.timedelta(days=1), fall + dt.timedelta(days=2))
    counts = _per_local_day(s, model.utility.time_zone)
    assert counts[spring] == 23 * per_hour
    assert counts[fall] == 25 * per_hour
    assert counts[spring - dt.timedelta(days=1)] == counts[fall + dt.timedelta(days=1)] == 24 * per_hour
    # continuous: each interval starts where the previous one ended
    ends = (s.starts + s.durations)[:-1]
    assert (s.starts[1:] == ends).all()


def test_no_dst_utility_has_24_hours_every_day(exact_world):
    model = _demo_model(exact_world, "prairie")
    s = model.series("electricity", dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    counts = _per_local_day(s, "America/Regina")
    assert len(counts) == 366 and set(counts.values()) == {24}


def test_daily_gas_reading_spans_the_whole_local_day(exact_world):
    model = _demo_model(exact_world, "bayview", "gas")
    s = model.series("gas", dt.date(2024, 3, 9), dt.date(2024, 3, 12))
    assert s.durations.tolist() == [86400, 82800, 86400]


def test_missing_and_estimated_readings_appear_at_the_configured_share(world):
    model = _demo_model(world, "lakeshore")
    s = model.series("electricity", dt.date(2024, 1, 1), dt.date(2025, 1, 1), cost=False)
    expected = 366 * 96
    missing = (expected - len(s)) / expected
    estimated = (s.qualities == 8).mean()
    assert 0.3 * world.missing_share < missing < 3 * world.missing_share
    assert 0.5 * world.estimated_share < estimated < 2 * world.estimated_share


def _tariff_oracle(slug, commodity):
    """The tariff read straight from the TOML file, rates as Decimal currency per billing unit."""
    data = tomllib.loads((ROOT / "seed_data" / "utilities" / f"{slug}.toml").read_text())
    return data["tariff"][commodity]


def _oracle_rate(tariff, local: dt.datetime, used_units: Decimal) -> Decimal:
    season = next(s for s in tariff["seasons"] if local.month in s["months"])
    key = "weekend_hours" if local.weekday() >= 5 else "weekday_hours"
    period = next((p for p in tariff.get("periods", []) if local.hour in p.get(key, [])), None)
    if period is None:
        period = next((p for p in tariff.get("periods", []) if "weekday_hours" not in p), {"name": "all"})
    rate = Decimal(str(season["rates"][period["name"]]))
    for tier in tariff.get("tiers", []):
        if "up_to" not in tier or used_units < Decimal(str(tier["up_to"])):
            return rate + Decimal(str(tier["adder"]))
    return rate


@pytest.mark.parametrize(
    "slug, commodity, key, divisor",
    [
        ("bayview", "electricity", "electricity", 1000),
        ("bayview", "electricity", "electricity-received", 1000),
        ("prairie", "electricity", "electricity", 1000),  # tiered
        ("lakeshore", "electricity", "electricity", 1000),
        ("bayview", "gas", "gas", 1000),
        ("lakeshore", "water", "water", 1),
    ],
)
def test_every_cost_is_value_times_rate(world, slug, commodity, key, divisor):
    model = _demo_model(world, slug, commodity)
    tz = ZoneInfo(model.utility.time_zone)
    tariff = _tariff_oracle(slug, commodity)
    s = model.series(key, dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    used, month = Decimal(0), None
    credit = key.endswith("received")
    for start, value, cost in zip(s.starts.tolist(), s.values.tolist(), s.costs.tolist()):
        local = dt.datetime.fromtimestamp(start, tz)
        if local.month != month:
            month, used = local.month, Decimal(0)
        rate = _oracle_rate({k: v for k, v in tariff.items() if not (credit and k == "tiers")}, local, used / divisor)
        expected = (Decimal(value) * rate * 100000 / divisor).to_integral_value(rounding="ROUND_HALF_UP")
        assert cost == (-expected if credit else expected), (local, value, rate, cost)
        used += value
    if tariff.get("tiers"):
        assert len(set(s.tiers.tolist())) >= 2, "a year of an electric home reaches a second tier"


@pytest.mark.parametrize("tz_name", ["America/Los_Angeles", "America/Regina", "Australia/Lord_Howe", "Asia/Kolkata"])
@pytest.mark.parametrize("interval", [900, 3600])
def test_a_grids_clock_hours_are_each_days_own(tz_name, interval):
    """The grid gives every interval of a 24-hour day its time since midnight, and a DST change's
    day (23 or 25 hours; Lord Howe's moves half an hour) the wall clock's hours, as day_hours has them."""
    from sandbox.synth.calendar import day_hours, grid

    g = grid(tz_name, dt.date(2024, 1, 1), dt.date(2026, 1, 1), interval)
    for i, day in enumerate(g.days):
        assert tuple(g.hour[g.day == i].tolist()) == day_hours(tz_name, day, interval), day
    assert len(set(np.diff(g.day_starts).tolist())) == (1 if tz_name in ("America/Regina", "Asia/Kolkata") else 3)
