"""One seed fixes the whole world; another seed gives another world."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np

from sandbox.espi.uuids import resource_uuid
from sandbox.synth.people import PeopleFactory
from sandbox.synth.usage import UsageModel

YEAR = (dt.date(2024, 1, 1), dt.date(2025, 1, 1))


def _demo_readings_hash(world) -> str:
    h = hashlib.sha256()
    for u in world.utilities:
        demo = PeopleFactory(world, u, world.seed).customer(0)
        for params in demo.usage_points:
            model = UsageModel(world, u, params)
            for key in model.streams:
                s = model.series(key, *YEAR)
                for arr in (s.starts, s.durations, s.values, s.qualities, s.costs if s.costs is not None else ()):
                    h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return h.hexdigest()


def test_same_seed_same_customers_and_parameters(world):
    for u in world.utilities:
        a = list(PeopleFactory(world, u, world.seed).customers(40))
        b = list(PeopleFactory(world, u, world.seed).customers(40))
        assert a == b
        # customer n does not depend on how many are generated
        assert list(PeopleFactory(world, u, world.seed).customers(10)) == a[:11]


def test_other_seed_other_customers(world):
    for u in world.utilities:
        a = list(PeopleFactory(world, u, 42).customers(20))
        b = list(PeopleFactory(world, u, 43).customers(20))
        assert [c.username for c in a] != [c.username for c in b]
        assert [c.usage_points for c in a] != [c.usage_points for c in b]


def test_same_seed_same_year_of_readings(world):
    assert _demo_readings_hash(world) == _demo_readings_hash(world)


def test_other_seed_other_readings(world):
    assert _demo_readings_hash(world) != _demo_readings_hash(dataclasses.replace(world, seed=world.seed + 1))


def test_a_period_alone_equals_the_same_days_of_a_longer_period(world):
    u = world.utility("prairie")  # tiered: costs depend on the month so far
    demo = PeopleFactory(world, u, world.seed).customer(0)
    model = UsageModel(world, u, demo.usage_points[0])
    year = model.series("electricity", *YEAR)
    part = model.series("electricity", dt.date(2024, 3, 17), dt.date(2024, 3, 20))
    ref = year.slice_days(dt.date(2024, 3, 17), dt.date(2024, 3, 20))
    for name in ("starts", "values", "qualities", "costs", "tiers"):
        assert np.array_equal(getattr(part, name), getattr(ref, name)), name


def test_uuids_are_version_5_and_stable():
    a = resource_uuid(42, "bayview", "customer", 0, "usage-point", 0)
    assert a.version == 5
    assert a == resource_uuid(42, "bayview", "customer", 0, "usage-point", 0)
    assert a != resource_uuid(43, "bayview", "customer", 0, "usage-point", 0)
    assert a != resource_uuid(42, "bayview", "customer", 0, "usage-point", 1)
