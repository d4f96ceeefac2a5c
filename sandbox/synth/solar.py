"""The sun's position (NOAA's low-precision formulas) and a rooftop array's output."""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from itertools import repeat

import numpy as np

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


@lru_cache(maxsize=4096)  # a latitude's 366 days, for every utility
def _day_terms(lat: float, doy: int) -> tuple[float, float, float]:
    """(sin(lat) sin(decl), cos(lat) cos(decl), equation of time) of a day of the year: the sine of
    the sun's elevation is the first plus the second times the cosine of the hour angle."""
    decl, eot = _declination_and_eot(doy)
    return math.sin(lat * _RAD) * math.sin(decl), math.cos(lat * _RAD) * math.cos(decl), eot


def clear_sky(lat: float, lon: float, doy: np.ndarray, seconds: np.ndarray, interval: int) -> np.ndarray:
    """kWh per kW of panels in each interval under a clear sky: interval k starts `seconds[k]`
    after a UTC midnight, on day of the year `doy[k]` (a local day's intervals all take its day).

    Sampled at four points inside each interval, so an interval that holds sunrise gets only the
    part after sunrise, and nothing is produced while the sun is below 1 degree. The arithmetic is
    NumPy's, element by element in the order of `sin_elevation`; the cosines and powers of samples
    with the sun up are the math library's (NumPy's own may differ in the last bit on some CPUs), so
    every machine writes the same readings. NumPy's cosine only tells the night (far below the
    threshold, whatever its last bits) from the samples to compute exactly."""
    doy = np.asarray(doy, dtype=np.int64)
    terms = np.zeros((367, 3))  # by day of the year, only the days present computed (no sort)
    for d in np.flatnonzero(np.bincount(doy, minlength=367)).tolist():
        terms[d] = _day_terms(lat, d)
    a, b, eot = terms[doy].T
    acc = np.zeros(len(seconds))
    for frac in (0.125, 0.375, 0.625, 0.875):
        epoch = seconds + frac * interval
        hour_angle = (((epoch % 86400) / 60 + eot + 4 * lon) / 4 - 180) * _RAD
        up = np.flatnonzero(a + b * np.cos(hour_angle) > 0.02 - 1e-9)
        s = a[up] + b[up] * np.fromiter(map(math.cos, hour_angle[up].tolist()), dtype=np.float64, count=len(up))
        lit = s > 0.02
        power = np.zeros(len(seconds))
        power[up[lit]] = list(map(pow, s[lit].tolist(), repeat(1.25)))  # x ** 1.25, the math library's
        acc = acc + power
    return acc * (0.82 / 4 * interval / 3600)
