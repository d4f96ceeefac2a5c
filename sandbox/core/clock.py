"""The one answer to "what time is it?" for the whole sandbox.

Real time by default; tests and demos freeze it or move it forward, which makes new
data appear (data is published up to the end of yesterday, utility local time) and
tokens and authorizations expire.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Callable
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


def to_naive_utc(when: dt.datetime) -> dt.datetime:
    """`when` as the database stores times: naive UTC (an aware time is converted, a naive one is
    taken to be UTC already)."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def utc(naive: dt.datetime) -> dt.datetime:
    """A stored naive-UTC time as an aware one."""
    return naive.replace(tzinfo=UTC)


class Clock:
    def __init__(self, source: Callable[[], float] = time.time):
        self._source = source
        self._lock = threading.Lock()
        self._frozen: float | None = None
        self._offset = 0.0

    def timestamp(self) -> float:
        with self._lock:
            return self._frozen if self._frozen is not None else self._source() + self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), UTC)

    def naive_now(self) -> dt.datetime:
        """The current sandbox time as naive UTC, as the database stores times."""
        return to_naive_utc(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    @property
    def offset(self) -> float:
        """Seconds the clock runs ahead of real time (while not frozen)."""
        return self._offset

    def freeze(self, at: dt.datetime | None = None) -> None:
        """Stop the clock, at `at` (an aware datetime) or at the current sandbox time."""
        if at is not None and at.tzinfo is None:
            raise ValueError("freeze() needs an aware datetime")
        value = at.timestamp() if at is not None else self.timestamp()
        with self._lock:
            self._frozen = value

    def unfreeze(self) -> None:
        """Run again from the frozen instant, keeping the distance to real time."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - self._source()
                self._frozen = None

    def advance(self, seconds: float | dt.timedelta) -> None:
        if isinstance(seconds, dt.timedelta):
            seconds = seconds.total_seconds()
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._frozen, self._offset = None, 0.0

    def today(self, tz_name: str) -> dt.date:
        return dt.datetime.fromtimestamp(self.timestamp(), ZoneInfo(tz_name)).date()

    def published_end(self, tz_name: str) -> dt.date:
        """Exclusive end of published data: data runs to the end of yesterday, local time."""
        return self.today(tz_name)

    def state(self) -> dict:
        return {"now": self.now().isoformat().replace("+00:00", "Z"), "frozen": self.frozen, "offset_seconds": self._offset}
