"""Naive-UTC time helpers shared by the onboarding modules (the database stores naive UTC)."""
from __future__ import annotations

import datetime as dt

from ..clock import Clock


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _now(clock: Clock) -> dt.datetime:
    return _naive(clock.now())


def _utc_text(when: dt.datetime | None) -> str:
    return "—" if when is None else when.strftime("%Y-%m-%d %H:%M UTC")
