"""LocalTimeParameters: a time zone as ESPI's tzOffset, dstOffset and DST rules (ESPI.md 2.3).

A rule is 32 bits: month<<28 | operator<<25 | day-of-month<<20 | weekday<<17 | hour<<12 | seconds,
where operator 2..6 means the 1st..5th such weekday of the month and 7 the last one, and the
time is the wall clock at which the change happens. FFFFFFFF disables DST.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

NO_DST = "FFFFFFFF"


@dataclass(frozen=True)
class LocalTime:
    tz_offset: int  # seconds, standard time, DST excluded
    dst_offset: int  # seconds added during DST
    dst_start_rule: str  # 8 hex digits
    dst_end_rule: str


def encode_rule(month: int, operator: int, day_of_month: int, weekday: int, hour: int, seconds: int = 0) -> str:
    value = month << 28 | operator << 25 | day_of_month << 20 | weekday << 17 | hour << 12 | seconds
    return f"{value:08X}"


def _offset(when: dt.datetime) -> dt.timedelta:
    """The UTC offset of an aware time (a zone always gives one)."""
    off = when.utcoffset()
    if off is None:
        raise ValueError(f"{when} has no UTC offset")
    return off


def _transitions(tz: ZoneInfo, year: int) -> list[tuple[dt.datetime, dt.timedelta, dt.timedelta]]:
    """(wall-clock time just before the change, offset before, offset after) for each change in year."""
    out: list[tuple[dt.datetime, dt.timedelta, dt.timedelta]] = []
    t = int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    end = int(dt.datetime(year + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    prev = _offset(dt.datetime.fromtimestamp(t, tz))
    step = 86400  # zones change offset at most once a day
    while t < end:
        off = _offset(dt.datetime.fromtimestamp(t + step, tz))
        if off != prev:
            lo, hi = t, t + step  # the change lies in (lo, hi]: find the exact second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(dt.datetime.fromtimestamp(mid, tz)) == prev:
                    lo = mid
                else:
                    hi = mid
            wall = dt.datetime.fromtimestamp(hi, dt.timezone(prev)).replace(tzinfo=None)
            out.append((wall, prev, off))
            prev = off
        t += step
    return out


def _rule_for(wall: dt.datetime) -> str:
    days_in_month = calendar.monthrange(wall.year, wall.month)[1]
    nth = (wall.day - 1) // 7 + 1
    operator = 7 if wall.day + 7 > days_in_month and nth >= 4 else nth + 1
    return encode_rule(wall.month, operator, 0, wall.isoweekday(), wall.hour, wall.minute * 60 + wall.second)


@lru_cache(maxsize=256)
def local_time(tz_name: str, year: int) -> LocalTime:
    """The zone's parameters as they apply in `year`."""
    tz = ZoneInfo(tz_name)
    changes = _transitions(tz, year)
    if len(changes) != 2:
        offset = _offset(dt.datetime(year, 1, 1, tzinfo=tz))
        return LocalTime(int(offset.total_seconds()), 0, NO_DST, NO_DST)
    (start_wall, std, dst), (end_wall, _, _) = changes
    if dst < std:  # southern hemisphere order: the first change of the year ends DST
        (end_wall, dst, std), (start_wall, _, _) = changes
    return LocalTime(
        int(std.total_seconds()), int((dst - std).total_seconds()), _rule_for(start_wall), _rule_for(end_wall)
    )
