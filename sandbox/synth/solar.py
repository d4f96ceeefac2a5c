"""The sun's position (NOAA's low-precision formulas) and a rooftop array's output."""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache

_RAD = math.pi / 180


def _declination_and_eot(doy: int) -> tuple[float, float]:
    """Solar declination (radians) and equation of time (minutes) on a day of the year."""
    g = 2 * math.pi / 365 * (doy - 1)
    eot = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    return decl, eot


def sin_elevation(lat: float, lon: float, epoch: float, day: dt.date) -> float:
    """Sine of the sun's elevation above the horizon at a UTC instant of a day."""
    decl, eot = _declination_and_eot(day.timetuple().tm_yday)
    return _sin_el(math.sin(lat * _RAD), math.cos(lat * _RAD), decl, eot, lon, epoch)


def _sin_el(sin_phi: float, cos_phi: float, decl: float, eot: float, lon: float, epoch: float) -> float:
    solar_minutes = (epoch % 86400) / 60 + eot + 4 * lon
    hour_angle = (solar_minutes / 4 - 180) * _RAD
    return sin_phi * math.sin(decl) + cos_phi * math.cos(decl) * math.cos(hour_angle)


@lru_cache(maxsize=8192)
def clear_sky_shape(lat: float, lon: float, doy: int, day_start: int, interval: int, n: int) -> tuple[float, ...]:
    """kWh per kW of panels in each interval of a local day under a clear sky.

    Sampled at four points inside each interval, so an interval that holds sunrise gets
    only the part after sunrise, and nothing is produced while the sun is below 1 degree.
    The sun's path depends only on the day of the year, so callers pass day_start modulo
    one day and every year shares the cache.
    """
    decl, eot = _declination_and_eot(doy)
    sp, cp = math.sin(lat * _RAD), math.cos(lat * _RAD)
    scale = 0.82 / 4 * interval / 3600
    out = []
    for i in range(n):
        t0 = day_start + i * interval
        acc = 0.0
        for frac in (0.125, 0.375, 0.625, 0.875):
            s = _sin_el(sp, cp, decl, eot, lon, t0 + frac * interval)
            if s > 0.02:
                acc += s**1.25
        out.append(acc * scale)
    return tuple(out)
