"""Named fault scenarios: the ways real utilities misbehave, produced on purpose so that a third
party meets each on its laptop first.

One table (`SCENARIOS`): each scenario's stable name, what it does, what a robust client does
about it, and which check it breaks. A call's faults are those its application and authorization
were given (the control API) and those its request names in `X-Sandbox-Fault` (unless the
setting FAULT_HEADER is off), as `name` or `name:argument`, comma-separated. The HTTP side is
`web.faults`; the document side `espi.faulty`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sandbox.core.errors import Refused
from sandbox.core.models import Application, Authorization

RESPONSE, DOCUMENT = "response", "document"
RESOURCES = ("UsagePoint", "MeterReading", "ReadingType", "IntervalBlock", "UsageSummary", "LocalTimeParameters")
A_RESOURCE = "a resource: " + ", ".join(RESOURCES)  # the argument of the entry mutations


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # response (the HTTP answer) or document (the XML)
    does: str
    robust: str  # what a robust client does
    breaks: str  # the schema or structural check the result fails ("" for a well-formed answer)
    argument: str = ""  # what name:argument takes, if anything


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("server-error", RESPONSE, "503 Service Unavailable with Retry-After: 2 (server-error:500 for a 500)",
             "retry after the Retry-After delay, with back-off, without losing its place", "", "500 or 503"),
    Scenario("slow", RESPONSE, "the answer comes after a delay (default 2 s, at most 30)",
             "keep a timeout longer than the utility's worst day, and do not retry early", "", "seconds"),
    Scenario("rate-limited", RESPONSE, "429 Too Many Requests with Retry-After: 1",
             "wait Retry-After seconds, then retry; slow down", ""),
    Scenario("truncated-body", RESPONSE, "the body stops halfway (fewer bytes than Content-Length)",
             "detect the short read, discard the partial document and retry", "not well-formed XML"),
    Scenario("connection-reset", RESPONSE, "the connection is closed with no answer",
             "treat it as transient: retry with back-off", ""),
    Scenario("token-expired-early", RESPONSE, "401 invalid_token (token_expired) before the token's expires_in",
             "refresh the access token and retry once, whatever expires_in said", ""),
    Scenario("RemoveEntry", DOCUMENT, "the first entry of the resource is left out",
             "tolerate a missing entry: do not crash on a link that resolves nowhere",
             "related and up links resolve", A_RESOURCE),
    Scenario("Duplicate", DOCUMENT, "the first entry of the resource appears twice",
             "de-duplicate by the entry's id", "every entry id is unique", A_RESOURCE),
    Scenario("BreakUplink", DOCUMENT, "the first entry of the resource has an up link to nowhere",
             "place entries by their ids and self links, not by the up link alone", "up links resolve",
             A_RESOURCE),
    Scenario("dst-local-as-utc", DOCUMENT, "reading times written as local wall time, as if it were UTC",
             "check times against LocalTimeParameters; flag data shifted by the zone's offset",
             "readings start on the utility's local midnight"),
    Scenario("dst-duplicate-hour", DOCUMENT, "one interval reading appears twice (the autumn hour, written twice)",
             "keep one reading per start time", "interval continuity (no overlap)"),
    Scenario("dst-missing-hour", DOCUMENT, "one interval reading is missing (the spring hour, left out)",
             "accept a gap; do not shift later readings", "interval continuity (no gap)"),
    Scenario("wrong-multiplier", DOCUMENT, "ReadingType's powerOfTenMultiplier is 3 too high",
             "sanity-check magnitudes against history; never trust a multiplier blindly",
             "values plausible for the premise"),
    Scenario("decimal-values", DOCUMENT, "IntervalReading values written with decimals (12.5)",
             "refuse or round with a warning: ESPI values are integers", "schema: value is xs:long"),
    Scenario("unknown-uom", DOCUMENT, "ReadingType's uom is 999, no unit ESPI defines",
             "refuse to chart a unit it does not know; keep the raw data", "uom is a UnitSymbolKind"),
    Scenario("gap-days", DOCUMENT, "a day's IntervalBlock in the middle is left out",
             "accept the gap and fetch that day again later", "one block per day, no gap"),
    Scenario("late-revision", DOCUMENT, "one day's block republished: values 5% higher, a later updated, the "
             "same published", "replace the day's readings when updated changes", ""),
)
BY_NAME = {s.name: s for s in SCENARIOS}
MAX_FAULTS = 8


@dataclass(frozen=True)
class Fault:
    scenario: Scenario
    argument: str = ""

    def __str__(self) -> str:
        return f"{self.scenario.name}:{self.argument}" if self.argument else self.scenario.name


def parse(names: Iterable[str], field: str) -> tuple[Fault, ...]:
    """Faults from their written forms; Refused naming `field` for one that is unknown or wrong."""
    out: list[Fault] = []
    for raw in names:
        text = raw.strip()
        if not text:
            continue
        name, _, arg = text.partition(":")
        s = BY_NAME.get(name.strip())
        if s is None:
            raise Refused(f"{field}: {text[:60]!r} is no fault scenario; known: {', '.join(BY_NAME)}", field)
        arg = arg.strip()
        _check_argument(s, arg, field)
        out.append(Fault(s, arg))
    if len(out) > MAX_FAULTS:
        raise Refused(f"{field}: at most {MAX_FAULTS} faults at once", field)
    return tuple(out)


def _check_argument(s: Scenario, arg: str, field: str) -> None:
    if s.name == "slow":
        try:
            ok = arg == "" or 0 <= float(arg) <= 30
        except ValueError:
            ok = False
        if not ok:
            raise Refused(f"{field}: slow takes seconds from 0 to 30 (slow:2.5), not {arg!r}", field)
    elif s.name == "server-error":
        if arg not in ("", "500", "503"):
            raise Refused(f"{field}: server-error takes 500 or 503, not {arg!r}", field)
    elif s.argument == A_RESOURCE:
        if arg not in RESOURCES:
            raise Refused(f"{field}: {s.name} names a resource ({', '.join(RESOURCES)}), as {s.name}:IntervalBlock",
                          field)
    elif arg:
        raise Refused(f"{field}: {s.name} takes no argument", field)


def of_header(value: str | None) -> tuple[Fault, ...]:
    return parse(value.split(","), "X-Sandbox-Fault") if value else ()


def stored(names: Iterable[str]) -> tuple[Fault, ...]:
    """Faults kept on an application or authorization (checked when set; one no longer known is skipped)."""
    out: list[Fault] = []
    for n in names:
        try:
            out += parse([n], "faults")
        except Refused:
            continue
    return tuple(out)


def set_on(holder: Application | Authorization, names: list[str]) -> list[str]:
    """Keep checked faults on an application or an authorization (in the caller's transaction); them."""
    chosen = [str(f) for f in parse(names, "faults")]
    holder.faults = chosen or None
    return chosen


def catalogue() -> list[dict]:
    return [{"name": s.name, "kind": s.kind, "does": s.does, "robust_client": s.robust, "breaks": s.breaks,
             "argument": s.argument} for s in SCENARIOS]
