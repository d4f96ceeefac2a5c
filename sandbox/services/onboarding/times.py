"""How the onboarding modules show a stored (naive-UTC) time. For the current time and for
converting to naive UTC, see sandbox.core.clock (Clock.naive_now, to_naive_utc)."""

from __future__ import annotations

import datetime as dt


def _utc_text(when: dt.datetime | None) -> str:
    return "—" if when is None else when.strftime("%Y-%m-%d %H:%M UTC")
