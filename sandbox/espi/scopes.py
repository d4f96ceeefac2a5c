"""ESPI scope strings (ESPI.md 6.1): one OAuth scope made of `;`-separated terms."""
from __future__ import annotations

from dataclasses import dataclass

HISTORY_13_MONTHS = 34128000  # seconds, as GBA's examples use


@dataclass(frozen=True)
class Scope:
    function_blocks: tuple[int, ...]
    interval_durations: tuple[int, ...] = ()
    block_duration: str | None = None
    history_length: int | None = None

    def __str__(self) -> str:
        terms = ["FB=" + "_".join(str(n) for n in self.function_blocks)]
        if self.interval_durations:
            terms.append("IntervalDuration=" + "_".join(str(n) for n in self.interval_durations))
        if self.block_duration:
            terms.append(f"BlockDuration={self.block_duration}")
        if self.history_length is not None:
            terms.append(f"HistoryLength={self.history_length}")
        return ";".join(terms)


# Function blocks every utility offers: common, CMD core, interval metering, electricity,
# cost, security, OAuth, usage summary with cost, multiple usage points, partial update,
# REST, resource REST, query parameters, on demand, push.
_CORE = (1, 3, 4, 5, 12, 13, 14, 15, 16, 18, 19, 31, 32, 37, 38, 39)


def standard_scopes(commodities: tuple[str, ...], electricity_interval: int) -> list[str]:
    """The scope strings a utility offers its third parties: usage data, then usage plus customer data."""
    fbs = list(_CORE)
    if "electricity" in commodities:
        fbs += [7, 8]
    if "gas" in commodities:
        fbs.append(10)
    if "water" in commodities:
        fbs.append(11)
    fbs.sort()
    intervals = tuple(sorted({electricity_interval, 3600, 86400}))
    usage = Scope(tuple(fbs), intervals, "daily", HISTORY_13_MONTHS)
    with_customer = Scope(tuple(sorted(fbs + [46, 51, 55, 56, 58, 60])), intervals, "daily", HISTORY_13_MONTHS)
    return [str(usage), str(with_customer)]


CUSTOMER_DATA_BLOCKS = frozenset({46, 47, 49, 50, 51, 55, 56, 58, 59, 60})


def function_blocks(scope: str) -> set[int]:
    """The FB numbers of a scope string (lenient: other terms and malformed numbers are skipped)."""
    for term in scope.split(";"):
        name, _, value = term.strip().partition("=")
        if name == "FB":
            return {int(n) for n in value.split("_") if n.isdigit()}
    return set()


def grants_customer_data(scope: str) -> bool:
    return bool(function_blocks(scope) & CUSTOMER_DATA_BLOCKS)
