"""ESPI scope strings (ESPI.md 6.1): one OAuth scope made of `;`-separated terms.

    FB=1_3_4_5;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=34128000;BR=7

`parse_scope` checks the grammar (strictly, or leniently as some utilities do);
`covers` decides whether a requested scope stays within a registered one and names the
first term that does not.

Each term has one reading that every reader uses (the consent page's plain words, the portals'
summary, the Content a grant serves, `covers`): `HistoryLength` is seconds, as ESPI defines it,
through `history_seconds` (a number below a day is months, as the reference data writes
`HistoryLength=13`: lenient grammars read it so, strict ones refuse it), and `history_words` shows
what is served; `IntervalDuration` items through `interval_seconds`, `BlockDuration` through `block_of`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sandbox.core.errors import ScopeError

HISTORY_13_MONTHS = 34128000  # seconds, as GBA's examples use: 395 days
MONTH_SECONDS = HISTORY_13_MONTHS / 13  # a month as GBA counts them, so that 13 of them are 34128000 s
MIN_HISTORY_SECONDS = 86400  # a HistoryLength below one day is no plausible number of seconds
NAMED_FREQUENCIES = ("billingPeriod", "daily", "monthly", "seasonal", "weekly")
_NAMED = {n.lower(): n for n in NAMED_FREQUENCIES}
_BR = re.compile(r"^[0-9A-Za-z-]+$")
CUSTOMER_DATA_BLOCKS = frozenset({46, 47, 49, 50, 51, 55, 56, 58, 59, 60})
TERMS = ("FB", "IntervalDuration", "BlockDuration", "HistoryLength", "SubscriptionFrequency", "AccountCollection", "BR")


@dataclass(frozen=True)
class Scope:
    function_blocks: tuple[int, ...]
    interval_durations: tuple[int | str, ...] = ()
    block_duration: int | str | None = None
    history_length: int | None = None
    subscription_frequency: int | str | None = None
    account_collection: int | None = None
    bulk_request: str | None = None
    extra: tuple[str, ...] = field(default=())  # unknown terms kept by lenient parsing

    @property
    def history_seconds(self) -> int | None:
        """How far back the scope reaches, in seconds (HistoryLength as written, read by `history_seconds`)."""
        return None if self.history_length is None else history_seconds(self.history_length)

    def __str__(self) -> str:
        terms = ["FB=" + "_".join(str(n) for n in self.function_blocks)]
        if self.interval_durations:
            terms.append("IntervalDuration=" + "_".join(str(n) for n in self.interval_durations))
        if self.block_duration:
            terms.append(f"BlockDuration={self.block_duration}")
        if self.history_length is not None:
            terms.append(f"HistoryLength={self.history_length}")
        if self.subscription_frequency is not None:
            terms.append(f"SubscriptionFrequency={self.subscription_frequency}")
        if self.account_collection is not None:
            terms.append(f"AccountCollection={self.account_collection}")
        if self.bulk_request:
            terms.append(f"BR={self.bulk_request}")
        return ";".join(terms + list(self.extra))

    @property
    def customer_data(self) -> bool:
        return bool(set(self.function_blocks) & CUSTOMER_DATA_BLOCKS)


def _number(term: str, text: str) -> int:
    if not text.isdigit():
        raise ScopeError(term, f"{text!r} is not a non-negative whole number")
    return int(text)


def history_seconds(written: int) -> int:
    """The one reading of a HistoryLength number: seconds, as ESPI defines it (ESPI.md 6.1). A number
    below a day (MIN_HISTORY_SECONDS) is no plausible number of seconds: it is months, as the reference
    data writes `HistoryLength=13` (GBA's months: 13 of them are HISTORY_13_MONTHS). A strict grammar
    refuses such a number (`parse_scope`); a lenient one, and a stored scope, are read this way."""
    return written if written >= MIN_HISTORY_SECONDS else round(written * MONTH_SECONDS)


def _history_length(term: str, text: str, strict: bool) -> int:
    """A HistoryLength as written; ScopeError for one that is not a number, or (strict) not plausible seconds."""
    written = _number(term, text)
    if strict and written < MIN_HISTORY_SECONDS:
        raise ScopeError(
            term,
            f"HistoryLength is in seconds (ESPI); {written} is less than a day: 13 months "
            f"are {HISTORY_13_MONTHS} (a lenient utility reads a small number as months)",
        )
    return written


def history_words(seconds: int) -> str:
    """How far back `seconds` of history reach, as served: whole months (GBA's) when it is that, else days."""
    months = seconds / MONTH_SECONDS
    if months >= 1 and abs(months - round(months)) * MONTH_SECONDS < 1:
        n = round(months)
        return f"{n} month" + ("s" if n != 1 else "")
    days = round(seconds / 86400)
    return f"{days} day" + ("s" if days != 1 else "")


_NAMED_SECONDS = {"daily": 86400}  # the named frequency an interval length may be written as
_BLOCKS = {
    "daily": "daily",
    "weekly": "weekly",
    "monthly": "monthly",
    "billingperiod": "monthly",
    "86400": "daily",
    "604800": "weekly",
}


def interval_seconds(item: int | str) -> int | None:
    """The one reading of an IntervalDuration item: seconds (a number, or `daily`); None for a name of no
    fixed length (monthly, billingPeriod...) or a malformed item, which no stream has."""
    if isinstance(item, int):
        return item
    text = item.strip()
    return int(text) if text.isdigit() else _NAMED_SECONDS.get(text.lower())


def block_of(value: int | str | None) -> str | None:
    """The one reading of a BlockDuration: the IntervalBlocks served, daily, weekly or monthly (a billing
    period is served as months); None for none or one the sandbox does not serve (daily blocks then)."""
    return None if value is None else _BLOCKS.get(str(value).strip().lower())


def _number_or_named(term: str, text: str) -> int | str:
    if text.isdigit():
        return int(text)
    named = _NAMED.get(text.lower())
    if named is None:
        raise ScopeError(term, f"{text!r} is neither a number of seconds nor one of {', '.join(NAMED_FREQUENCIES)}")
    return named


def parse_scope(text: str, strict: bool = True) -> Scope:
    """Parse one ESPI scope string. Lenient parsing accepts term names in any case and keeps unknown terms."""
    if not text or not text.strip():
        raise ScopeError("", "the scope is empty")
    if any(c.isspace() for c in text.strip()):
        raise ScopeError(text, "an ESPI scope has no spaces (several scopes are not accepted in one request)")
    seen: set[str] = set()
    extra: list[str] = []
    fb: tuple[int, ...] | None = None
    intervals: tuple[int | str, ...] = ()
    block: int | str | None = None
    frequency: int | str | None = None
    history: int | None = None
    accounts: int | None = None
    bulk: str | None = None
    names = {t.lower(): t for t in TERMS}
    for raw in text.strip().rstrip(";").split(";"):
        term = raw.strip()
        name, eq, value = term.partition("=")
        canonical = names.get(name.lower()) if not strict else (name if name in TERMS else None)
        if not eq or not value:
            raise ScopeError(term, "a term is written Name=value")
        if canonical is None:
            if strict:
                raise ScopeError(term, f"unknown term {name!r}; ESPI scopes use {', '.join(TERMS)}")
            extra.append(term)
            continue
        if canonical in seen:
            raise ScopeError(term, f"{canonical} is given twice")
        seen.add(canonical)
        if canonical == "FB":
            fb = tuple(_number(term, n) for n in value.split("_"))
        elif canonical == "IntervalDuration":
            intervals = tuple(_number_or_named(term, n) for n in value.split("_"))
        elif canonical == "BlockDuration":
            block = _number_or_named(term, value)
        elif canonical == "SubscriptionFrequency":
            frequency = _number_or_named(term, value)
        elif canonical == "HistoryLength":
            history = _history_length(term, value, strict)
        elif canonical == "AccountCollection":
            accounts = _number(term, value)
        elif canonical == "BR":
            if not _BR.match(value):
                raise ScopeError(term, "a bulk request id is letters, digits and dashes")
            bulk = value
    if fb is None:
        raise ScopeError(text, "the scope names no function blocks (FB=...)")
    return Scope(fb, intervals, block, history, frequency, accounts, bulk, tuple(extra))


def covers(registered: Scope, requested: Scope) -> None:
    """Raise ScopeError naming the first term of `requested` that `registered` does not allow."""
    extra_fb = [n for n in requested.function_blocks if n not in registered.function_blocks]
    if extra_fb:
        raise ScopeError(
            f"FB={'_'.join(map(str, requested.function_blocks))}",
            f"function block {extra_fb[0]} is not in the application's registered scope",
        )
    # a registered scope without IntervalDuration (a function-block-only grammar's) limits none
    offered_iv = {_interval_key(n) for n in registered.interval_durations}
    extra_iv = [n for n in requested.interval_durations if _interval_key(n) not in offered_iv]
    if extra_iv and registered.interval_durations:
        raise ScopeError(
            f"IntervalDuration={'_'.join(map(str, requested.interval_durations))}",
            f"interval {extra_iv[0]} is not offered",
        )
    if (
        requested.block_duration is not None
        and registered.block_duration is not None
        and _block_key(requested.block_duration) != _block_key(registered.block_duration)
    ):
        raise ScopeError(f"BlockDuration={requested.block_duration}", f"only {registered.block_duration} is offered")
    asked, offered = requested.history_seconds, registered.history_seconds
    if asked is not None and offered is not None and asked > offered:
        raise ScopeError(
            f"HistoryLength={requested.history_length}",
            f"at most {offered} seconds of history ({history_words(offered)}) are offered",
        )


def _interval_key(item: int | str) -> int | str:
    """An interval compared by what it means: its seconds, else its name in lower case."""
    seconds = interval_seconds(item)
    return str(item).lower() if seconds is None else seconds


def _block_key(value: int | str) -> str:
    """A block duration compared by what is served: daily, weekly, monthly, else its name in lower case."""
    return block_of(value) or str(value).lower()


_REQUIRED_PARAMS = ("IntervalDuration", "BlockDuration", "HistoryLength")


def check_grammar(scope: Scope, grammar: str) -> None:
    """Raise ScopeError if a parsed request breaks `grammar`'s rule beyond the parse: fb-only takes
    function blocks alone, requires-params wants the data's shape spelled out."""
    if grammar == "fb-only":
        for term, present in (
            ("IntervalDuration", scope.interval_durations),
            ("BlockDuration", scope.block_duration),
            ("HistoryLength", scope.history_length),
            ("SubscriptionFrequency", scope.subscription_frequency),
            ("AccountCollection", scope.account_collection),
        ):
            if present not in (None, ()):
                raise ScopeError(
                    term, f"this utility accepts function blocks only (FB=...): leave {term} and every other term out"
                )
    elif grammar == "requires-params":
        missing = [
            t
            for t, v in zip(_REQUIRED_PARAMS, (scope.interval_durations, scope.block_duration, scope.history_length))
            if v in (None, ())
        ]
        if missing and scope.bulk_request is None:
            raise ScopeError(
                str(scope), f"this utility needs {', '.join(missing)} beside FB (a bare function-block list is refused)"
            )


def allowed_by(
    registered: list[str], requested: str, grammar: str = "strict", supported: frozenset[int] | None = None
) -> Scope:
    """The parsed requested scope if it keeps `grammar` (strict, fb-only, requires-params or lenient), names only function blocks the
    utility serves (`supported`, None: all) and one of the registered scopes covers it; else ScopeError
    naming a term."""
    wanted = parse_scope(requested, grammar != "lenient")
    check_grammar(wanted, grammar)
    if supported is not None:
        lacking = [n for n in wanted.function_blocks if n not in supported]
        if lacking:
            name = FUNCTION_BLOCK_NAMES.get(lacking[0], f"FB_{lacking[0]}")
            raise ScopeError(
                f"FB={'_'.join(map(str, wanted.function_blocks))}",
                f"function block {lacking[0]} ({name}) is not offered by this utility",
            )
    first_error: ScopeError | None = None
    for text in registered:
        try:
            covers(parse_scope(text, strict=False), wanted)
            return wanted
        except ScopeError as exc:
            first_error = first_error or exc
    raise first_error or ScopeError(requested, "the application has no registered scope")


# Function blocks every utility offers: common, CMD core, interval metering, electricity,
# cost, security, OAuth, usage summary with cost, multiple usage points, partial update,
# REST, resource REST, query parameters, on demand, push.
_CORE = (1, 3, 4, 5, 12, 13, 14, 15, 16, 18, 19, 31, 32, 37, 38, 39)


def standard_scopes(
    commodities: tuple[str, ...],
    electricity_interval: int,
    grammar: str = "strict",
    supported: frozenset[int] | None = None,
) -> list[str]:
    """The scope strings a utility offers its third parties: usage data, then usage plus customer data
    (function blocks only for an fb-only grammar; only the blocks it serves, if it lists them)."""
    fbs = list(_CORE)
    if "electricity" in commodities:
        fbs += [7, 8]
    if "gas" in commodities:
        fbs.append(10)
    if "water" in commodities:
        fbs.append(11)
    customer = [46, 51, 55, 56, 58, 60]
    if supported is not None:
        fbs, customer = [n for n in fbs if n in supported], [n for n in customer if n in supported]
    fbs.sort()
    intervals = tuple(sorted({electricity_interval, 3600, 86400}))
    shape: dict = (
        {}
        if grammar == "fb-only"
        else dict(interval_durations=intervals, block_duration="daily", history_length=HISTORY_13_MONTHS)
    )
    usage = Scope(tuple(fbs), **shape)
    with_customer = Scope(tuple(sorted(fbs + customer)), **shape)
    return [str(usage), str(with_customer)]


def _terms(scope: str) -> dict[str, str]:
    """A scope's terms by lower-case name, read as leniently as any utility parses them (a stored
    scope may come from a lenient utility: `fb=1_3` must mean what `FB=1_3` means)."""
    terms: dict[str, str] = {}
    for part in scope.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            terms.setdefault(name.strip().lower(), value.strip())
    return terms


def _intervals_of(terms: dict[str, str]) -> list[int]:
    """A stored scope's interval lengths in seconds (`interval_seconds`); items of no fixed length are skipped."""
    read = (interval_seconds(n) for n in terms.get("intervalduration", "").split("_") if n.strip())
    return [n for n in read if n is not None]


def _history_of(terms: dict[str, str]) -> int | None:
    """A stored scope's HistoryLength in seconds (`history_seconds`), or None for none or a malformed one."""
    written = terms.get("historylength", "")
    return history_seconds(int(written)) if written.isdigit() else None


def _numbers(value: str) -> list[int]:
    """The whole numbers of an `_`-separated term value; malformed ones are skipped."""
    return [int(n) for n in value.split("_") if n.strip().isdigit()]


@lru_cache(maxsize=1024)  # every resource-server call asks of its token's scope
def function_blocks(scope: str) -> frozenset[int]:
    """The FB numbers of a scope string (lenient: other terms and malformed numbers are skipped)."""
    return frozenset(_numbers(_terms(scope).get("fb", "")))


_COMMODITY_BLOCKS = {"electricity": {5, 7, 8}, "gas": {10}, "water": {11}}


def commodities_of(scope: str) -> set[str] | None:
    """The commodities whose data a scope asks for, or None when it names no commodity's block (all)."""
    fbs = function_blocks(scope)
    named = {c for c, blocks in _COMMODITY_BLOCKS.items() if fbs & blocks}
    return named or None


def grants_customer_data(scope: str) -> bool:
    return bool(function_blocks(scope) & CUSTOMER_DATA_BLOCKS)


# The function blocks' names (ESPI.md 6.2: the implementation agreement's, else the certification's);
# numbers without a published name are echoed as FB_n.
FUNCTION_BLOCK_NAMES = {
    1: "Common Data Custodian",
    2: "Green Button Download My Data",
    3: "Core Green Button Connect My Data",
    4: "Interval Metering",
    5: "Interval Electricity Metering",
    6: "Demand Electricity Metering",
    7: "Net Metering",
    8: "Forward and Reverse Metering",
    9: "Register Values",
    10: "Gas",
    11: "Water",
    12: "Cost of Interval Data",
    13: "Security and Privacy classes",
    14: "Authorization and Authentication (OAuth)",
    15: "Usage Summary",
    16: "Usage Summary with Cost",
    17: "Power Quality Summary",
    18: "Multiple Usage Points",
    19: "Partial update data",
    27: "Usage Summary with Demands and Previous Day Attributes",
    28: "Usage Summary Costs for Current Billing Period",
    29: "Temperature",
    31: "Core REST Services",
    32: "Resource Level REST",
    33: "Management REST Interfaces",
    34: "SFTP for Bulk",
    35: "REST for Bulk",
    36: "Third Party (Client) Dynamic Registration",
    37: "Query Parameters",
    38: "On Demand Requests",
    39: "PUSH model",
    40: "Offline Authorization",
    41: "Manage Authorization Resource",
    42: "Third Party Core REST Services",
    43: "Third Party Management REST Services",
    44: "Manage ApplicationInformation Resource",
    45: "Upload",
    46: "Core RetailCustomer",
    47: "REST for RetailCustomer Bulk",
    48: "SFTP for RetailCustomer Bulk",
    49: "RetailCustomer Management REST",
    50: "RetailCustomer Resource Level REST",
    51: "Retail Customer Common",
    55: "Retail Customer Demographic Information",
    56: "Retail Customer Billing Information",
    58: "Retail Customer Service-Location Information",
    59: "Retail Customer Service-Supplier Information",
    60: "Retail Customer Meter Information",
}

# Plain words for the consent page (ESPI.md 6.2), by function block.
PLAIN_WORDS = {
    5: "Electricity use in intervals",
    7: "Net electricity: what you drew from the grid minus what you sent to it",
    8: "Electricity delivered and received (solar export)",
    10: "Natural gas use",
    11: "Water use",
    12: "Cost per interval",
    15: "Monthly bill summaries",
    16: "Bill amounts",
    18: "All your service points",
    46: "Billing data: name, service address, meter number",
    55: "Contact details: name, address, phone, e-mail",
    56: "Account and billing information",
    58: "Service location",
    60: "Meter details",
}


def plain_words(scope: str) -> list[str]:
    """A scope in plain words, one line per thing it shares (for the consent page and the developer portal)."""
    try:
        s = parse_scope(scope, strict=False)
    except ScopeError:
        return ["(not a valid ESPI scope)"]
    lines = [PLAIN_WORDS[n] for n in s.function_blocks if n in PLAIN_WORDS]
    if s.interval_durations:
        names = {900: "every 15 minutes", 1800: "every 30 minutes", 3600: "every hour", 86400: "daily"}
        shown = [(i, interval_seconds(i)) for i in s.interval_durations]
        said = [f"of {i}" if n is None else names.get(n, f"every {n} seconds") for i, n in shown]
        lines.append("Readings " + (" and ".join(said) if len(said) < 3 else ", ".join(said[:-1]) + " and " + said[-1]))
    if s.block_duration:
        lines.append(f"Delivered in {block_of(s.block_duration) or s.block_duration} blocks")
    seconds = s.history_seconds
    if seconds is not None:
        lines.append(f"Up to {history_words(seconds)} of history")
    if s.bulk_request:
        lines.append(f"Bulk transfer {s.bulk_request}")
    return lines


_INTERVALS = {900: "15-minute", 1800: "30-minute", 3600: "hourly", 86400: "daily"}


def summary_words(scope: str) -> list[str]:
    """A short reading of a scope for lists of authorizations (lenient: unknown terms are skipped)."""
    terms = _terms(scope)
    fbs = function_blocks(scope)
    out = []
    kinds = [name for name, blocks in _COMMODITY_BLOCKS.items() if fbs & blocks]
    usage = "Usage readings" + (f" ({', '.join(kinds)})" if kinds else "")
    ivs = sorted(set(_intervals_of(terms)))
    if ivs:
        usage += ", " + ", ".join(_INTERVALS.get(i, f"every {i} s") for i in sorted(ivs))
    out.append(usage)
    if fbs & {12, 16}:
        out.append("Costs and bills")
    elif 15 in fbs:
        out.append("Monthly usage summaries")
    if 8 in fbs:
        out.append("Solar export (energy received)")
    if 7 in fbs:
        out.append("Net metering (delivered minus received)")
    seconds = _history_of(terms)
    if seconds is not None:
        out.append(f"History: up to {history_words(seconds)} back")
    if fbs & CUSTOMER_DATA_BLOCKS:
        out.append("Your name, contact details, account and service address")
    return out


# --- what a scope lets a usage document hold (ESPI.md 6.2) -----------------------------------


@dataclass(frozen=True)
class Content:
    """The usage data a scope grants: interval cost (FB 12), summaries (FB 15, with cost FB 16),
    commodities (FB 5, 10, 11; None is every one), the reverse-flow stream such as solar export
    (FB 8), the net stream, delivered minus received (FB 7), the interval lengths served, how
    readings are blocked, and how far back they go. The delivered stream needs neither 7 nor 8."""

    interval_cost: bool = True
    summaries: bool = True
    summary_cost: bool = True
    commodities: frozenset[str] | None = None
    received: bool = True
    net: bool = True
    intervals: frozenset[int] | None = None
    block: str = "daily"  # daily, weekly or monthly IntervalBlocks
    history_seconds: int | None = None

    def serves(self, commodity: str, flow: str, interval: int) -> bool:
        """Whether a stream of this commodity, flow and interval length is granted."""
        return (
            (self.commodities is None or commodity in self.commodities)
            and (flow != "received" or self.received)
            and (flow != "net" or self.net)
            and (self.intervals is None or interval in self.intervals)
        )


EVERYTHING = Content()  # what the customer's own download holds


@lru_cache(maxsize=1024)  # a frozen value: every resource-server call asks for its token's
def content_of(scope: str) -> Content:
    """The Content a granted scope string allows (read leniently, as stored)."""
    terms = _terms(scope)
    fbs = function_blocks(scope)
    named = commodities_of(scope)
    intervals = frozenset(_intervals_of(terms))
    seconds = _history_of(terms)
    return Content(
        interval_cost=12 in fbs,
        summaries=bool(fbs & {15, 16}),
        summary_cost=16 in fbs,
        commodities=frozenset(named) if named is not None else None,
        received=8 in fbs,
        net=7 in fbs,
        intervals=intervals or None,
        block=block_of(terms.get("blockduration")) or "daily",
        history_seconds=seconds,
    )
