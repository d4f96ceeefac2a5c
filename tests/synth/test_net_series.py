"""The net series of a home with generation (FB 7): delivered minus received, interval by interval,
from the same draws, whatever the data-quality knobs; never priced; bills unchanged."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sandbox.espi import codes
from sandbox.synth.bills import monthly_bills
from sandbox.synth.people import PeopleFactory
from sandbox.synth.quality import DataQuality
from sandbox.synth.usage import ESTIMATED, UsageModel, net_series, streams_for

# a summer month and a winter one, with a DST change (bayview: US rules, 2 Nov 2025)
START, END = dt.date(2025, 6, 1), dt.date(2025, 7, 1)
WINTER = (dt.date(2025, 10, 20), dt.date(2025, 11, 10))


def _solar(world, slug="bayview"):
    """The utility's demo home's electricity (it has solar panels)."""
    u = world.utility(slug)
    params = next(
        p for p in PeopleFactory(world, u, world.seed).customer(0).usage_points if p.commodity == "electricity"
    )
    assert params.solar_kw
    return u, params


def _three(model, start=START, end=END):
    return [model.series(k, start, end) for k in ("electricity", "electricity-received", "electricity-net")]


def test_a_home_with_generation_has_a_net_stream_with_the_fb_07_reading_type(world):
    u, params = _solar(world)
    streams = {s.flow: s for s in streams_for(u, params)}
    assert set(streams) == {"delivered", "received", "net"}
    net = streams["net"]
    assert net.key == "electricity-net" and net.interval == streams["delivered"].interval
    rt = codes.reading_type(net.commodity, net.flow, net.unit, net.multiplier, net.interval, u.currency)
    # the Alliance's FB_07 rule
    assert (rt["accumulationBehaviour"], rt["commodity"], rt["flowDirection"], rt["kind"], rt["uom"]) == (
        4,
        1,
        4,
        12,
        72,
    )


def test_a_home_without_generation_has_no_net_stream(world):
    u = world.utility("lakeshore")
    for person in PeopleFactory(world, u, world.seed).customers(12):
        for p in person.usage_points:
            flows = [s.flow for s in streams_for(u, p)]
            assert ("net" in flows) == bool(p.commodity == "electricity" and p.solar_kw), (p, flows)


@pytest.mark.parametrize("period", [(START, END), WINTER])
def test_net_is_delivered_minus_received_interval_by_interval(world, period):
    u, params = _solar(world)
    delivered, received, net = _three(UsageModel(world, u, params), *period)
    assert len(net) == len(delivered) == len(received) > 0
    assert np.array_equal(net.starts, delivered.starts) and np.array_equal(net.durations, delivered.durations)
    assert np.array_equal(net.values, delivered.values - received.values)
    assert (net.values < 0).any() and (net.values > 0).any()  # exporting at noon, drawing at night
    assert net.days == delivered.days


KNOBS = {
    "missing and estimated": DataQuality(missing_share=0.2, estimated_share=0.2),
    "outage": DataQuality(outage_days=(dt.date(2025, 6, 10), dt.date(2025, 6, 11))),
    "zero and negative": DataQuality(zero_share=0.1, negative_share=0.1),
    "all": DataQuality(0.1, 0.1, 0.1, 0.1, (dt.date(2025, 6, 20),)),
}


@pytest.mark.parametrize("name", list(KNOBS))
def test_the_data_quality_knobs_keep_the_three_streams_consistent(world, name):
    u, params = _solar(world)
    quality = KNOBS[name]
    delivered, received, net = _three(UsageModel(world, u, params, quality))
    plain = UsageModel(world, u, params, DataQuality()).series("electricity", START, END)
    assert len(delivered) < len(plain) or name == "zero and negative"  # the knobs did something
    # a reading missing in delivered is missing in net (and in received), an estimate is one in each
    assert np.array_equal(net.starts, delivered.starts) and np.array_equal(net.starts, received.starts)
    assert np.array_equal(net.qualities, delivered.qualities) and np.array_equal(net.qualities, received.qualities)
    assert np.array_equal(net.values, delivered.values - received.values)
    if quality.estimated_share:
        assert (net.qualities == ESTIMATED).any()
    for day in quality.outage_days:
        assert all(d != day or a == b for d, a, b in net.days)


def test_net_is_not_priced_and_the_bills_stay_those_of_delivered_and_received(world):
    u, params = _solar(world)
    model = UsageModel(world, u, params)
    delivered, received, net = _three(model)
    assert net.costs is None and net.tou is None
    assert delivered.costs is not None and received.costs is not None
    (bill,) = monthly_bills(model, START, END)
    assert bill.consumption == int(delivered.values.sum()) and bill.received == int(received.values.sum())
    assert bill.energy_charges == int(delivered.costs.sum()) and bill.credits == int(received.costs.sum())


def test_net_is_taken_from_series_already_computed_only_when_they_hold_the_same_days(world):
    u, params = _solar(world)
    model = UsageModel(world, u, params)
    delivered, received, net = _three(model)
    # the same days: used as they are (a feed computes them anyway)
    fake = dataclasses.replace(received, values=received.values * 0)
    reused = model.series(
        "electricity-net", START, END, computed={"electricity": delivered, "electricity-received": fake}
    )
    assert np.array_equal(reused.values, delivered.values)
    # other days: computed afresh
    other = model.series(
        "electricity-net",
        START,
        END,
        computed={
            "electricity": model.series("electricity", START, END + dt.timedelta(days=1)),
            "electricity-received": fake.slice_days(START, END - dt.timedelta(days=1)),
        },
    )
    assert np.array_equal(other.values, net.values)


def test_net_series_refuses_readings_of_other_intervals(world):
    u, params = _solar(world)
    model = UsageModel(world, u, params)
    delivered, received, _ = _three(model)
    with pytest.raises(ValueError, match="same intervals"):
        net_series(model.streams["electricity-net"], delivered, received.slice_days(START, END - dt.timedelta(days=1)))
