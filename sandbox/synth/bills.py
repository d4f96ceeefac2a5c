"""Monthly bills: the month's readings and interval costs plus the tariff's fixed charge."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sandbox.synth.calendar import local_midnight, month_start, next_month
from sandbox.synth.usage import Series, UsageModel


@dataclass(frozen=True)
class Bill:
    """One calendar-month billing period of one usage point (money in 1e-5 currency)."""

    first_day: dt.date
    end_day: dt.date  # exclusive
    start: int  # epoch seconds
    duration: int
    consumption: int  # stored units of the delivered stream
    received: int  # stored units exported (solar), 0 if none
    energy_charges: int
    credits: int  # negative or 0
    fixed_charge: int
    readings: int

    @property
    def total(self) -> int:
        return self.energy_charges + self.credits + self.fixed_charge


def billed_months(first: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
    """(first month, end month) of the whole calendar months within first <= day < end, or None."""
    m = month_start(first) if first.day == 1 else next_month(first)
    last = month_start(end)
    return (m, last) if m < last else None


def monthly_bills(
    model: UsageModel, first: dt.date, end: dt.date, delivered: Series | None = None, received: Series | None = None
) -> list[Bill]:
    """Bills of the whole calendar months that lie in first <= day < end.

    `delivered` and `received` may pass readings already computed with cost that cover
    those months (a feed has them anyway); otherwise they are computed here.
    """
    months = billed_months(first, end)
    if months is None:
        return []
    m, last = months
    tz = model.utility.time_zone
    delivered_key = model.params.commodity
    received_key = f"{delivered_key}-received"
    if delivered is None or delivered.costs is None:
        delivered = model.series(delivered_key, m, last)
    if received_key in model.streams and (received is None or received.costs is None):
        received = model.series(received_key, m, last)
    if received_key not in model.streams:
        received = None
    out = []
    while m < last:
        n = next_month(m)
        d = delivered.slice_days(m, n)
        r = received.slice_days(m, n) if received is not None else None
        start = local_midnight(tz, m)
        if d.costs is None or (r is not None and r.costs is None):
            raise ValueError("bills need series computed with cost")
        out.append(
            Bill(
                first_day=m,
                end_day=n,
                start=start,
                duration=local_midnight(tz, n) - start,
                consumption=int(d.values.sum()),
                received=int(r.values.sum()) if r is not None else 0,
                energy_charges=int(d.costs.sum()),
                credits=int(r.costs.sum()) if r is not None and r.costs is not None else 0,
                fixed_charge=model.tariff.fixed_monthly,
                readings=len(d),
            )
        )
        m = n
    return out
