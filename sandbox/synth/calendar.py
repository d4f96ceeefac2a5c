"""Local days in UTC epoch seconds, where daylight saving time makes days 23 or 25 hours long."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np


@lru_cache(maxsize=65536)
def local_midnight(tz_name: str, day: dt.date) -> int:
    """UTC epoch second at which `day` starts on the wall clock of tz_name."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz_name)).timestamp())


@lru_cache(maxsize=64)
def day_numbers(days: tuple[dt.date, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(proleptic ordinal, day of the year) of each day, as read-only int64 arrays (a grid's days are
    asked for by the weather, the sun and the noise: computed once, without a date object per day)."""
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    years = range(min(d.year for d in days), max(d.year for d in days) + 1) if days else range(0)
    new_years = np.array([dt.date(y, 1, 1).toordinal() for y in years], dtype=np.int64)
    day_of_year = ordinals - new_years[np.searchsorted(new_years, ordinals, side="right") - 1] + 1
    for a in (ordinals, day_of_year):
        a.setflags(write=False)
    return ordinals, day_of_year


@lru_cache(maxsize=8192)
def day_hours(tz_name: str, day: dt.date, interval: int) -> tuple[float, ...]:
    """Local clock hour (14.25 = 14:15) at the start of each interval of a local day.

    A spring-forward day has no 02:00 hour and a fall-back day has two, so the tuple has
    23 or 25 entries per hour of intervals.
    """
    start = local_midnight(tz_name, day)
    end = local_midnight(tz_name, day + dt.timedelta(days=1))
    n = (end - start) // interval
    if end - start == 86400:
        step = interval / 3600
        return tuple(i * step for i in range(n))
    tz = ZoneInfo(tz_name)
    out = []
    for i in range(n):
        t = dt.datetime.fromtimestamp(start + i * interval, tz)
        out.append(t.hour + t.minute / 60)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Grid:
    """Every interval of the local days first <= day < end, as parallel arrays."""

    days: tuple[dt.date, ...]
    day_starts: np.ndarray  # int64, one per day, plus the end of the last day
    weekday: np.ndarray  # int8 per day (Monday 0)
    month: np.ndarray  # int8 per day
    starts: np.ndarray  # int64 per interval
    durations: np.ndarray  # int64 per interval
    day: np.ndarray  # int32 per interval: index into days
    hour: np.ndarray  # float64 local clock hour per interval


@lru_cache(maxsize=64)
def grid(tz_name: str, first: dt.date, end: dt.date, interval: int) -> Grid:
    """The intervals of a period; daily intervals last as long as their local day."""
    days = []
    d = first
    one = dt.timedelta(days=1)
    while d < end:
        days.append(d)
        d += one
    bounds = np.array([local_midnight(tz_name, x) for x in days] + [local_midnight(tz_name, end)], dtype=np.int64)
    if interval == 86400:
        starts = bounds[:-1].copy()
        durations = np.diff(bounds)
        day_idx = np.arange(len(days), dtype=np.int32)
        hour = np.zeros(len(days))
    else:
        lengths = np.diff(bounds)
        counts_a = lengths // interval
        day_idx = np.repeat(np.arange(len(days), dtype=np.int32), counts_a)
        offsets = np.arange(len(day_idx), dtype=np.int64) - np.repeat(np.cumsum(counts_a) - counts_a, counts_a)
        starts = bounds[:-1][day_idx] + offsets * interval
        durations = np.full(len(starts), interval, dtype=np.int64)
        hour = offsets * (interval / 3600)  # a day of 24 hours: the clock hour is the time since midnight
        for i in np.flatnonzero(lengths != 86400).tolist():  # a DST change's day (23 or 25 hours)
            at = np.flatnonzero(day_idx == i)
            hour[at] = day_hours(tz_name, days[i], interval)
    for a in (bounds, starts, durations, day_idx, hour):
        a.setflags(write=False)
    return Grid(
        tuple(days),
        bounds,
        np.array([x.weekday() for x in days], dtype=np.int8),
        np.array([x.month for x in days], dtype=np.int8),
        starts,
        durations,
        day_idx,
        hour,
    )


def local_date(tz_name: str, epoch: int) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo(tz_name)).date()


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_back(day: dt.date, n: int) -> dt.date:
    """The same day of the month n months earlier (days past the 28th become the 28th)."""
    y, m = divmod(day.year * 12 + day.month - 1 - n, 12)
    return dt.date(y, m + 1, min(day.day, 28))


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
