"""Named fault scenarios: the ways real utilities misbehave, produced on purpose so that a third
party meets each on its laptop first.

One table (`SCENARIOS`): each scenario's stable name, what it does, what a robust client does
about it, which check it breaks, the argument it takes and its effect: an answer in place of the
view's (`Answer`), the wire around the answer (`Delay`, `Drop`, `Truncate`) or a rewrite of the
document (`Rewrite`, with a function of `espi.faulty`). A row is checked when it is made, so a
scenario with no effect, or one nothing applies, stops the module from loading. Every other place
derives from the table: `plan` (what the web layer does to a call), `rewrite` (a document), the
control API's schema and the developer portal's list.

A call's faults are those its application and authorization were given (the control API) and those
its request names in `X-Sandbox-Fault` (unless the setting FAULT_HEADER is off), as `name` or
`name:argument`, comma-separated. The HTTP side is `web.faults`; the document side `espi.faulty`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from sandbox.core.errors import FaultAnswer, Refused, SandboxError, TokenRefused
from sandbox.core.models import Application, Authorization
from sandbox.espi import faulty

RESPONSE, DOCUMENT = "response", "document"
RESOURCES = ("UsagePoint", "MeterReading", "ReadingType", "IntervalBlock", "UsageSummary", "LocalTimeParameters")
A_RESOURCE = "a resource: " + ", ".join(RESOURCES)  # the argument of the entry mutations


# --- what a scenario does (its effect) -------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The call is answered with `make(argument)`'s refusal instead of its view's answer."""

    make: Callable[[str], SandboxError]


@dataclass(frozen=True)
class Delay:
    """The answer comes after `argument` seconds (`default` without one)."""

    default: float


@dataclass(frozen=True)
class Drop:
    """The connection is closed with no answer."""


@dataclass(frozen=True)
class Truncate:
    """Half the body is sent, under the whole body's Content-Length."""


@dataclass(frozen=True)
class Rewrite:
    """The call's document is rewritten by `fn(root)`, or `fn(root, argument)` when the scenario takes one."""

    fn: Callable[..., None]


EFFECTS = (Answer, Delay, Drop, Truncate, Rewrite)
Effect = Answer | Delay | Drop | Truncate | Rewrite


# --- what a scenario's argument may be -------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    """What `name:argument` takes: `text` for the catalogue, `accepts` to check one, `problem` (with
    {name} and {arg}) for a refusal. No argument at all means the default, unless `required`."""

    text: str
    accepts: Callable[[str], bool]
    problem: str
    required: bool = False  # no argument is refused too


def _seconds(arg: str) -> bool:
    try:
        return 0 <= float(arg) <= 30
    except ValueError:
        return False


SECONDS = Argument("seconds", _seconds, "slow takes seconds from 0 to 30 (slow:2.5), not {arg!r}")
STATUS = Argument("500 or 503", lambda arg: arg in ("500", "503"), "{name} takes 500 or 503, not {arg!r}")
RESOURCE = Argument(
    A_RESOURCE,
    lambda arg: arg in RESOURCES,
    "{name} names a resource (" + ", ".join(RESOURCES) + "), as {name}:IntervalBlock",
    required=True,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    does: str
    robust: str  # what a robust client does
    breaks: str  # the schema or structural check the result fails ("" for a well-formed answer)
    effect: Effect
    takes: Argument | None = None  # what name:argument takes, if anything

    def __post_init__(self) -> None:
        if not isinstance(self.effect, EFFECTS):
            raise TypeError(
                f"fault scenario {self.name!r}: its effect {self.effect!r} is none of "
                f"{', '.join(e.__name__ for e in EFFECTS)}"
            )
        if isinstance(self.effect, Rewrite) and self.takes not in (None, RESOURCE):
            raise TypeError(f"fault scenario {self.name!r}: a document rewrite takes a resource or nothing")
        if isinstance(self.effect, (Drop, Truncate)) and self.takes is not None:
            raise TypeError(f"fault scenario {self.name!r}: {type(self.effect).__name__} takes no argument")

    @property
    def kind(self) -> str:
        """response (the HTTP answer) or document (the XML)."""
        return DOCUMENT if isinstance(self.effect, Rewrite) else RESPONSE

    @property
    def argument(self) -> str:
        """What name:argument takes, in words ("" for nothing)."""
        return self.takes.text if self.takes else ""


def table(*rows: Scenario) -> dict[str, Scenario]:
    """The scenarios by name; TypeError for a name given twice (each row checked itself when made)."""
    out: dict[str, Scenario] = {}
    for row in rows:
        if not isinstance(row, Scenario):
            raise TypeError(f"{row!r} is not a fault scenario")
        if row.name in out:
            raise TypeError(f"fault scenario {row.name!r} is given twice")
        out[row.name] = row
    return out


# the scenarios a conformance run arranges (services.conformance), and the Retry-After each answers with
RATE_LIMITED, SERVER_ERROR = "rate-limited", "server-error"
RATE_LIMITED_RETRY_AFTER, SERVER_ERROR_RETRY_AFTER = 1, 2


def _server_error(arg: str) -> SandboxError:
    status = int(arg or 503)
    return FaultAnswer(
        status,
        "server_error" if status == 500 else "temporarily_unavailable",
        "the utility's server failed (a fault scenario asked for)",
        "fault:server-error",
        retry_after=SERVER_ERROR_RETRY_AFTER,
    )


def _rate_limited(arg: str) -> SandboxError:
    return FaultAnswer(
        429,
        "too_many_requests",
        "too many requests: wait, then try again (a fault scenario)",
        "fault:rate-limited",
        retry_after=RATE_LIMITED_RETRY_AFTER,
    )


def _token_expired(arg: str) -> SandboxError:
    return TokenRefused(401, "invalid_token", "this access token has expired; refresh it", "token_expired")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        SERVER_ERROR,
        "503 Service Unavailable with Retry-After: 2 (server-error:500 for a 500)",
        "retry after the Retry-After delay, with back-off, without losing its place",
        "",
        Answer(_server_error),
        STATUS,
    ),
    Scenario(
        "slow",
        "the answer comes after a delay (default 2 s, at most 30)",
        "keep a timeout longer than the utility's worst day, and do not retry early",
        "",
        Delay(2.0),
        SECONDS,
    ),
    Scenario(
        RATE_LIMITED,
        "429 Too Many Requests with Retry-After: 1",
        "wait Retry-After seconds, then retry; slow down",
        "",
        Answer(_rate_limited),
    ),
    Scenario(
        "truncated-body",
        "the body stops halfway (fewer bytes than Content-Length)",
        "detect the short read, discard the partial document and retry",
        "not well-formed XML",
        Truncate(),
    ),
    Scenario(
        "connection-reset",
        "the connection is closed with no answer",
        "treat it as transient: retry with back-off",
        "",
        Drop(),
    ),
    Scenario(
        "token-expired-early",
        "401 invalid_token (token_expired) before the token's expires_in",
        "refresh the access token and retry once, whatever expires_in said",
        "",
        Answer(_token_expired),
    ),
    Scenario(
        "RemoveEntry",
        "the first entry of the resource is left out",
        "tolerate a missing entry: do not crash on a link that resolves nowhere",
        "related and up links resolve",
        Rewrite(faulty.remove_entry),
        RESOURCE,
    ),
    Scenario(
        "Duplicate",
        "the first entry of the resource appears twice",
        "de-duplicate by the entry's id",
        "every entry id is unique",
        Rewrite(faulty.duplicate),
        RESOURCE,
    ),
    Scenario(
        "BreakUplink",
        "the first entry of the resource has an up link to nowhere",
        "place entries by their ids and self links, not by the up link alone",
        "up links resolve",
        Rewrite(faulty.break_uplink),
        RESOURCE,
    ),
    Scenario(
        "dst-local-as-utc",
        "reading times written as local wall time, as if it were UTC",
        "check times against LocalTimeParameters; flag data shifted by the zone's offset",
        "readings start on the utility's local midnight",
        Rewrite(faulty.local_as_utc),
    ),
    Scenario(
        "dst-duplicate-hour",
        "one interval reading appears twice (the autumn hour, written twice)",
        "keep one reading per start time",
        "interval continuity (no overlap)",
        Rewrite(faulty.duplicate_hour),
    ),
    Scenario(
        "dst-missing-hour",
        "one interval reading is missing (the spring hour, left out)",
        "accept a gap; do not shift later readings",
        "interval continuity (no gap)",
        Rewrite(faulty.missing_hour),
    ),
    Scenario(
        "wrong-multiplier",
        "ReadingType's powerOfTenMultiplier is 3 too high",
        "sanity-check magnitudes against history; never trust a multiplier blindly",
        "values plausible for the premise",
        Rewrite(faulty.wrong_multiplier),
    ),
    Scenario(
        "decimal-values",
        "IntervalReading values written with decimals (12.5)",
        "refuse or round with a warning: ESPI values are integers",
        "schema: value is xs:long",
        Rewrite(faulty.decimal_values),
    ),
    Scenario(
        "unknown-uom",
        "ReadingType's uom is 999, no unit ESPI defines",
        "refuse to chart a unit it does not know; keep the raw data",
        "uom is a UnitSymbolKind",
        Rewrite(faulty.unknown_uom),
    ),
    Scenario(
        "gap-days",
        "a day's IntervalBlock in the middle is left out",
        "accept the gap and fetch that day again later",
        "one block per day, no gap",
        Rewrite(faulty.gap_days),
    ),
    Scenario(
        "late-revision",
        "one day's block republished: values 5% higher, a later updated, the same published",
        "replace the day's readings when updated changes",
        "",
        Rewrite(faulty.late_revision),
    ),
)
BY_NAME = table(*SCENARIOS)
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
    if s.takes is None:
        if arg:
            raise Refused(f"{field}: {s.name} takes no argument", field)
    elif (arg or s.takes.required) and not s.takes.accepts(arg):
        raise Refused(f"{field}: " + s.takes.problem.format(name=s.name, arg=arg), field)


@dataclass(frozen=True)
class Plan:
    """What a call's faults do to it, in the order the web layer applies them: hold the answer
    `delay` seconds, then close the connection (`drop`), or answer `refusal` instead of the view
    (the first answer scenario of the table), or cut the body (`truncate`); `rewrites`: the faults
    that rewrite its document (see `rewrite`)."""

    delay: float | None = None
    drop: bool = False
    refusal: SandboxError | None = None
    truncate: bool = False
    rewrites: tuple[Fault, ...] = ()


NOTHING = Plan()


def plan(found: tuple[Fault, ...]) -> Plan:
    """The Plan of a call's faults (NOTHING for none)."""
    if not found:
        return NOTHING
    delay = next(
        (float(f.argument or f.scenario.effect.default) for f in found if isinstance(f.scenario.effect, Delay)), None
    )
    order = list(BY_NAME)
    answers = sorted(
        (f for f in found if isinstance(f.scenario.effect, Answer)), key=lambda f: order.index(f.scenario.name)
    )
    first = answers[0] if answers else None
    refusal = (
        first.scenario.effect.make(first.argument) if first and isinstance(first.scenario.effect, Answer) else None
    )
    return Plan(
        delay,
        any(isinstance(f.scenario.effect, Drop) for f in found),
        refusal,
        any(isinstance(f.scenario.effect, Truncate) for f in found),
        tuple(f for f in found if isinstance(f.scenario.effect, Rewrite)),
    )


def document_steps(found: Iterable[Fault]) -> list[tuple[Callable[..., None], str]]:
    """The (espi.faulty function, argument) of each fault of `found` that rewrites a document, in order."""
    return [(f.scenario.effect.fn, f.argument) for f in found if isinstance(f.scenario.effect, Rewrite)]


def rewrite(document: bytes, found: Iterable[Fault]) -> bytes:
    """The document with each document fault of `found` applied in order (others are skipped)."""
    steps = document_steps(found)
    return faulty.rewrite(document, steps) if steps else document


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
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "does": s.does,
            "robust_client": s.robust,
            "breaks": s.breaks,
            "argument": s.argument,
        }
        for s in SCENARIOS
    ]
