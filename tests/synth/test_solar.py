"""A rooftop array's clear-sky output, computed for a whole grid at once (solar.clear_sky), is the
sun's position sampled one instant at a time (solar.sin_elevation) to the last bit: the readings of
every solar home stay what they were."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sandbox.synth.calendar import grid
from sandbox.synth.solar import clear_sky, sin_elevation


def one_at_a_time(lat: float, lon: float, g, interval: int) -> np.ndarray:
    """Each interval's output from four samples of the sun's elevation, in the formula's own order."""
    out = []
    for i, day in enumerate(g.days):
        start, end = int(g.day_starts[i]), int(g.day_starts[i + 1])
        for k in range((end - start) // interval):
            t0 = start % 86400 + k * interval
            acc = 0.0
            for frac in (0.125, 0.375, 0.625, 0.875):
                s = sin_elevation(lat, lon, t0 + frac * interval, day)
                if s > 0.02:
                    acc += s**1.25
            out.append(acc * (0.82 / 4 * interval / 3600))
    return np.array(out)


def at_once(lat: float, lon: float, g, interval: int) -> np.ndarray:
    doy = np.array([d.timetuple().tm_yday for d in g.days])[g.day]
    day_start = g.day_starts[:-1][g.day]
    return clear_sky(lat, lon, doy, g.starts - day_start + day_start % 86400, interval)


@pytest.mark.parametrize(
    "first, end, interval",
    [
        (dt.date(2024, 1, 1), dt.date(2025, 1, 1), 3600),  # a leap year, both DST changes
        (dt.date(2025, 3, 7), dt.date(2025, 3, 11), 900),  # spring forward at fifteen minutes
        (dt.date(2025, 10, 31), dt.date(2025, 11, 4), 900),  # fall back
    ],
)
def test_the_whole_grid_at_once_is_the_sun_sampled_one_instant_at_a_time(world, first, end, interval):
    for u in world.utilities:
        g = grid(u.time_zone, first, end, interval)
        got, want = at_once(u.latitude, u.longitude, g, interval), one_at_a_time(u.latitude, u.longitude, g, interval)
        assert got.tobytes() == want.tobytes(), u.slug
        assert (got > 0).any() and (got == 0).any()  # days and nights both
