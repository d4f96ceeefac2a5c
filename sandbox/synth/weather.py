"""A synthetic daily temperature and cloudiness series per utility.

Both are pure functions of the world seed, the utility and the date, built only from
integer hashing and IEEE arithmetic (transcendentals come from per-day-of-year tables
computed with `math`), so a day gives the same value whether computed alone or
inside a longer period, on any machine. Neighbouring days are correlated through a
five-day smoothing of the noise.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache

import numpy as np

from sandbox.synth.calendar import day_numbers
from sandbox.synth.noise import key_int, uniforms
from sandbox.synth.world import Climate

_SMOOTH = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
_SMOOTH_NORM = 1 / math.sqrt(float((_SMOOTH**2).sum()))


@lru_cache(maxsize=64)
def _seasonal(coldest_day: int) -> np.ndarray:
    """-cos of the annual cycle for day of year 0..366 (index = tm_yday); 1 on the warmest day."""
    return np.array([-math.cos(2 * math.pi * (d - coldest_day) / 365.25) for d in range(367)])


def _normal(key: int, ordinals: np.ndarray) -> np.ndarray:
    """Approximately standard normal numbers (Irwin-Hall of four uniforms)."""
    c = ordinals.astype(np.int64) * 4
    s = uniforms(key, c) + uniforms(key, c + 1) + uniforms(key, c + 2) + uniforms(key, c + 3)
    return (s - 2.0) * math.sqrt(3.0)


def daily_weather(seed: int, slug: str, climate: Climate, days: tuple[dt.date, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(mean temperature in degrees Celsius, share of clear-sky sunshine 0.15..1) per day."""
    if not days:
        return np.zeros(0), np.zeros(0)
    o, doy = day_numbers(tuple(days))
    season = _seasonal(climate.coldest_day)[doy]
    wide = _normal(key_int(seed, slug, "temperature"), np.arange(o[0] - 2, o[-1] + 3, dtype=np.int64))
    smooth = np.convolve(wide, _SMOOTH[::-1], mode="valid")[o - o[0]] * _SMOOTH_NORM
    temps = climate.mean_c + climate.amplitude_c * season + climate.daily_noise_c * smooth
    summer = 0.5 + 0.5 * season
    p_cloudy = climate.cloudy_winter + (climate.cloudy_summer - climate.cloudy_winter) * summer
    ck = key_int(seed, slug, "clouds")
    u = uniforms(ck, o * 2)
    depth = uniforms(ck, o * 2 + 1)
    clouds = np.where(u < p_cloudy, 0.15 + 0.35 * depth, 0.85 + 0.15 * depth)
    return temps, clouds


def degree_days(temps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heating, cooling) degree days on 18 and 22 degree bases."""
    return np.maximum(0.0, 18.0 - temps), np.maximum(0.0, temps - 22.0)
