"""Customer archetypes: which usage points a premise has and the parameters of each.

Parameters are drawn once at seeding and stored; readings are then computed from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from sandbox.synth.world import UtilityDef

# Hourly load shapes (mean 1 over a day), local clock hour 0..23.
RESIDENTIAL_WEEKDAY = (
    0.55,
    0.5,
    0.48,
    0.47,
    0.48,
    0.56,
    0.82,
    1.08,
    1.02,
    0.86,
    0.8,
    0.8,
    0.82,
    0.8,
    0.82,
    0.92,
    1.06,
    1.32,
    1.52,
    1.58,
    1.48,
    1.27,
    0.98,
    0.72,
)
RESIDENTIAL_WEEKEND = (
    0.6,
    0.54,
    0.5,
    0.48,
    0.48,
    0.5,
    0.6,
    0.78,
    0.98,
    1.1,
    1.12,
    1.1,
    1.08,
    1.04,
    1.02,
    1.04,
    1.12,
    1.3,
    1.46,
    1.5,
    1.42,
    1.24,
    1.0,
    0.76,
)
BUSINESS_WEEKDAY = (
    0.34,
    0.33,
    0.33,
    0.33,
    0.34,
    0.4,
    0.7,
    1.25,
    1.7,
    1.8,
    1.84,
    1.85,
    1.82,
    1.84,
    1.84,
    1.8,
    1.7,
    1.45,
    0.9,
    0.6,
    0.48,
    0.42,
    0.38,
    0.36,
)
BUSINESS_WEEKEND = (
    0.34,
    0.33,
    0.33,
    0.33,
    0.33,
    0.34,
    0.36,
    0.4,
    0.48,
    0.52,
    0.54,
    0.54,
    0.54,
    0.52,
    0.5,
    0.48,
    0.44,
    0.4,
    0.38,
    0.36,
    0.35,
    0.35,
    0.34,
    0.34,
)
HEATING = (
    1.25,
    1.25,
    1.3,
    1.3,
    1.35,
    1.45,
    1.5,
    1.35,
    1.05,
    0.85,
    0.75,
    0.7,
    0.65,
    0.62,
    0.62,
    0.68,
    0.8,
    0.95,
    1.05,
    1.1,
    1.1,
    1.12,
    1.15,
    1.2,
)
COOLING = (
    0.45,
    0.4,
    0.35,
    0.32,
    0.3,
    0.3,
    0.35,
    0.45,
    0.6,
    0.75,
    0.9,
    1.05,
    1.2,
    1.38,
    1.55,
    1.7,
    1.82,
    1.85,
    1.75,
    1.55,
    1.3,
    1.05,
    0.8,
    0.6,
)
WATER = (
    0.15,
    0.1,
    0.08,
    0.08,
    0.12,
    0.45,
    1.6,
    2.3,
    2.0,
    1.3,
    1.0,
    0.95,
    1.0,
    0.9,
    0.85,
    0.9,
    1.05,
    1.35,
    1.65,
    1.6,
    1.4,
    1.15,
    0.75,
    0.3,
)


def _normalise(shape, by=None):
    """Scale to a mean of 1 (or keep the level relative to `by`, a weekday shape)."""
    m = sum(by or shape) / 24
    return tuple(x / m for x in shape)


# a business closes at weekends: its weekend shape keeps its level relative to weekdays
BUSINESS_WEEKEND = _normalise(BUSINESS_WEEKEND, by=BUSINESS_WEEKDAY)
RESIDENTIAL_WEEKDAY, RESIDENTIAL_WEEKEND, BUSINESS_WEEKDAY, HEATING, COOLING, WATER = map(
    _normalise, (RESIDENTIAL_WEEKDAY, RESIDENTIAL_WEEKEND, BUSINESS_WEEKDAY, HEATING, COOLING, WATER)
)


@dataclass(frozen=True)
class UsagePointParams:
    """Everything a usage point's readings are computed from (stored as JSON)."""

    commodity: str
    label: str
    seed: int
    business: bool = False
    base_per_day: float = 0.0  # kWh/day (electricity), therm/day (gas), US gal/day (water)
    heat_per_hdd: float = 0.0  # kWh or therm per heating degree day
    cool_per_cdd: float = 0.0  # kWh per cooling degree day
    solar_kw: float = 0.0
    ev_kwh: float = 0.0  # mean energy of a charging session
    ev_share: float = 0.0  # share of nights with a session
    irrigation_per_cdd: float = 0.0  # US gal per degree above 20 C

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_json(cls, data: dict) -> "UsagePointParams":
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_FIELDS = tuple(f.name for f in fields(UsagePointParams))


def _r(rng: random.Random, lo: float, hi: float) -> float:
    return round(lo + (hi - lo) * rng.random(), 3)


def usage_points_for(
    archetype: str, utility: UtilityDef, rng: random.Random, demo: bool = False
) -> list[UsagePointParams]:
    """The usage points of one premise of the given archetype."""
    has_gas = "gas" in utility.commodities
    has_water = "water" in utility.commodities
    seed = lambda: rng.getrandbits(62)  # noqa: E731
    ups: list[UsagePointParams] = []
    house = archetype != "apartment" and archetype != "small_business"
    gas_heat = has_gas and archetype in ("gas_house", "solar_house", "ev_house")
    if archetype == "apartment":
        ups.append(
            UsagePointParams(
                "electricity",
                "Apartment electric service",
                seed(),
                base_per_day=_r(rng, 5.5, 8.5),
                heat_per_hdd=_r(rng, 0.0, 0.12),
                cool_per_cdd=_r(rng, 0.3, 0.8),
            )
        )
    elif archetype == "small_business":
        n = 2 + rng.randrange(2)
        names = ("Main building", "Rooftop HVAC", "Warehouse")
        for i in range(n):
            ups.append(
                UsagePointParams(
                    "electricity",
                    f"{names[i]} electric service",
                    seed(),
                    business=True,
                    base_per_day=_r(rng, 45, 160) / (1 + i),
                    heat_per_hdd=_r(rng, 0.2, 1.2),
                    cool_per_cdd=_r(rng, 2.0, 6.0),
                )
            )
    else:
        base = _r(rng, 16, 24)
        heat = _r(rng, 1.2, 2.2) if archetype == "electric_house" or not gas_heat else _r(rng, 0.05, 0.2)
        cool = _r(rng, 1.2, 2.6)
        solar = 0.0
        ev_kwh = ev_share = 0.0
        if archetype == "solar_house":
            solar = 5.6 if demo else _r(rng, 3.5, 7.5)
        if archetype == "ev_house":
            ev_kwh, ev_share = _r(rng, 12, 26), _r(rng, 0.45, 0.75)
        if demo:
            base, heat, cool = 19.0, 0.12, 1.8
        ups.append(
            UsagePointParams(
                "electricity",
                "Home electric service",
                seed(),
                base_per_day=base,
                heat_per_hdd=heat,
                cool_per_cdd=cool,
                solar_kw=solar,
                ev_kwh=ev_kwh,
                ev_share=ev_share,
            )
        )
    if has_gas and (gas_heat or archetype == "small_business"):
        ups.append(
            UsagePointParams(
                "gas",
                "Natural gas service",
                seed(),
                business=archetype == "small_business",
                base_per_day=_r(rng, 0.4, 1.0) * (3 if archetype == "small_business" else 1),
                heat_per_hdd=_r(rng, 0.12, 0.24) * (2 if archetype == "small_business" else 1),
            )
        )
    if has_water and (house or archetype == "small_business"):
        ups.append(
            UsagePointParams(
                "water",
                "Water service",
                seed(),
                business=archetype == "small_business",
                base_per_day=_r(rng, 140, 320),
                irrigation_per_cdd=_r(rng, 0, 60) if house else 0.0,
            )
        )
    return ups
