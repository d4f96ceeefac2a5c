"""What several streams of a usage point share is computed once, and sharing it changes no number:
a home's received stream computed after its delivered one (their draws and demand shared) is the
one computed alone; a grid's day numbers are the dates' own."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sandbox.synth import usage
from sandbox.synth.calendar import day_numbers
from sandbox.synth.people import PeopleFactory
from sandbox.synth.usage import UsageModel

START, END = dt.date(2025, 10, 1), dt.date(2025, 12, 1)  # a DST change inside (bayview: 2 Nov 2025)


def _solar_model(world) -> UsageModel:
    u = world.utility("bayview")
    params = next(
        p for p in PeopleFactory(world, u, world.seed).customer(0).usage_points if p.commodity == "electricity"
    )
    assert params.solar_kw
    return UsageModel(world, u, params)


def _columns(s):
    return [s.starts, s.durations, s.values, s.qualities, s.costs, s.tou, s.tiers]


def test_a_received_stream_after_its_delivered_one_is_the_one_computed_alone(world):
    model = _solar_model(world)
    usage._demand.cache_clear()
    alone = model.series("electricity-received", START, END)
    usage._demand.cache_clear()
    delivered = model.series("electricity", START, END)
    hits = usage._demand.cache_info().hits
    after = model.series("electricity-received", START, END)
    assert usage._demand.cache_info().hits == hits + 1  # the delivered stream's demand, not computed again
    assert after.days == alone.days
    for a, b in zip(_columns(after), _columns(alone)):
        assert (a is None and b is None) or np.array_equal(a, b)
    assert not np.array_equal(after.values, delivered.values)


def test_day_numbers_are_the_dates_own_across_years_and_leap_days():
    days = tuple(dt.date(2023, 12, 1) + dt.timedelta(days=i) for i in range(800))
    ordinals, day_of_year = day_numbers(days)
    assert ordinals.tolist() == [d.toordinal() for d in days]
    assert day_of_year.tolist() == [d.timetuple().tm_yday for d in days]
    assert day_numbers((dt.date(2024, 12, 31), dt.date(2020, 2, 29)))[1].tolist() == [366, 60]
    assert [len(a) for a in day_numbers(())] == [0, 0]


def test_a_tariffs_price_tables_are_rate_of_each_hour(world):
    """The tables prices are read from look each month's season and each hour's period up once;
    every cell must still be rate_of's."""
    from sandbox.synth.tariff import _tables, rate_of

    checked = 0
    for u in world.utilities:
        for t in u.tariffs.values():
            rates, tou = _tables(t)
            for m in range(1, 13):
                for weekend in (False, True):
                    for h in range(24):
                        assert (rates[m, int(weekend), h], tou[m, int(weekend), h]) == rate_of(t, m, weekend, h)
                        checked += 1
    assert checked >= 576 * 2
