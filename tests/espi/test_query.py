"""The ESPI query parameters as a pure filter (ESPI.md 4.4)."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox.espi.atom import Entry
from sandbox.espi.query import Query, QueryError, Quirks, apply, parse_query

T0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp())
DAY = 86400


def _entries():
    """A UsagePoint, its MeterReading and ReadingType, then five daily blocks and a monthly summary."""
    out = [
        Entry("UsagePoint", "up", "s/up", "s", "", T0, T0 + 5 * DAY, dict, structural=True),
        Entry("MeterReading", "mr", "s/mr", "s", "", T0, T0 + 5 * DAY, dict, structural=True),
        Entry("ReadingType", "rt", "s/rt", "s", "", T0, T0, dict, structural=True),
    ]
    for d in range(5):
        out.append(
            Entry(
                "IntervalBlock",
                f"b{d}",
                f"s/b{d}",
                "s",
                "",
                T0 + (d + 1) * DAY,
                T0 + (d + 1) * DAY,
                dict,
                window=(T0 + d * DAY, T0 + (d + 1) * DAY),
            )
        )
    out.append(
        Entry("UsageSummary", "sum", "s/sum", "s", "", T0 + 31 * DAY, T0 + 31 * DAY, dict, window=(T0, T0 + 31 * DAY))
    )
    return out


def _ids(q: Query):
    return [e.uuid for e in apply(q, _entries())]


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_parameters_keep_everything():
    assert _ids(parse_query({})) == [e.uuid for e in _entries()]


def test_published_window_keeps_parents_and_blocks_inside():
    q = parse_query({"published-min": iso(T0 + DAY), "published-max": iso(T0 + 3 * DAY)})
    assert _ids(q) == ["up", "mr", "rt", "b1", "b2"]


def test_updated_min_selects_new_data_for_polling():
    assert _ids(parse_query({"updated-min": iso(T0 + 4 * DAY)})) == ["up", "mr", "rt", "b3", "b4", "sum"]


def test_paging_counts_entries_in_order():
    assert _ids(parse_query({"max-results": "2"})) == ["up", "mr"]
    assert _ids(parse_query({"start-index": "4", "max-results": "3"})) == ["b0", "b1", "b2"]
    assert _ids(parse_query({"start-index": "8", "depth": "5"})) == ["b4", "sum"]
    assert _ids(parse_query({"max-results": "9", "depth": "1"})) == ["up"]


def test_unknown_parameters_are_ignored():
    assert _ids(parse_query({"colour": "blue"})) == [e.uuid for e in _entries()]


@pytest.mark.parametrize(
    "params, bad",
    [
        ({"published-min": "yesterday"}, "published-min"),
        ({"published-max": "2025-01-01"}, "published-max"),
        ({"updated-min": "2025-01-01T00:00:00"}, "updated-min"),
        ({"max-results": "ten"}, "max-results"),
        ({"start-index": "0"}, "start-index"),
        ({"depth": "-1"}, "depth"),
        ({"published-min": "2025-02-01T00:00:00Z", "published-max": "2025-01-01T00:00:00Z"}, "published-min"),
    ],
)
def test_malformed_values_name_the_parameter(params, bad):
    with pytest.raises(QueryError) as err:
        parse_query(params)
    assert err.value.parameter == bad and bad in str(err.value)


def test_query_round_trips_to_parameters():
    params = {"published-min": "2025-01-02T00:00:00Z", "max-results": "5", "start-index": "2"}
    assert parse_query(parse_query(params).as_params()) == parse_query(params)


def test_block_runs_are_filtered_and_paged_block_by_block():
    from sandbox.espi.atom import BlockRun, ReadingRun

    run = BlockRun(
        "s/mr/IntervalBlock",
        [f"r{d}" for d in range(5)],
        [(T0 + d * DAY, T0 + (d + 1) * DAY) for d in range(5)],
        [T0 + (d + 1) * DAY for d in range(5)],
        [(d, d + 1) for d in range(5)],
        lambda: ReadingRun(b"%s", 1, [b"x"] * 5),
    )
    entries = _entries()[:3] + [run]

    def ids(params):
        out = []
        for e in apply(parse_query(params), entries):
            out += e.uuids if isinstance(e, BlockRun) else [e.uuid]
        return out

    assert ids({"published-min": iso(T0 + DAY), "published-max": iso(T0 + 3 * DAY)}) == ["up", "mr", "rt", "r1", "r2"]
    assert ids({"start-index": "3", "max-results": "3"}) == ["rt", "r0", "r1"]
    assert ids({"updated-min": iso(T0 + 5 * DAY)}) == ["up", "mr", "rt", "r4"]


# --- a behaviour profile's date-filter quirks -------------------------------------------------


def _epoch(*parts, tz=dt.timezone.utc) -> int:
    return int(dt.datetime(*parts, tzinfo=tz).timestamp())


def test_whole_local_days_widen_across_a_dst_change():
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    q = parse_query(
        {"published-min": "2025-03-09T12:00:00Z", "published-max": "2025-03-09T12:00:01Z"},
        Quirks(whole_local_days=True, time_zone="America/New_York"),
    )
    # the 23-hour day of the spring change: local midnight (EST) to the next local midnight (EDT)
    assert q.published_min == _epoch(2025, 3, 9, tz=ny) == _epoch(2025, 3, 9, 5)
    assert q.published_max == _epoch(2025, 3, 10, tz=ny) == _epoch(2025, 3, 10, 4)
    edge = parse_query(
        {"published-max": "2025-03-10T04:00:00Z"}, Quirks(whole_local_days=True, time_zone="America/New_York")
    )
    assert edge.published_max == _epoch(2025, 3, 10, 4)  # a midnight already stays


def test_future_published_max_and_fractions_are_refused_only_when_asked():
    now = _epoch(2025, 3, 1)
    loose = {"published-max": "2025-03-02T00:00:00Z", "published-min": "2025-02-01T00:00:00.250Z"}
    assert parse_query(loose).published_max == _epoch(2025, 3, 2)
    with pytest.raises(QueryError) as err:
        parse_query({"published-max": "2025-03-02T00:00:00Z"}, Quirks(refuse_future_published_max=True, now=now))
    assert err.value.parameter == "published-max" and "future" in str(err.value)
    assert (
        parse_query(
            {"published-max": "2025-03-01T00:00:00Z"}, Quirks(refuse_future_published_max=True, now=now)
        ).published_max
        == now
    )
    with pytest.raises(QueryError) as err:
        parse_query(loose, Quirks(refuse_fractional_seconds=True))
    assert err.value.parameter == "published-min" and "fraction of a second" in str(err.value)


def test_updated_min_can_be_ignored():
    args = {"updated-min": "2025-03-02T00:00:00Z", "updated-max": "2025-03-05T00:00:00Z"}
    q = parse_query(args, Quirks(ignore_updated_min=True))
    assert q.updated_min is None and q.updated_max == _epoch(2025, 3, 5)


@pytest.mark.parametrize(
    "name, value", [("published-min", "0001-01-01T00:00:00+14:00"), ("published-max", "9999-12-31T23:59:59Z")]
)
def test_whole_local_days_refuse_times_outside_the_calendar(name, value):
    with pytest.raises(QueryError) as err:
        parse_query({name: value}, Quirks(whole_local_days=True, time_zone="America/New_York"))
    assert err.value.parameter == name
