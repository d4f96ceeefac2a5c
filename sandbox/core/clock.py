"""The one answer to "what time is it?" for the whole sandbox.

Real time by default; tests and demos freeze it or move it forward, which makes new
data appear (data is published up to the end of yesterday, utility local time) and
tokens and authorizations expire. Its state lives in a store: the database for a running
sandbox (every process agrees), memory for a unit test.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


def to_naive_utc(when: dt.datetime) -> dt.datetime:
    """`when` as the database stores times: naive UTC (an aware time is converted, a naive one is
    taken to be UTC already)."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def utc(naive: dt.datetime) -> dt.datetime:
    """A stored naive-UTC time as an aware one."""
    return naive.replace(tzinfo=UTC)


def iso_z(when: dt.datetime) -> str:
    """An instant as JSON answers give it: ISO 8601 in UTC with a Z (a naive time is taken as UTC)."""
    return (when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


class ClockStore(Protocol):
    """Where a Clock's state lives: frozen at an instant (epoch seconds), or running at an offset
    from real time. Every change is one atomic step of the store's own, so that two processes
    moving the clock together both count."""

    def read(self) -> tuple[float | None, float]:
        """(the frozen instant or None, the offset in seconds while running)."""
        ...

    def freeze(self, at: float | None, real: float) -> None:
        """Stop at `at`, or (None) where the clock is now (`real` is real time)."""
        ...

    def unfreeze(self, real: float) -> None: ...

    def set(self, at: float, real: float) -> None:
        """Move to `at`, staying frozen or running as it is."""
        ...

    def advance(self, seconds: float) -> None: ...

    def replace(self, frozen: float | None, offset: float) -> None: ...


class MemoryClockStore:
    """A clock state for one process (unit tests, scripts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen: float | None = None
        self._offset = 0.0

    def read(self) -> tuple[float | None, float]:
        with self._lock:
            return self._frozen, self._offset

    def freeze(self, at: float | None, real: float) -> None:
        with self._lock:
            self._frozen = at if at is not None else (self._frozen if self._frozen is not None else real + self._offset)

    def unfreeze(self, real: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset, self._frozen = self._frozen - real, None

    def set(self, at: float, real: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen = at
            else:
                self._offset = at - real

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def replace(self, frozen: float | None, offset: float) -> None:
        with self._lock:
            self._frozen, self._offset = frozen, offset


_FIRST_USE = object()  # a pin whose state is read when first asked for


class Clock:
    """Real time, or frozen, or running ahead, as its store says.

    The sandbox's store is the database (`core.clock_store`), so every thread and process agree.
    `pinned()` reads the state once for a unit of work (a request): "now" inside it costs no read,
    and a change made inside it is seen at once."""

    def __init__(self, source: Callable[[], float] = time.time, store: ClockStore | None = None):
        self._source = source
        self.store: ClockStore = store or MemoryClockStore()
        self._pin: contextvars.ContextVar[tuple[float | None, float] | object | None] = contextvars.ContextVar(
            f"clock-pin-{id(self)}", default=None
        )

    def bind(self, store: ClockStore) -> None:
        """Keep the state in `store` from now on, starting from this clock's current state."""
        store.replace(*self.snapshot())
        self.store = store

    def snapshot(self) -> tuple[float | None, float]:
        """(the frozen instant or None, the offset while running), as a store keeps it."""
        pinned = self._pin.get()
        if isinstance(pinned, tuple):
            return pinned
        state = self.store.read()
        if pinned is _FIRST_USE:  # pinned, not read yet: read now, for the rest of the block
            self._pin.set(state)
        return state

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Read the state once for the block, when it is first asked for (changes made in it are seen)."""
        before = self._pin.get()
        self._pin.set(_FIRST_USE)
        try:
            yield
        finally:
            self._pin.set(before)

    def _changed(self) -> None:
        if isinstance(self._pin.get(), tuple):
            self._pin.set(_FIRST_USE)  # read again when next asked

    def timestamp(self) -> float:
        frozen, offset = self.snapshot()
        return frozen if frozen is not None else self._source() + offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), UTC)

    def naive_now(self) -> dt.datetime:
        """The current sandbox time as naive UTC, as the database stores times."""
        return to_naive_utc(self.now())

    @property
    def frozen(self) -> bool:
        return self.snapshot()[0] is not None

    @property
    def offset(self) -> float:
        """Seconds the clock runs ahead of real time (while not frozen)."""
        return self.snapshot()[1]

    def freeze(self, at: dt.datetime | None = None) -> None:
        """Stop the clock, at `at` (an aware datetime) or at the current sandbox time."""
        if at is not None and at.tzinfo is None:
            raise ValueError("freeze() needs an aware datetime")
        self.store.freeze(at.timestamp() if at is not None else None, self._source())
        self._changed()

    def unfreeze(self) -> None:
        """Run again from the frozen instant, keeping the distance to real time."""
        self.store.unfreeze(self._source())
        self._changed()

    def set(self, at: dt.datetime) -> None:
        """Move to `at` (an aware datetime), frozen or running as the clock is."""
        if at.tzinfo is None:
            raise ValueError("set() needs an aware datetime")
        self.store.set(at.timestamp(), self._source())
        self._changed()

    def advance(self, seconds: float | dt.timedelta) -> None:
        if isinstance(seconds, dt.timedelta):
            seconds = seconds.total_seconds()
        self.store.advance(float(seconds))
        self._changed()

    def reset(self) -> None:
        """Back to real time."""
        self.store.replace(None, 0.0)
        self._changed()

    def today(self, tz_name: str) -> dt.date:
        return dt.datetime.fromtimestamp(self.timestamp(), ZoneInfo(tz_name)).date()

    def published_end(self, tz_name: str) -> dt.date:
        """Exclusive end of published data: data runs to the end of yesterday, local time."""
        return self.today(tz_name)

    def state(self) -> dict:
        frozen, offset = self.snapshot()
        now = frozen if frozen is not None else self._source() + offset
        return {
            "now": iso_z(dt.datetime.fromtimestamp(now, UTC)),
            "frozen": frozen is not None,
            "offset_seconds": offset,
        }
