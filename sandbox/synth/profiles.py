"""Behaviour profiles from `seed_data/profiles/<name>.toml`: one file per profile, its tables and
keys those of `core.profile.KNOBS`; what a file leaves out keeps the `standard` value.

A typo (an unknown table or key, a value out of range) is a SeedDataError naming the file and key,
so a profile never silently behaves as the standard one.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from sandbox.core.profile import KNOBS, Behaviour

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_TABLES = {k.table for k in KNOBS}


class Reader(Protocol):
    """What synth.world's field reader offers (passed in: that module imports this one)."""

    data: dict

    def fail(self, key: str, problem: str) -> Any: ...
    def get(self, key, kind, default=..., check=None, problem="") -> Any: ...
    def table(self, key, default=...) -> "Reader": ...


def behaviour(name: str, r: Reader) -> Behaviour:
    """The profile a file holds (r reads the whole file)."""
    if not NAME.match(name):
        r.fail("(file)", "profile files are named with lower-case letters, digits and dashes, e.g. ontario.toml")
    for key in r.data:
        if key != "description" and key not in _TABLES:
            r.fail(key, f"is not a profile table; use description, {', '.join(sorted(_TABLES))}")
    d = Behaviour()
    values: dict[str, Any] = {}
    for table in sorted(_TABLES):
        t = r.table(table, None)
        knobs = {k.key: k for k in KNOBS if k.table == table}
        for key in t.data:
            if key not in knobs:
                t.fail(key, f"is not a knob of [{table}]; use {', '.join(knobs)}")
        for key, k in knobs.items():
            if k.choices:
                values[k.attr] = t.get(
                    key,
                    k.kind,
                    getattr(d, k.attr),
                    check=lambda v, c=k.choices: v in c,
                    problem="must be " + " or ".join(str(c) for c in k.choices),
                )
            elif k.kind is int:
                lo, hi = k.minimum or 0, k.maximum
                values[k.attr] = t.get(
                    key,
                    int,
                    getattr(d, k.attr),
                    check=lambda v, lo=lo, hi=hi: lo <= v <= hi,
                    problem=f"must be between {lo} and {hi}",
                )
            else:
                values[k.attr] = t.get(key, k.kind, getattr(d, k.attr))
    found = Behaviour(name=name, description=r.get("description", str, "").strip(), **values)
    if found.refresh_reuse_detection and not found.refresh_rotation:
        r.fail(
            "refresh.reuse_detection",
            "needs refresh.rotation: a refresh token that is never rotated out cannot be reused",
        )
    return found
