"""Data-quality knobs (synth.quality): each changes exactly what it says and nothing else; the
world's shares stay the default; seed files' [[data_quality]] tables are read and checked."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sandbox.synth.people import PeopleFactory
from sandbox.synth.quality import DataQuality, QualityError, check_knobs
from sandbox.synth.usage import ESTIMATED, UsageModel
from sandbox.synth.world import SeedDataError, parse_world, read_seed_dir

ROOT = Path(__file__).resolve().parents[2]
# three winter months of fifteen-minute readings (about 8,600 intervals)
START, END = dt.date(2025, 1, 1), dt.date(2025, 4, 1)
TOLERANCE = 0.02  # about six standard deviations of a share near 0.1 over 8,600 draws


def _params(world, slug, number=2, commodity="electricity"):
    u = world.utility(slug)
    person = list(PeopleFactory(world, u, world.seed).customers(number))[number]
    return u, [p for p in person.usage_points if p.commodity == commodity][0]


def _series(world, slug, quality=None, number=2, commodity="electricity", key=None, start=START, end=END):
    u, params = _params(world, slug, number, commodity)
    return UsageModel(world, u, params, quality).series(key or commodity, start, end)


@pytest.fixture(scope="module")
def exact(exact_world):
    """A lakeshore apartment's electricity (no solar) without any imperfection: every interval, measured."""
    s = _series(exact_world, "lakeshore")
    assert (s.qualities == 0).all() and (s.values > 0).all()
    return s


def _same(a, b) -> None:
    for name in ("starts", "durations", "values", "qualities", "costs", "tou", "tiers"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.days == b.days


def test_default_is_the_worlds_shares(world):
    default = DataQuality.of_world(world)
    assert (default.missing_share, default.estimated_share) == (world.missing_share, world.estimated_share)
    assert (default.zero_share, default.negative_share, default.outage_days) == (0.0, 0.0, ())
    u, params = _params(world, "bayview")
    assert UsageModel(world, u, params).quality == default
    _same(_series(world, "bayview"), _series(world, "bayview", default))
    # knobs given are the customer's, the others the world's
    mine = DataQuality.from_json({"zero_share": 0.1}, default)
    assert mine == dataclasses.replace(default, zero_share=0.1)
    assert DataQuality.from_json({}, default) is default and DataQuality.from_json(None, default) is default


def test_missing_share_leaves_out_that_share_and_keeps_the_rest(exact_world, exact):
    s = _series(exact_world, "lakeshore", DataQuality(missing_share=0.2))
    assert abs(1 - len(s) / len(exact) - 0.2) < TOLERANCE
    kept = np.isin(exact.starts, s.starts)
    assert kept.sum() == len(s)
    assert np.array_equal(exact.values[kept], s.values) and np.array_equal(exact.costs[kept], s.costs)


def test_estimated_share_flags_readings_without_changing_them(exact_world, exact):
    s = _series(exact_world, "lakeshore", DataQuality(estimated_share=0.3))
    assert np.array_equal(s.starts, exact.starts) and np.array_equal(s.values, exact.values)
    assert set(np.unique(s.qualities).tolist()) == {0, ESTIMATED}
    assert abs((s.qualities == ESTIMATED).mean() - 0.3) < TOLERANCE


def test_zero_share_zeroes_that_share_of_readings_only(exact_world, exact):
    s = _series(exact_world, "lakeshore", DataQuality(zero_share=0.1))
    assert np.array_equal(s.starts, exact.starts) and np.array_equal(s.qualities, exact.qualities)
    zero = s.values == 0
    assert abs(zero.mean() - 0.1) < TOLERANCE
    assert np.array_equal(s.values[~zero], exact.values[~zero])
    assert (s.costs[zero] == 0).all()


def test_negative_share_negates_that_share_of_readings_only(exact_world, exact):
    s = _series(exact_world, "lakeshore", DataQuality(negative_share=0.15))
    assert np.array_equal(s.starts, exact.starts)
    negative = s.values < 0
    assert abs(negative.mean() - 0.15) < TOLERANCE
    assert np.array_equal(s.values[negative], -exact.values[negative])
    assert np.array_equal(s.values[~negative], exact.values[~negative])
    assert (s.costs[negative] <= 0).all()


def test_a_zero_reading_chosen_negative_reads_minus_one(exact_world):
    """The solar export stream is 0 all night: a negative reading there is still negative."""
    plain = _series(exact_world, "bayview", key="electricity-received")
    night = plain.values == 0
    assert night.mean() > 0.3
    s = _series(exact_world, "bayview", DataQuality(negative_share=0.2), key="electricity-received")
    negative = s.values < 0
    assert abs(negative.mean() - 0.2) < TOLERANCE
    assert (s.values[negative & night] == -1).all() and (negative & night).any()


def test_zero_and_negative_never_fall_on_one_reading_and_add_up(exact_world, exact):
    both = _series(exact_world, "lakeshore", DataQuality(zero_share=0.1, negative_share=0.1))
    assert abs((both.values == 0).mean() - 0.1) < TOLERANCE and abs((both.values < 0).mean() - 0.1) < TOLERANCE
    zeros_alone = _series(exact_world, "lakeshore", DataQuality(zero_share=0.1))
    assert np.array_equal(both.values == 0, zeros_alone.values == 0)  # adding negatives moves no zero


def test_knobs_stack_without_moving_each_other(exact_world):
    gaps = DataQuality(missing_share=0.1)
    alone = _series(exact_world, "lakeshore", gaps)
    more = _series(exact_world, "lakeshore", dataclasses.replace(gaps, zero_share=0.1, negative_share=0.1))
    assert np.array_equal(alone.starts, more.starts)  # the same gaps
    untouched = more.values > 0
    assert np.array_equal(alone.values[untouched], more.values[untouched])


@pytest.mark.parametrize(
    "slug, outage, per_hour, hours",
    [
        ("bayview", dt.date(2024, 3, 10), 1, 23),  # spring forward (America/Los_Angeles)
        ("bayview", dt.date(2024, 11, 3), 1, 25),  # fall back
        ("lakeshore", dt.date(2025, 3, 9), 4, 23),  # spring forward, fifteen-minute readings
        ("lakeshore", dt.date(2025, 1, 14), 4, 24),
    ],
)
def test_an_outage_day_has_no_readings_that_local_day(exact_world, slug, outage, per_hour, hours):
    u = exact_world.utility(slug)
    tz = ZoneInfo(u.time_zone)
    start, end = outage - dt.timedelta(days=3), outage + dt.timedelta(days=3)
    plain = _series(exact_world, slug, start=start, end=end)
    s = _series(exact_world, slug, DataQuality(outage_days=(outage,)), start=start, end=end)
    per_day = Counter(dt.datetime.fromtimestamp(t, tz).date() for t in s.starts.tolist())
    plain_per_day = Counter(dt.datetime.fromtimestamp(t, tz).date() for t in plain.starts.tolist())
    assert plain_per_day[outage] == hours * per_hour
    assert outage not in per_day
    assert {d: n for d, n in plain_per_day.items() if d != outage} == per_day
    assert dict((d, b - a) for d, a, b in s.days)[outage] == 0
    on_day = np.array([dt.datetime.fromtimestamp(t, tz).date() != outage for t in plain.starts.tolist()])
    assert np.array_equal(plain.values[on_day], s.values)


def test_an_outage_day_removes_the_daily_gas_reading(exact_world):
    outage = dt.date(2024, 3, 10)  # a 23-hour day
    days = (dt.date(2024, 3, 9), dt.date(2024, 3, 12))
    plain = _series(exact_world, "bayview", commodity="gas", start=days[0], end=days[1])
    s = _series(
        exact_world,
        "bayview",
        DataQuality(outage_days=(outage, dt.date(2030, 1, 1))),
        commodity="gas",
        start=days[0],
        end=days[1],
    )
    assert len(plain) == 3 and len(s) == 2
    assert s.starts.tolist() == [plain.starts[0], plain.starts[2]]


def test_knobs_of_one_customer_leave_anothers_readings_alone(world):
    """A customer's knobs reach only its own model: another customer's full series is unchanged,
    and the same knobs on two customers make different (their own) patterns."""
    harsh = DataQuality(
        missing_share=0.3, estimated_share=0.2, zero_share=0.1, negative_share=0.1, outage_days=(dt.date(2025, 2, 3),)
    )
    one = _series(world, "lakeshore", harsh, number=2)
    other_plain, other_again = _series(world, "lakeshore", number=3), _series(world, "lakeshore", number=3)
    _same(other_plain, other_again)
    two = _series(world, "lakeshore", harsh, number=3)
    assert not np.isin(one.starts, two.starts).all()
    # deterministic: the same knobs and seed give the same readings
    _same(one, _series(world, "lakeshore", harsh, number=2))


@pytest.mark.parametrize(
    "knobs, field",
    [
        ({"missing_share": 0.6}, "missing_share"),
        ({"estimated_share": -0.1}, "estimated_share"),
        ({"zero_share": "0.1"}, "zero_share"),
        ({"negative_share": True}, "negative_share"),
        ({"negative_share": float("nan")}, "negative_share"),
        ({"outage_days": "2025-01-14"}, "outage_days"),
        ({"outage_days": ["2025-01-14", "2025-02-30"]}, "outage_days[1]"),
        ({"outage_days": ["2025-1-4"]}, "outage_days[0]"),
        ({"gap_share": 0.1}, "gap_share"),
    ],
)
def test_bad_knobs_are_named(knobs, field):
    with pytest.raises(QualityError) as err:
        check_knobs(knobs)
    assert err.value.field == field and field in str(err.value)


def test_knobs_are_stored_as_json(world):
    stored = check_knobs({"missing_share": 0, "outage_days": ["2025-02-01", dt.date(2025, 1, 14), "2025-02-01"]})
    assert stored == {"missing_share": 0.0, "outage_days": ["2025-01-14", "2025-02-01"]}
    q = DataQuality.from_json(stored, DataQuality.of_world(world))
    assert q.outage_days == (dt.date(2025, 1, 14), dt.date(2025, 2, 1))
    assert DataQuality.from_json(q.as_json(), DataQuality()) == q


# --- seed files ------------------------------------------------------------------------------


def _files(extra: str, rel: str = "utilities/bayview.toml") -> dict[str, str]:
    files = read_seed_dir(ROOT / "seed_data")
    files[rel] = files[rel] + "\n" + extra
    return files


def test_the_shipped_world_has_a_customer_with_imperfect_data(world):
    tables = {u.slug: u.data_quality for u in world.utilities if u.data_quality}
    assert tables, "no seed file gives a customer imperfect data"
    for knobs in (k for t in tables.values() for k in t.values()):
        q = DataQuality.from_json(knobs, DataQuality.of_world(world))
        assert q != DataQuality.of_world(world)


def test_a_data_quality_table_is_read():
    world = parse_world(
        _files(
            "[[data_quality]]\ncustomers = [1, 2]\nzero_share = 0.25\n"
            'outage_days = [2025-01-14, "2025-01-02"]\n'
            "[[data_quality]]\ncustomers = [0]\nmissing_share = 0.05\n"
        )
    )
    assert world.utility("bayview").data_quality == {
        1: {"zero_share": 0.25, "outage_days": ["2025-01-02", "2025-01-14"]},
        2: {"zero_share": 0.25, "outage_days": ["2025-01-02", "2025-01-14"]},
        0: {"missing_share": 0.05},
    }
    assert world.utility("lakeshore").data_quality == {}


@pytest.mark.parametrize(
    "table, field, words",
    [
        ("customers = [1]\nmissing_share = 0.75", "data_quality[0].missing_share", "between 0 and 0.5"),
        ("customers = [1]\nzero_share = 'a lot'", "data_quality[0].zero_share", "must be a number"),
        ("customers = [1]\noutage_days = ['14/01/2025']", "data_quality[0].outage_days[0]", "YYYY-MM-DD"),
        ("customers = [1]\nnoise_share = 0.1", "data_quality[0].noise_share", "not a data-quality knob"),
        ("customers = []\nzero_share = 0.1", "data_quality[0].customers", "at least one"),
        ("customers = ['demo']\nzero_share = 0.1", "data_quality[0].customers", "customer numbers"),
        ("zero_share = 0.1", "data_quality[0].customers", "required"),
        ("customers = [1]", "data_quality[0].customers", "no knob"),
        (
            "customers = [1]\nzero_share = 0.1\n[[data_quality]]\ncustomers = [2, 1]\nzero_share = 0.2",
            "data_quality[1].customers",
            "customer 1 already",
        ),
    ],
)
def test_bad_seed_values_give_a_seed_data_error(table, field, words):
    with pytest.raises(SeedDataError) as err:
        parse_world(_files("[[data_quality]]\n" + table))
    assert err.value.field == field, err.value
    assert err.value.file.endswith("utilities/bayview.toml") and words in err.value.problem, err.value
