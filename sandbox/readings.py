"""Readings and bills of a stored usage point, whether computed (synthetic) or imported.

The one place the web layer and the XML feeds get numbers from, so the portal's chart,
its CSV and the Green Button file always agree.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .clock import Clock
from .models import Customer, UsagePoint
from .synth.archetypes import UsagePointParams
from .synth.bills import Bill, monthly_bills
from .synth.usage import Series, Stream, UsageModel
from .synth.world import UtilityDef, WorldDef


@dataclass(frozen=True)
class History:
    """Local days with data: first <= day < end (end is today, or the move-out day)."""

    first: dt.date
    end: dt.date

    @property
    def empty(self) -> bool:
        return self.end <= self.first

    def clamp(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        return max(start, self.first), min(end, self.end)


def model_for(world: WorldDef, utility: UtilityDef, up: UsagePoint) -> UsageModel:
    return UsageModel(world, utility, UsagePointParams.from_json(up.params))


def history(world: WorldDef, utility: UtilityDef, clock: Clock, customer: Customer) -> History:
    first = max(customer.service_start, world.history_start)
    end = clock.published_end(utility.time_zone)
    if customer.service_end is not None:
        end = min(end, customer.service_end)
    return History(first, max(first, end))


def streams(world: WorldDef, utility: UtilityDef, up: UsagePoint) -> list[Stream]:
    return list(model_for(world, utility, up).streams.values())


def series(world: WorldDef, utility: UtilityDef, up: UsagePoint, key: str, start: dt.date, end: dt.date,
           cost: bool = True) -> Series:
    return model_for(world, utility, up).series(key, start, end, cost=cost)


def bills(world: WorldDef, utility: UtilityDef, up: UsagePoint, start: dt.date, end: dt.date) -> list[Bill]:
    """Bills of the whole calendar months within start <= day < end."""
    return monthly_bills(model_for(world, utility, up), start, end)
