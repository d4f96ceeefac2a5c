"""The checks of a conformance run: one table (`CHECKS`), each row what the check arranges, what
passes, why real utilities make it matter, and two functions: `arrange` sets the situation up for
the client's own authorizations (raising NotArranged when it cannot: no authorization yet, no
notification URI), `judge` reads what the client did since and says pass or fail, or None while it
is still watching (at the end of its window `final` is set: it must decide, not_observed included).

Everything a check changes is written in its state so that `undo` puts it back when the check ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock, iso_z
from sandbox.core.errors import NotArranged
from sandbox.core.models import Application, Authorization, DeliveryAttempt, Notification, OAuthCode, OAuthToken
from sandbox.core.profile import Behaviour
from sandbox.espi import urls
from sandbox.espi.scopes import content_of
from sandbox.services import authorizations, faults, readings, summaries
from sandbox.services.notifications import outbox
from sandbox.synth.world import UtilityDef, WorldDef

PASS, FAIL, NOT_OBSERVED = "pass", "fail", "not_observed"
CONFORMANCE = "conformance"  # the event of the BatchLists a run POSTs
RATE_LIMIT_RETRY_AFTER = float(faults.RATE_LIMITED_RETRY_AFTER)
SERVER_ERROR_RETRY_AFTER = float(faults.SERVER_ERROR_RETRY_AFTER)
STORM = 6  # more calls than this where a client should wait or stop is a storm


@dataclass(frozen=True)
class Seen:
    """One call of the client, as the request log kept it; `at` in real seconds."""

    at: float
    method: str
    path: str
    status: int
    reason: str | None

    @property
    def bare(self) -> str:
        return self.path.split("?")[0]

    def evidence(self) -> dict:
        return {"at": _iso(self.at), "call": f"{self.method} {self.path}", "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    verdict: str
    summary: str
    evidence: list[dict] = field(default_factory=list)


@dataclass
class Situation:
    """What a check works with: the world's session, the client's application, the utility's resource
    root, the sandbox clock, real time now and the check's own state (JSON, kept between steps)."""

    s: Session
    app: Application
    root: str  # the utility's resource root, as the client reaches it
    world: WorldDef
    utility: UtilityDef
    behaviour: Behaviour  # the profile the client is answered with
    clock: Clock
    now: float
    state: dict
    log: Callable[[float], list[Seen]]  # the client's calls answered since a real time, paths as it sent them
    answers: dict | None = None  # what the client reported it computed (POST .../answers)

    @property
    def time_zone(self) -> str:
        return self.utility.time_zone

    def authorizations(self) -> list[Authorization]:
        """The client's customer authorizations at the utility that are active now, with usage points."""
        now = self.clock.naive_now()
        found = self.s.scalars(
            select(Authorization).where(
                Authorization.application_id == self.app.id, Authorization.customer_id.is_not(None)
            )
        )
        active = [a for a in found if authorizations.state(a, now)[0] == authorizations.AuthState.ACTIVE]
        return [a for a in active if a.usage_points]

    def calls(self) -> list[Seen]:
        return self.log(self.state["at"])

    def notify(self, uris: list[str]) -> int:
        """POST a BatchList naming `uris` to the client's notification URI (the outbox delivers it)."""
        if not self.app.notify_uri:
            raise NotArranged("the application has no notification URI, so the sandbox cannot move it")
        n = outbox.enqueue(self.s, self.app, CONFORMANCE, uris, self.clock.now())
        self.s.flush()
        return n.id

    def notified_uris(self, within: float = 600) -> list[str]:
        """The URIs the BatchLists enqueued for the client in the last `within` real seconds named."""
        since = dt.datetime.fromtimestamp(self.now - within, dt.timezone.utc).replace(tzinfo=None)
        found = self.s.scalars(
            select(Notification.uris).where(
                Notification.application_id == self.app.id, Notification.enqueued_at >= since
            )
        )
        return [u for uris in found for u in uris]

    def attempts(self, notification_id: int) -> list[DeliveryAttempt]:
        return list(
            self.s.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(DeliveryAttempt.id)
            )
        )

    def held(self) -> list[Authorization]:
        """The authorizations to arrange for: the active ones. NotArranged, before anything is changed,
        when there is none or the client has no notification URI to be moved by."""
        if not self.app.notify_uri:
            raise NotArranged("the application has no notification URI, so the sandbox cannot move it")
        found = self.authorizations()
        if not found:
            raise NotArranged("the client holds no active authorization with usage points: have a customer consent")
        self.state["authorizations"] = [a.id for a in found]
        return found

    def usage_point_uris(self, auths: list[Authorization], query: str = "") -> list[str]:
        return [
            urls.href(
                self.root, "BatchSubscriptionUsagePoint", subscription_id=a.subscription_uuid, usage_point_id=u.uuid
            )
            + query
            for a in auths
            for u in a.usage_points
        ]

    def set_faults(self, auths: list[Authorization], names: list[str]) -> None:
        """Give the authorizations these faults (their own kept in the state, for `undo`)."""
        kept = self.state.setdefault("faults", {})
        for a in auths:
            kept.setdefault(str(a.id), a.faults)
            faults.set_on(a, names)

    def restore_faults(self) -> None:
        for auth_id, was in self.state.pop("faults", {}).items():
            self.s.execute(update(Authorization).where(Authorization.id == int(auth_id)).values(faults=was))

    def expire_access_tokens(self, auths: list[Authorization]) -> int:
        """End the live access tokens of these authorizations now (their refresh tokens stay good)."""
        now = self.clock.naive_now()
        done = self.s.execute(
            update(OAuthToken)
            .where(
                OAuthToken.authorization_id.in_([a.id for a in auths]),
                OAuthToken.revoked_at.is_(None),
                OAuthToken.expires_at > now,
            )
            .values(expires_at=now)
        )
        return int(done.rowcount or 0)  # type: ignore[attr-defined]


def _iso(at: float) -> str:
    """A real time as evidence gives it: ISO 8601 in UTC, to the millisecond."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _delivery_evidence(attempts: list[DeliveryAttempt]) -> list[dict]:
    return [
        {
            "at": a.at.isoformat(timespec="milliseconds") + "Z",  # naive UTC
            "call": f"POST {a.uri} (BatchList)",
            "status": a.status,
        }
        for a in attempts
    ]


def _poked(sit: Situation, uris: list[str]) -> None:
    """A BatchList naming `uris` POSTed to the client, kept in the check's state for its judge."""
    sit.state["notification"] = sit.notify(uris)
    sit.state["uris"] = uris


# --- the checks ----------------------------------------------------------------------------------

PKCE_LOOKBACK = dt.timedelta(hours=1)  # the authorization requests judged: those of the last hour and the run's


def _arrange_pkce(sit: Situation) -> None:
    """Nothing to set up: a data custodian cannot send a customer through consent. The customer does, in
    the browser, before or during the run."""


def _judge_pkce(sit: Situation, final: bool) -> Verdict | None:
    since = sit.clock.naive_now() - PKCE_LOOKBACK
    codes = list(
        sit.s.scalars(
            select(OAuthCode)
            .where(OAuthCode.application_id == sit.app.id, OAuthCode.created_at >= since)
            .order_by(OAuthCode.created_at)
        )
    )
    shown = [
        {
            "at": iso_z(c.created_at),
            "call": "GET /oauth/authorize (a code issued)",
            "status": c.code_challenge_method or "no PKCE",
        }
        for c in codes[-12:]
    ]
    weak = [c for c in codes if c.code_challenge_method != "S256"]
    if weak:
        method = weak[-1].code_challenge_method or "none"
        return Verdict(
            FAIL, f"{len(weak)} of {len(codes)} authorization request(s) without PKCE S256 (method: {method})", shown
        )
    if codes:
        return Verdict(PASS, f"{len(codes)} authorization request(s), each with state and PKCE S256", shown)
    if not final:
        return None
    return Verdict(
        NOT_OBSERVED, "no authorization request in the hour before the run or during it: have a customer consent"
    )


def _arrange_batch_list(sit: Situation) -> None:
    auths = sit.held()
    _poked(sit, sit.usage_point_uris(auths))


def _judge_batch_list(sit: Situation, final: bool) -> Verdict | None:
    attempts = sit.attempts(sit.state["notification"])
    shown = _delivery_evidence(attempts)
    delivered = any(200 <= a.status < 300 for a in attempts)
    if attempts and not delivered and (final or len(attempts) >= 3):  # the outbox tries again meanwhile
        a = attempts[-1]
        return Verdict(FAIL, f"the BatchList POST was answered {a.status or 'with no answer'}, not 2xx", shown)
    wanted = {urlsplit(u).path for u in sit.state["uris"]}
    calls = sit.calls()
    fetched = [c for c in calls if c.method == "GET" and c.bare in wanted and c.status == 200]
    named = wanted | {urlsplit(u).path for u in sit.notified_uris()}  # what any recent BatchList named
    others = [c for c in calls if c.method == "GET" and c.status == 200 and c.bare not in named]
    if others:  # a client that reads everything again at every notification
        return Verdict(
            FAIL, f"read {len(others)} URI(s) the BatchList did not name, not only its own", shown + _ev(others)
        )
    missing = wanted - {c.bare for c in fetched}
    if attempts and not missing:
        return Verdict(PASS, f"answered the BatchList and read the {len(wanted)} URIs it named", shown + _ev(fetched))
    if not final:
        return None
    if not attempts:
        return Verdict(FAIL, "the BatchList was never answered", shown)
    return Verdict(
        FAIL, f"did not read {len(missing)} of the {len(wanted)} URIs: {', '.join(sorted(missing)[:3])}", shown
    )


def _ev(calls: list[Seen], limit: int = 12) -> list[dict]:
    return [c.evidence() for c in calls[:limit]]


def _arrange_windows(sit: Situation) -> None:
    """Two BatchLists for the last two published days, as a utility announces each day."""
    auths = sit.held()
    zone = ZoneInfo(sit.time_zone)
    end = sit.clock.published_end(sit.time_zone)
    ids = []
    for first in (end - dt.timedelta(days=2), end - dt.timedelta(days=1)):
        start = dt.datetime.combine(first, dt.time(), zone)
        stop = dt.datetime.combine(first + dt.timedelta(days=1), dt.time(), zone)
        query = f"?published-min={iso_z(start)}&published-max={iso_z(stop)}"
        ids.append(sit.notify(sit.usage_point_uris(auths, query)))
    sit.state["notifications"] = ids


def _instant(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _windows(calls: list[Seen]) -> dict[str, list[tuple[dt.datetime, dt.datetime, Seen]]]:
    """The distinct published-min/max windows the client asked of each resource (as instants: an offset
    or a fraction of a second written otherwise is the same window), by resource."""
    out: dict[str, dict[tuple[dt.datetime, dt.datetime], Seen]] = {}
    for c in calls:
        q = parse_qs(urlsplit(c.path).query)
        lo, hi = _instant(q.get("published-min", [""])[0]), _instant(q.get("published-max", [""])[0])
        if c.status == 200 and lo is not None and hi is not None:
            out.setdefault(c.bare, {}).setdefault((lo, hi), c)
    return {
        path: sorted(((lo, hi, c) for (lo, hi), c in found.items()), key=lambda w: w[:2]) for path, found in out.items()
    }


def _judge_windows(sit: Situation, final: bool) -> Verdict | None:
    by_path = _windows(sit.calls())
    if not final and sum(len(w) for w in by_path.values()) < 2 * max(1, len(sit.state.get("authorizations", []))):
        return None
    problems, shown = [], []
    for path, windows in by_path.items():
        for (_, hi1, c1), (lo2, _, c2) in zip(windows, windows[1:]):
            shown += [c1.evidence(), c2.evidence()]
            if lo2 > hi1:
                problems.append(f"{path}: a gap from {iso_z(hi1)} to {iso_z(lo2)}")
            elif lo2 < hi1:
                problems.append(f"{path}: {iso_z(lo2)} to {iso_z(hi1)} asked twice")
    pairs = sum(max(0, len(w) - 1) for w in by_path.values())
    if problems:
        return Verdict(FAIL, "successive windows " + "; ".join(problems[:3]), shown[:12])
    if pairs == 0:
        return (
            Verdict(NOT_OBSERVED, "the client asked for no two successive published-min/max windows") if final else None
        )
    return Verdict(PASS, f"{pairs} successive windows, each starting where the last ended", shown[:12])


def _arranged_fault(name: str) -> Callable[[Situation], None]:
    """An arrangement: the client's authorizations answered with the fault scenario `name`, and a
    BatchList naming their usage points to make it call."""

    def arrange(sit: Situation) -> None:
        auths = sit.held()
        sit.set_faults(auths, [name])
        _poked(sit, sit.usage_point_uris(auths))

    return arrange


def _judge_rate_limited(sit: Situation, final: bool) -> Verdict | None:
    calls = sit.calls()
    first = next((i for i, c in enumerate(calls) if c.status == 429), None)
    if first is None:
        return Verdict(NOT_OBSERVED, "the client made no call after the BatchList") if final else None
    sit.restore_faults()  # one 429 is the situation; what follows is the client's answer to it
    after = calls[first + 1 :]
    if not after:
        return Verdict(FAIL, "the client never came back after the 429", _ev(calls[first:])) if final else None
    gap = after[0].at - calls[first].at
    shown = _ev([calls[first], *after[:3]])
    if gap + 0.05 < RATE_LIMIT_RETRY_AFTER:
        return Verdict(
            FAIL, f"came back {gap:.2f} s after a 429 whose Retry-After said {RATE_LIMIT_RETRY_AFTER:g} s", shown
        )
    return Verdict(PASS, f"waited {gap:.1f} s after the 429 (Retry-After: {RATE_LIMIT_RETRY_AFTER:g})", shown)


def _judge_server_errors(sit: Situation, final: bool) -> Verdict | None:
    calls = sit.calls()
    errors = [c for c in calls if c.status >= 500]
    if not errors:
        return Verdict(NOT_OBSERVED, "the client made no call after the BatchList") if final else None
    if len(errors) >= 2 or sit.now - errors[0].at > 10:
        sit.restore_faults()  # two 503s in a row, then the utility is back
    shown = _ev(calls)
    gaps = [b.at - a.at for a, b in zip(errors, errors[1:])]
    if len(errors) > STORM:
        return Verdict(FAIL, f"{len(errors)} calls into a utility answering 503: a retry storm", shown)
    if any(g + 0.05 < SERVER_ERROR_RETRY_AFTER for g in gaps):
        said = f"{SERVER_ERROR_RETRY_AFTER:g}"
        return Verdict(FAIL, f"retried {min(gaps):.2f} s after a 503 whose Retry-After said {said} s", shown)
    recovered = [c for c in calls if c.status == 200 and c.at > errors[-1].at]
    if recovered and len(errors) >= 2:
        waits = ", ".join(f"{g:.1f}" for g in gaps)
        return Verdict(
            PASS, f"retried {len(errors) - 1} time(s) after 503s, waiting {waits} s, then read the data", shown
        )
    if not final:
        return None
    if len(errors) == 1:
        return Verdict(FAIL, "gave up after one 503: no retry", shown)
    return Verdict(FAIL, "never read the data once the utility was back", shown)


def _arrange_expired(sit: Situation) -> None:
    auths = sit.held()
    sit.state["expired"] = sit.expire_access_tokens(auths)
    _poked(sit, sit.usage_point_uris(auths))


def _refreshed(calls: list[Seen]) -> tuple[Seen | None, Seen | None, list[Seen]]:
    """(the first 401 token_expired, the first 200 after it or alone, the 401s) of the calls."""
    expired = [c for c in calls if c.status == 401]
    first = expired[0] if expired else None
    ok = next((c for c in calls if c.status == 200 and (first is None or c.at > first.at)), None)
    return first, ok, expired


def _judge_expired(sit: Situation, final: bool) -> Verdict | None:
    calls = sit.calls()
    first, ok, expired = _refreshed(calls)
    if len(expired) > 3:
        return Verdict(FAIL, f"{len(expired)} calls with an expired access token, none refreshed", _ev(calls))
    if ok is not None:
        how = "refreshed after the 401 and called again" if first else "refreshed before calling"
        return Verdict(PASS, f"its access token expired early; it {how}", _ev(calls))
    if not final:
        return None
    if first is None:
        return Verdict(NOT_OBSERVED, "the client made no call after the BatchList")
    return Verdict(FAIL, "got 401 token_expired and never read the data with a refreshed token", _ev(calls))


def _arrange_rotated(sit: Situation) -> None:
    if not sit.behaviour.refresh_rotation:
        raise NotArranged("the utility's profile does not rotate refresh tokens for this client")
    _arrange_expired(sit)
    sit.state["round"] = 1


def _judge_rotated(sit: Situation, final: bool) -> Verdict | None:
    """Two expiries one after the other: the second refresh must present the token the first returned."""
    calls = sit.calls()
    first, ok, expired = _refreshed(calls)
    if len(expired) > 3:
        return Verdict(FAIL, f"{len(expired)} calls with an expired access token after a refresh", _ev(calls))
    if sit.state["round"] == 1:
        if ok is not None:  # the first refresh is done: expire again, and the client must use the new refresh token
            auths = [a for a in sit.authorizations() if a.id in set(sit.state["authorizations"])]
            sit.state.update(at=sit.now, round=2, first=[c.evidence() for c in calls[:6]])
            sit.state["expired"] = sit.expire_access_tokens(auths)
            sit.notify(sit.usage_point_uris(auths))
            return None
        if not final:
            return None
        return Verdict(NOT_OBSERVED if first is None else FAIL, "no first refresh was seen", _ev(calls))
    shown = sit.state.get("first", []) + _ev(calls)
    if ok is not None:
        return Verdict(PASS, "refreshed twice in a row: the rotated refresh token was kept and used", shown)
    if not final:
        return None
    if first is None:
        return Verdict(NOT_OBSERVED, "the client made no call after the second BatchList", shown)
    return Verdict(
        FAIL, "after its first refresh it could not refresh again: the rotated refresh token was not kept", shown
    )


ASYNC_PROFILE = "async-batch"


def _arrange_async(sit: Situation) -> None:
    auths = sit.held()
    if ASYNC_PROFILE not in sit.world.profiles:
        raise NotArranged(f"this world has no {ASYNC_PROFILE} behaviour profile (seed_data/profiles)")
    sit.state.setdefault("profile", sit.app.profile)  # the application's own, kept once
    sit.app.profile = ASYNC_PROFILE
    uris = [urls.href(sit.root, "BatchSubscription", subscription_id=a.subscription_uuid) for a in auths]
    _poked(sit, uris)


def _judge_async(sit: Situation, final: bool) -> Verdict | None:
    calls = sit.calls()
    subscription = {urlsplit(u).path for u in sit.state["uris"]}
    accepted = [c for c in calls if c.status == 202]
    if not accepted:
        return Verdict(NOT_OBSERVED, "the client did not ask for the batch") if final else None
    polls = [c for c in calls if c.bare in subscription and c.at > accepted[0].at]
    wait = sit.world.profiles[ASYNC_PROFILE].batch_retry_after  # the 202's Retry-After
    early = [c for c in polls if c.at - accepted[0].at + 0.05 < wait]
    if early or len(polls) > STORM:
        first = polls[0].at - accepted[0].at
        return Verdict(
            FAIL, f"asked for the batch again {len(polls)} time(s), the first {first:.2f} s after the 202", _ev(calls)
        )
    read = [c for c in calls if c.status == 200 and c.at > accepted[0].at and "/UsagePoint/" in c.bare]
    if read:
        return Verdict(PASS, "waited for the BatchList (or Retry-After) after the 202, then read the data", _ev(calls))
    if not final:
        return None
    return Verdict(FAIL, "never read the data after the 202", _ev(calls))


def _undo_async(sit: Situation) -> None:
    if "profile" in sit.state:
        sit.app.profile = sit.state.pop("profile")


TRUTH_DAYS = 7  # the published days a client reports on
KWH_TOLERANCE = Decimal("0.001")  # a day's quantity, in kWh (therms...): rounding, never an hour's reading
COST_TOLERANCE = Decimal("0.01")


def _truth(sit: Situation, auth: Authorization) -> list[dict]:
    """What the client can compute from its authorization: per usage point it may read, per local day
    of the last TRUTH_DAYS published, the quantity delivered and received (kWh, therms, m3, gal: the
    powerOfTenMultiplier applied) and the cost (delivered, less credits for received)."""
    content = content_of(auth.scope)  # what the client's feeds hold
    customer = auth.customer
    assert customer is not None  # held(): a customer's authorizations
    out = []
    for up in auth.usage_points:
        charted = summaries.streams_charted(sit.world, sit.utility, up)
        if charted is None or not content.serves(charted[0].commodity, charted[0].flow, charted[0].interval):
            continue
        received = charted[1] is not None and content.serves(charted[1].commodity, charted[1].flow, charted[1].interval)
        # a day's cost sums both flows: compared when the client sees both, with their costs
        costed = content.interval_cost and (received or charted[1] is None)
        h = readings.usage_point_history(sit.world, sit.utility, sit.clock, customer, up)
        usage = summaries.recent_usage(sit.world, sit.utility, up, h, days=TRUTH_DAYS)
        days = [
            {
                "date": d.day.isoformat(),
                "delivered": str(summaries.quantity(d.delivered, usage.delivered)),
                "received": str(summaries.quantity(d.received, usage.received))
                if received and d.received is not None and usage.received is not None
                else None,
                "cost": str(summaries.money(d.cost)) if costed else None,
            }
            for d in usage.days
        ]
        out.append(
            {
                "usage_point": up.uuid,
                "commodity": up.commodity,
                "unit": summaries.unit_label(usage.delivered),
                "days": days,
            }
        )
    return out


def _arrange_truth(sit: Situation) -> None:
    auth = sit.held()[0]
    truth = [t for t in _truth(sit, auth) if t["days"]]
    if not truth:
        raise NotArranged("the client's authorization shares no usage point with readings to report on")
    sit.state["truth"] = truth
    sit.state["asks"] = {
        "usage_points": [t["usage_point"] for t in truth],
        "first_day": truth[0]["days"][0]["date"],
        "last_day": truth[0]["days"][-1]["date"],
        "report": "per usage point and local day: delivered and received (kWh, therms...), cost (delivered less credits)",
    }
    _poked(
        sit,
        [u for u in sit.usage_point_uris([auth]) if u.rsplit("/", 1)[1] in sit.state["asks"]["usage_points"]],
    )


def _differences(truth: list[dict], answers: dict) -> list[str]:
    given = {
        a.get("usage_point"): {d.get("date"): d for d in a.get("days", [])} for a in answers.get("usage_points", [])
    }
    out = []
    for t in truth:
        days = given.get(t["usage_point"])
        if days is None:
            out.append(f"usage point {t['usage_point']} ({t['commodity']}): not reported")
            continue
        for want in t["days"]:
            got = days.get(want["date"])
            if got is None:
                out.append(f"{t['commodity']} {want['date']}: not reported")
                continue
            for key, tolerance in (("delivered", KWH_TOLERANCE), ("received", KWH_TOLERANCE), ("cost", COST_TOLERANCE)):
                if want[key] is None:
                    continue
                try:
                    wrong = got.get(key) is None or abs(Decimal(str(got[key])) - Decimal(want[key])) > tolerance
                except ArithmeticError:
                    wrong = True
                if wrong:
                    unit = "" if key == "cost" else f" {t['unit']}"
                    out.append(
                        f"{t['commodity']} {want['date']} {key}: reported {got.get(key)}, the truth is {want[key]}{unit}"
                    )
    return out


def _judge_truth(sit: Situation, final: bool) -> Verdict | None:
    answers = sit.answers or {}
    if answers.get("_at", 0) < sit.state["at"]:  # none, or reported before the check asked
        return Verdict(NOT_OBSERVED, "the client reported nothing (POST .../answers)") if final else None
    wrong = _differences(sit.state["truth"], answers)
    at = _iso(answers["_at"])
    if wrong and not final:
        return None  # a later report replaces this one
    if wrong:
        shown = [{"at": at, "call": "answers", "status": w} for w in wrong[:12]]
        return Verdict(FAIL, f"{len(wrong)} reported value(s) differ from the truth: {wrong[0]}", shown)
    n = sum(len(t["days"]) for t in sit.state["truth"])
    return Verdict(PASS, f"the {n} day(s) reported match the truth", [{"at": at, "call": "answers", "status": "match"}])


ENDINGS = ("revocation", "expiry", "move-out")  # how a run ends the client's access (its `ending`)


def _arrange_revoked(sit: Situation) -> None:
    """Every authorization of the client ended, as the run asked: revoked by the customer, expired
    now (its period run out early, as the control API's expire does), or ended by the customer's
    move-out as the third party meets it (its tokens refused with customer_moved_out; the customer's
    account and other third parties' access stay as they were)."""
    auths = sit.held()
    now = sit.clock.naive_now()
    for a in auths:
        if sit.state.get("ending") == "expiry":
            authorizations.expire(sit.s, a, now)
        elif sit.state.get("ending") == "move-out":
            authorizations.cut_short(a, now, authorizations.MOVED_OUT)
        else:
            authorizations.end(sit.s, a, now, authorizations.REVOKED_BY_CUSTOMER)
    uris = [urls.href(sit.root, "Authorization", authorization_id=a.uuid) for a in auths]
    uris += [urls.href(sit.root, "BatchSubscription", subscription_id=a.subscription_uuid) for a in auths]
    _poked(sit, uris)


def _judge_revoked(sit: Situation, final: bool) -> Verdict | None:
    calls = sit.calls()
    ending = sit.state.get("ending", ENDINGS[0])
    data = [c for c in calls if "/Authorization/" not in c.bare]
    if len(data) > 3:
        return Verdict(
            FAIL, f"{len(data)} calls for data after its access ended ({ending}): it did not stop", _ev(calls)
        )
    if not final:
        return None
    if not calls:
        return Verdict(NOT_OBSERVED, f"the client made no call after the BatchList that followed the {ending}")
    return Verdict(PASS, f"{len(calls)} call(s) after its access ended ({ending}), then it stopped", _ev(calls))


@dataclass(frozen=True)
class Check:
    name: str
    arranges: str
    passes: str
    why: str
    arrange: Callable[[Situation], None]
    judge: Callable[[Situation, bool], Verdict | None]
    window: float  # real seconds it watches once arranged (and waits to be arranged)
    undo: Callable[[Situation], None] = lambda sit: sit.restore_faults()

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "arranges": self.arranges,
            "passes": self.passes,
            "why": self.why,
            "window": self.window,
        }


CHECKS: tuple[Check, ...] = (
    Check(
        "pkce-s256",
        "nothing: a customer consents to the client in the browser, in the hour before the run or during it",
        "every authorization request carries state and a PKCE code_challenge with method S256",
        "a code without PKCE can be stolen and exchanged by anyone who holds the client's secret or none; "
        "several utilities require S256",
        _arrange_pkce,
        _judge_pkce,
        30,
    ),
    Check(
        "batch-list-read",
        "a BatchList naming each usage point of the client's authorizations, POSTed to its notification URI",
        "the POST is answered 2xx and exactly the URIs it named are read (200) within the window",
        "ESPI moves third parties by notification; a client that answers 2xx and reads nothing loses every update",
        _arrange_batch_list,
        _judge_batch_list,
        20,
    ),
    Check(
        "windows-continuous",
        "two BatchLists for the last two published days, each with its published-min/max window",
        "successive windows asked of one resource leave no gap and no overlap",
        "clients that compute their own windows from 'now' lose or double an hour at every run, and every DST change",
        _arrange_windows,
        _judge_windows,
        15,
    ),
    Check(
        "retry-after-429",
        "the client's calls answered 429 Too Many Requests with Retry-After: 1, and a BatchList to make it call",
        "after the first 429 its next call comes no sooner than Retry-After",
        "utilities throttle third parties; one that retries at once stays throttled, and some get blocked",
        _arranged_fault(faults.RATE_LIMITED),
        _judge_rate_limited,
        15,
    ),
    Check(
        "server-errors-backoff",
        "its calls answered 503 with Retry-After: 2 until two came, then the utility back; a BatchList",
        "it retries after at least Retry-After, meets no more than six 503s, and reads the data once the utility is back",
        "utility platforms have maintenance windows and bad days; a client must neither give up nor hammer",
        _arranged_fault(faults.SERVER_ERROR),
        _judge_server_errors,
        30,
    ),
    Check(
        "expired-token-refreshed",
        "the client's access tokens ended early (before expires_in said), and a BatchList",
        "after a 401 token_expired it refreshes and reads the data (or refreshed before calling)",
        "utilities end tokens early (restarts, key rotation); expires_in is a promise no one keeps",
        _arrange_expired,
        _judge_expired,
        20,
    ),
    Check(
        "rotated-refresh-kept",
        "two early expiries one after the other, each with a BatchList",
        "both refreshes succeed: the refresh token the first one returned is the one the second presents",
        "with rotation a refresh token works once; a client that keeps the old one loses access at the next refresh",
        _arrange_rotated,
        _judge_rotated,
        25,
    ),
    Check(
        "async-batch-waited",
        "the client answered as an asynchronous platform does (202 Accepted, Retry-After: 3, then a BatchList)",
        "after a 202 it asks again no sooner than Retry-After, and then reads a usage point's data (200)",
        "large platforms assemble batches in the background; a client that polls a 202 in a loop is throttled",
        _arrange_async,
        _judge_async,
        20,
        _undo_async,
    ),
    Check(
        "ground-truth",
        "a BatchList for the usage points of one authorization; the run asks (its `asks`) for each one's last seven published days",
        "the values the client POSTs to the run's answers match the truth: each day's quantity delivered and received, and its cost",
        "DST days, a powerOfTenMultiplier other than 0, estimated readings and late revisions make sums that look right and are not",
        _arrange_truth,
        _judge_truth,
        60,
    ),
    Check(
        "stops-when-access-ends",
        "every authorization of the client ends, revoked by the customer, expired, or cut by a move-out "
        "(the run's `ending`); "
        "a BatchList names them",
        "at most three calls for data after access ended, then none (reading its Authorization is not counted; "
        "at least one call shows it looked)",
        "calls after access ends are calls for data no one may give; utilities audit and block them",
        _arrange_revoked,
        _judge_revoked,
        10,
    ),
)
BY_NAME = {c.name: c for c in CHECKS}


def document() -> str:
    """The checks as a Markdown table, for docs/conformance.md (a test keeps the two the same)."""
    rows = [
        "| check | what the sandbox arranges | what passes | why real utilities make it matter | window |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [f"| `{c.name}` | {c.arranges} | {c.passes} | {c.why} | {c.window:g} s |" for c in CHECKS]
    return "\n".join(rows)
