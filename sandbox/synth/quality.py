"""Data-quality knobs: how imperfect one customer's synthetic readings are.

Real meters deliver gaps, estimates, zeros, negative readings and whole days lost to power
outages. Every customer gets the world's shares of missing and estimated readings
(`seed_data/world.toml`) unless it has knobs of its own (Customer.data_quality, set by a
utility's `[[data_quality]]` table or the control API). Stored knobs are the ones set; the
others are the world's.

Each knob is drawn per interval from its own counter (see usage.UsageModel), so setting one
never moves the values another knob or the load model made.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.core.errors import QualityError

if TYPE_CHECKING:
    from sandbox.synth.world import WorldDef

SHARES = ("missing_share", "estimated_share", "zero_share", "negative_share")
KNOBS = (*SHARES, "outage_days")
MAX_SHARE = 0.5
MAX_OUTAGE_DAYS = 1000


@dataclass(frozen=True)
class DataQuality:
    """Shares of a customer's intervals (0 to 0.5 each) and its local days without power."""

    missing_share: float = 0.0  # no reading at all
    estimated_share: float = 0.0  # ReadingQuality 8 (estimated)
    zero_share: float = 0.0  # the value reads 0
    negative_share: float = 0.0  # the value reads negative (the negated value; -1 for a 0)
    outage_days: tuple[dt.date, ...] = ()  # no reading at all on these local days

    @classmethod
    def of_world(cls, world: "WorldDef") -> "DataQuality":
        """The defaults: the world's missing and estimated shares, nothing else."""
        return cls(missing_share=world.missing_share, estimated_share=world.estimated_share)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, default: "DataQuality") -> "DataQuality":
        """The effective knobs of stored (or asked-for) ones: each knob given, else `default`'s.
        Raises QualityError naming the first bad knob."""
        if not data:
            return default
        given = check_knobs(data)
        days = given.pop("outage_days", None)
        out = {f.name: getattr(default, f.name) for f in fields(cls)}
        out.update(given)
        if days is not None:
            out["outage_days"] = tuple(dt.date.fromisoformat(d) for d in days)
        return cls(**out)

    def as_json(self) -> dict[str, Any]:
        return {
            "missing_share": self.missing_share,
            "estimated_share": self.estimated_share,
            "zero_share": self.zero_share,
            "negative_share": self.negative_share,
            "outage_days": [d.isoformat() for d in self.outage_days],
        }

    @property
    def faulty_values(self) -> bool:
        return bool(self.zero_share or self.negative_share)


def check_knobs(data: Mapping[str, Any]) -> dict[str, Any]:
    """Knobs as stored (JSON: shares as floats, outage days as sorted distinct ISO dates), checked.
    Raises QualityError naming the first bad knob; an unknown name is one."""
    if not isinstance(data, Mapping):
        raise QualityError("data_quality", f"must be a table of knobs, got {data!r}")
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in KNOBS:
            raise QualityError(str(name), f"is not a data-quality knob; use {', '.join(KNOBS)}")
        if name == "outage_days":
            out[name] = _days(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise QualityError(name, f"must be a number, got {value!r}")
        if not 0 <= value <= MAX_SHARE:  # NaN fails too
            raise QualityError(name, f"must be between 0 and {MAX_SHARE}, got {value!r}")
        out[name] = float(value)
    return out


def _days(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise QualityError("outage_days", f"must be a list of dates (YYYY-MM-DD), got {value!r}")
    if len(value) > MAX_OUTAGE_DAYS:
        raise QualityError("outage_days", f"may list at most {MAX_OUTAGE_DAYS} days, got {len(value)}")
    days: set[dt.date] = set()
    for i, d in enumerate(value):
        if isinstance(d, dt.date) and not isinstance(d, dt.datetime):  # a TOML date
            days.add(d)
            continue
        try:
            if not isinstance(d, str) or len(d) != 10:
                raise ValueError
            days.add(dt.date.fromisoformat(d))
        except ValueError:
            raise QualityError(f"outage_days[{i}]", f"must be a date as YYYY-MM-DD, got {d!r}") from None
    return [d.isoformat() for d in sorted(days)]
