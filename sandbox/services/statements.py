"""A customer's bill statements: one a month, for every whole calendar month of service.

A statement gathers that month's bills of each of the customer's (synthetic) usage points, the
same `Bill` values the portal's Bills table and the UsageSummary entries show, so the ESPI
`Statement` resource, the bill document it points at and the portal never disagree.

`periods` lists them without computing a reading (a feed of Statement entries needs only the
months); `statement` computes the bills of the one month asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from sandbox.core.clock import Clock
from sandbox.core.errors import NotFound
from sandbox.core.models import Customer, UsagePoint
from sandbox.espi.uuids import resource_uuid_str
from sandbox.services import readings
from sandbox.synth.bills import Bill, billed_months
from sandbox.synth.calendar import local_midnight, next_month
from sandbox.synth.world import UtilityDef, WorldDef

MEDIA_TYPE = "application/pdf"  # the bill document a statement points at


@dataclass(frozen=True)
class Period:
    """A statement without its bills: the month it covers and when it was issued."""

    uuid: str
    first_day: dt.date
    end_day: dt.date  # exclusive
    issued: int  # epoch seconds: the local midnight that ends the month, when the bill is issued

    @property
    def file_name(self) -> str:
        return f"bill-{self.first_day:%Y-%m}.pdf"


@dataclass(frozen=True)
class Statement(Period):
    """One month's bill of an account: its usage points' bills (money in 1e-5 currency)."""

    bills: tuple[tuple[UsagePoint, Bill], ...]

    @property
    def total(self) -> int:
        return sum(b.total for _, b in self.bills)


def statement_uuid(world: WorldDef, utility: UtilityDef, customer: Customer, month: dt.date) -> str:
    return resource_uuid_str(world.seed, utility.slug, "statement", customer.uuid, month.isoformat())


def _billed(customer: Customer, usage_points: Iterable[UsagePoint] | None) -> list[UsagePoint]:
    """The usage points that have bills (imported ones have none): of `usage_points`, default all."""
    return [up for up in (customer.usage_points if usage_points is None else usage_points) if not up.imported]


def periods(
    world: WorldDef,
    utility: UtilityDef,
    clock: Clock,
    customer: Customer,
    usage_points: Iterable[UsagePoint] | None = None,
) -> list[Period]:
    """The customer's statements without their bills, oldest first: every whole month of synthetic
    service so far, if any of `usage_points` (default: all the customer's) is billed."""
    if not _billed(customer, usage_points):
        return []
    history = readings.service_history(world, utility, clock, customer)
    months = billed_months(history.first, history.end) if not history.empty else None
    if months is None:
        return []
    out, m = [], months[0]
    while m < months[1]:
        n = next_month(m)
        out.append(Period(statement_uuid(world, utility, customer, m), m, n, local_midnight(utility.time_zone, n)))
        m = n
    return out


def statements(
    world: WorldDef,
    utility: UtilityDef,
    clock: Clock,
    customer: Customer,
    usage_points: Iterable[UsagePoint] | None = None,
) -> list[Statement]:
    """The customer's statements with their bills, oldest first (see `periods`)."""
    points = _billed(customer, usage_points)
    found = periods(world, utility, clock, customer, points)
    return _with_bills(world, utility, points, found) if found else []


def statement(
    world: WorldDef,
    utility: UtilityDef,
    clock: Clock,
    customer: Customer,
    uuid: str,
    usage_points: Iterable[UsagePoint] | None = None,
) -> Statement:
    """One of the customer's statements by id, its month's bills computed; NotFound if it is not
    theirs (or does not exist)."""
    points = _billed(customer, usage_points)
    for p in periods(world, utility, clock, customer, points):
        if p.uuid == uuid:
            return _with_bills(world, utility, points, [p])[0]
    raise NotFound(uuid)


def _with_bills(world: WorldDef, utility: UtilityDef, points: list[UsagePoint], found: list[Period]) -> list[Statement]:
    """The statements of consecutive `found` periods, their bills computed for those months only."""
    bills = {
        (up.id, b.first_day): b
        for up in points
        for b in readings.bills(world, utility, up, found[0].first_day, found[-1].end_day)
    }
    return [
        Statement(
            p.uuid,
            p.first_day,
            p.end_day,
            p.issued,
            tuple((up, bills[up.id, p.first_day]) for up in points if (up.id, p.first_day) in bills),
        )
        for p in found
    ]
