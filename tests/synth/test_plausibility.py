"""Each archetype's year looks like what it claims to be."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from astral import LocationInfo
from astral.sun import sun

from sandbox.synth.archetypes import usage_points_for
from sandbox.synth.usage import UsageModel

YEAR = (dt.date(2024, 1, 1), dt.date(2025, 1, 1))


def _kwh(series) -> float:
    return int(series.values.sum()) / 1000


def _premises(world, utility, archetype, n=6):
    rng = random.Random(f"plausibility-{utility.slug}-{archetype}")
    return [usage_points_for(archetype, utility, rng) for _ in range(n)]


def _electric(ups):
    return [p for p in ups if p.commodity == "electricity"]


def _gross_load_kwh(world, utility, params) -> float:
    """Consumption of the home itself: for solar homes, the same home without panels."""
    return _kwh(
        UsageModel(world, utility, dataclasses.replace(params, solar_kw=0.0)).series("electricity", *YEAR, cost=False)
    )


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_all_electric_house_between_8000_and_25000_kwh(world, slug):
    u = world.utility(slug)
    for ups in _premises(world, u, "electric_house"):
        kwh = _kwh(UsageModel(world, u, _electric(ups)[0]).series("electricity", *YEAR, cost=False))
        assert 8000 <= kwh <= 25000, kwh


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_apartment_below_every_house(world, slug):
    u = world.utility(slug)
    apartments = [_gross_load_kwh(world, u, _electric(ups)[0]) for ups in _premises(world, u, "apartment", 10)]
    houses = [
        _gross_load_kwh(world, u, _electric(ups)[0])
        for a in ("gas_house", "electric_house", "solar_house", "ev_house")
        for ups in _premises(world, u, a)
    ]
    assert max(apartments) < min(houses), (max(apartments), min(houses))


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_solar_export_only_in_daylight_and_more_in_june(world, slug):
    u = world.utility(slug)
    tz = ZoneInfo(u.time_zone)
    where = LocationInfo(latitude=u.latitude, longitude=u.longitude, timezone=u.time_zone).observer
    for ups in _premises(world, u, "solar_house", 2):
        model = UsageModel(world, u, _electric(ups)[0])
        received = model.series("electricity-received", *YEAR, cost=False)
        assert received.values.sum() > 0
        by_month = defaultdict(int)
        daylight = {}
        for start, dur, value in zip(received.starts.tolist(), received.durations.tolist(), received.values.tolist()):
            if value <= 0:
                continue
            day = dt.datetime.fromtimestamp(start, tz).date()
            if day not in daylight:
                s = sun(where, date=day, tzinfo=tz)
                daylight[day] = (s["sunrise"].timestamp(), s["sunset"].timestamp())
            rise, set_ = daylight[day]
            assert start + dur > rise and start < set_, (day, start)
            by_month[day.month] += value
        assert by_month[6] > 1.5 * by_month[12]


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_gas_higher_in_january_than_july(world, slug):
    u = world.utility(slug)
    for ups in _premises(world, u, "gas_house", 4):
        gas = UsageModel(world, u, [p for p in ups if p.commodity == "gas"][0])
        jan = gas.series("gas", dt.date(2024, 1, 1), dt.date(2024, 2, 1), cost=False).values.sum()
        jul = gas.series("gas", dt.date(2024, 7, 1), dt.date(2024, 8, 1), cost=False).values.sum()
        assert jan > 1.5 * jul


def _night_share(series, tz_name) -> float:
    tz = ZoneInfo(tz_name)
    hours = np.array([dt.datetime.fromtimestamp(t, tz).hour for t in series.starts.tolist()])
    return float(series.values[hours < 6].sum() / series.values.sum())


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_ev_homes_charge_at_night(world, slug):
    u = world.utility(slug)
    ev = [
        _night_share(UsageModel(world, u, _electric(ups)[0]).series("electricity", *YEAR, cost=False), u.time_zone)
        for ups in _premises(world, u, "ev_house", 4)
    ]
    plain = [
        _night_share(UsageModel(world, u, _electric(ups)[0]).series("electricity", *YEAR, cost=False), u.time_zone)
        for ups in _premises(world, u, "gas_house", 4)
    ]
    assert min(ev) > max(plain) + 0.08, (ev, plain)


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie"])
def test_small_business_peaks_on_weekdays(world, slug):
    u = world.utility(slug)
    tz = ZoneInfo(u.time_zone)
    for ups in _premises(world, u, "small_business", 3):
        s = UsageModel(world, u, _electric(ups)[0]).series("electricity", *YEAR, cost=False)
        local = [dt.datetime.fromtimestamp(t, tz) for t in s.starts.tolist()]
        weekday = np.array([t.weekday() < 5 for t in local])
        hours = np.array([t.hour for t in local])

        def per_day(mask, s=s, local=local):
            return s.values[mask].sum() / len({t.date() for t, m in zip(local, mask) if m})

        assert per_day(weekday) > 1.6 * per_day(~weekday)
        busiest_hour = np.bincount(hours[weekday], weights=s.values[weekday], minlength=24).argmax()
        assert 8 <= busiest_hour <= 17
