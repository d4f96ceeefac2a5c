"""The query parameters of ESPI GETs (ESPI.md 4.4) as a pure filter over feed entries.

Time filters apply to the entries that hold data (IntervalBlocks and summaries by the
period they cover, others by their published/updated times); structural parents
(UsagePoint, MeterReading, ReadingType, LocalTimeParameters) are always kept so the
data that remains can be interpreted. Paging (start-index, max-results, depth) counts
every entry of the result in document order.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo

from sandbox.core.errors import QueryError
from sandbox.espi.atom import BlockRun, Entry, iso

_INTEGER = re.compile(r"^-?[0-9]{1,40}$")
INT64_MAX = 2**63 - 1  # the OpenAPI types max-results, start-index and depth int64
TIME_PARAMS = ("published-min", "published-max", "updated-min", "updated-max")


@dataclass(frozen=True)
class Query:
    published_min: int | None = None
    published_max: int | None = None
    updated_min: int | None = None
    updated_max: int | None = None
    max_results: int | None = None
    start_index: int = 1

    def as_params(self) -> dict[str, str]:
        out = {}
        for name in TIME_PARAMS:
            v = getattr(self, name.replace("-", "_"))
            if v is not None:
                out[name] = iso(v)
        if self.max_results is not None:
            out["max-results"] = str(self.max_results)
        if self.start_index != 1:
            out["start-index"] = str(self.start_index)
        return out


NO_QUERY = Query()


@dataclass(frozen=True)
class Quirks:
    """How a utility's behaviour profile departs from ESPI.md 4.4 in reading the time filters."""

    refuse_future_published_max: bool = False
    refuse_fractional_seconds: bool = False
    whole_local_days: bool = False  # published-min/max widened to whole days of `time_zone`
    ignore_updated_min: bool = False
    time_zone: str = "UTC"
    now: int = 0  # epoch seconds, for refuse_future_published_max


NO_QUIRKS = Quirks()
_FRACTION = re.compile(r"T[0-9:]+[.,][0-9]", re.IGNORECASE)


def _time(name: str, raw: str, quirks: Quirks = NO_QUIRKS) -> int:
    text = raw.strip()
    if quirks.refuse_fractional_seconds and _FRACTION.search(text):
        raise QueryError(
            name,
            f"{raw!r} has a fraction of a second, which this utility refuses: send whole "
            "seconds, such as 2025-01-31T00:00:00Z",
        )
    if text[-1:] in ("Z", "z"):  # RFC 3339 5.6 allows either case
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(name, f"{raw!r} is not a date-time such as 2025-01-31T00:00:00Z") from None
    if when.tzinfo is None or len(raw.strip()) < 20:
        raise QueryError(name, f"{raw!r} needs a full date, time and zone, such as 2025-01-31T00:00:00Z")
    return int(when.timestamp())


def _count(name: str, raw: str, minimum: int) -> int:
    """A paging count: any int64 of at least `minimum` (2147483647, a common "no limit", included);
    counts beyond the entries that exist select all of them, or none past the end."""
    text = raw.strip()
    if not _INTEGER.match(text):
        raise QueryError(name, f"{raw[:40]!r} is not an integer: send a whole number such as 10")
    value = int(text)
    if value > INT64_MAX:
        raise QueryError(name, f"{text} is larger than the largest 64-bit integer ({INT64_MAX})")
    if value < minimum:
        raise QueryError(name, f"{text} is below {minimum}: send {minimum} or more")
    return value


def _local_day_edge(name: str, epoch: int, zone: str, up: bool) -> int:
    """The local midnight at or before epoch (up: at or after it) in `zone`."""
    tz = ZoneInfo(zone)
    try:
        local = dt.datetime.fromtimestamp(epoch, tz)
        midnight = dt.datetime.combine(local.date(), dt.time(), tz)
        if up and midnight < local:
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tz)
    except (ValueError, OverflowError, OSError):
        raise QueryError(name, "is outside the years the utility keeps days for") from None
    return int(midnight.timestamp())


def parse_query(args: Mapping[str, str], quirks: Quirks = NO_QUIRKS) -> Query:
    """Query from request arguments; unknown parameters are ignored, malformed ones raise QueryError.
    `quirks` reads the time filters as a utility's behaviour profile does."""
    times = {name: _time(name, args[name], quirks) for name in TIME_PARAMS if name in args}
    if quirks is not NO_QUIRKS:
        if quirks.ignore_updated_min:
            times.pop("updated-min", None)
        if quirks.refuse_future_published_max and times.get("published-max", 0) > quirks.now:
            raise QueryError(
                "published-max",
                f"{args['published-max']!r} is in the future, which this utility "
                f"refuses: send a time no later than now ({iso(quirks.now)})",
            )
        if quirks.whole_local_days:
            for name, up in (("published-min", False), ("published-max", True)):
                if name in times:
                    times[name] = _local_day_edge(name, times[name], quirks.time_zone, up)
    max_results = _count("max-results", args["max-results"], 0) if "max-results" in args else None
    depth = _count("depth", args["depth"], 0) if "depth" in args else None
    if depth is not None:
        max_results = depth if max_results is None else min(max_results, depth)
    start_index = _count("start-index", args["start-index"], 1) if "start-index" in args else 1
    for lo, hi in (("published-min", "published-max"), ("updated-min", "updated-max")):
        if lo in times and hi in times and times[lo] > times[hi]:
            raise QueryError(lo, f"is after {hi}")
    return Query(
        times.get("published-min"),
        times.get("published-max"),
        times.get("updated-min"),
        times.get("updated-max"),
        max_results,
        start_index,
    )


def _passes(q: Query, e: Entry) -> bool:
    published, updated = int(e.published), int(e.updated)
    return e.structural or _passes_window(q, e.window or (published, published), updated)


def _passes_window(q: Query, window: tuple[int, int], updated: int) -> bool:
    start, end = window
    return not (
        (q.published_min is not None and start < q.published_min)
        or (q.published_max is not None and end > q.published_max)
        or (q.updated_min is not None and updated < q.updated_min)
        or (q.updated_max is not None and updated > q.updated_max)
    )


def apply(q: Query, entries: Iterable[Entry | BlockRun]) -> Iterator[Entry | BlockRun]:
    """The entries the query selects, lazily and in order (a BlockRun counts as its blocks)."""
    if q == NO_QUERY:  # nothing to filter or page: the entries as they come
        yield from entries
        return
    position = emitted = 0

    def admit() -> bool | None:
        """Paging for the next selected entry: True to keep it, False to skip it, None when full."""
        nonlocal position, emitted
        position += 1
        if position < q.start_index:
            return False
        if q.max_results is not None and emitted >= q.max_results:
            return None
        emitted += 1
        return True

    for e in entries:
        if isinstance(e, BlockRun):
            keep = []
            for i in range(len(e)):
                if _passes_window(q, e.windows[i], e.published[i]):
                    verdict = admit()
                    if verdict is None:
                        break
                    if verdict:
                        keep.append(i)
            if keep:
                yield e if len(keep) == len(e) else e.subset(keep)
        elif _passes(q, e):
            verdict = admit()
            if verdict:
                yield e
            elif verdict is None:
                return
