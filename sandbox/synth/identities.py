"""Named test identities: customers with designed behaviours, present in every world.

The catalogue is `seed_data/identities.toml`. Each identity is a customer of one utility with a
fixed username and name, an archetype and what makes it worth signing in as: usage-point
parameters, data-quality knobs, a move-out scheduled ahead on the sandbox clock, or a revocation
a set time after every consent. Identities are numbered -1, -2... at their utility, apart from
the generated customers (0 the demo customer, 1... the generated ones), so they are the same
whatever the count of generated customers and `add_customers` never meets them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

FILE = "identities.toml"


@dataclass(frozen=True)
class IdentityDef:
    """One named test identity, as the catalogue defines it."""

    username: str
    utility: str
    number: int  # -1, -2... in catalogue order at its utility
    first_name: str
    last_name: str
    archetype: str
    summary: str  # what a third party sees when it signs in as this identity
    street: str = ""
    postal_code: str = ""  # "" draws one in the utility's service area
    meters: int = 1  # electricity usage points at the address (each with its own meter)
    usage_point: dict[str, float] = field(default_factory=dict)  # the first electricity point's parameters
    data_quality: dict | None = None  # knobs as stored (synth.quality)
    moves_out_in_days: int | None = None  # after the world is seeded, reset or put to use
    revokes_after: dt.timedelta | None = None  # after each consent it gives

    @property
    def behaviours(self) -> list[str]:
        """The designed behaviours' names, for the catalogue's listings."""
        out = []
        if self.meters > 1:
            out.append(f"{self.meters} meters")
        if self.usage_point:
            out.append("usage point: " + ", ".join(f"{k} {v:g}" for k, v in sorted(self.usage_point.items())))
        if self.data_quality:
            out.append("data quality: " + ", ".join(sorted(self.data_quality)))
        if self.moves_out_in_days is not None:
            out.append(f"moves out in {self.moves_out_in_days} days")
        if self.revokes_after is not None:
            out.append(f"revokes {int(self.revokes_after.total_seconds())} s after consenting")
        return out
