"""A conformance run's life: started for one client at one utility, stepped by the notification
worker of every process serving the world (a conditional UPDATE of its `step` lets one process move
it at a time), and reported. Its checks go one after another (two at once would blur whose calls
answer which situation); the run ends when the last is judged or its timeout comes, the checks not
reached then being not_observed.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from sandbox.core.clock import Clock, iso_z
from sandbox.core.db import Database
from sandbox.core.errors import Conflict, NotArranged, NotFound, Refused
from sandbox.core.models import Application, ConformanceRun, RequestRecord, Utility
from sandbox.espi import urls
from sandbox.services.conformance.checks import (
    BY_NAME,
    CHECKS,
    ENDINGS,
    FAIL,
    NOT_OBSERVED,
    PASS,
    Check,
    Seen,
    Situation,
    Verdict,
)
from sandbox.services.request_log import Writer
from sandbox.synth.world import WorldDef

RUNNING, PASSED, FAILED, INCOMPLETE = "running", "passed", "failed", "incomplete"
DEFAULT_TIMEOUT, MIN_TIMEOUT, MAX_TIMEOUT = 240, 10, 1800  # seconds
SETTLE = Writer.INTERVAL + 0.3  # seconds until every process has written the calls it answered
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Where:
    """What stepping a world's runs needs beyond its database: the world, its clock, the URL its
    clients reach it at, and a way to have this process's request log written now."""

    db: Database
    world: WorldDef
    clock: Clock
    base_url: str
    flush: Callable[[], None]


def start(
    db: Database,
    utility_id: int,
    client_id: str,
    names: list[str] | None,
    timeout: float = DEFAULT_TIMEOUT,
    now: float | None = None,
    ending: str = ENDINGS[0],
) -> ConformanceRun:
    """A new run of `names` (every check if None, in the table's order) for the client, its access ended
    at the last by `ending`; Refused naming a bad field, NotFound for an unknown client, Conflict while
    the client has a run going."""
    if names is not None and not names:
        raise Refused("checks: name at least one check, or leave checks out for all of them", "checks")
    unknown = [n for n in names or () if n not in BY_NAME]
    if unknown:
        raise Refused(f"checks: no check {unknown[0]!r}; GET /sandbox-api/conformance/checks lists them", "checks")
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise Refused(f"timeout: between {MIN_TIMEOUT} and {MAX_TIMEOUT} seconds", "timeout")
    if ending not in ENDINGS:
        raise Refused(f"ending: one of {', '.join(ENDINGS)}", "ending")
    chosen = [c.name for c in CHECKS if names is None or c.name in names]
    now = time.time() if now is None else now
    try:
        run = _started(db, utility_id, client_id, chosen, timeout, now, ending)
    except IntegrityError:  # another request started one at the same moment (one running run an application)
        raise Conflict(f"client_id: {client_id} has a conformance run going; wait for it to end") from None
    if db.on_notifications is not None:  # a private sandbox: the deployment's worker steps it from now on
        db.on_notifications()
    return run


def _started(
    db: Database, utility_id: int, client_id: str, chosen: list[str], timeout: float, now: float, ending: str
) -> ConformanceRun:
    with db.transaction() as s:
        app = s.scalar(
            select(Application).where(Application.utility_id == utility_id, Application.client_id == client_id)
        )
        if app is None:
            raise NotFound(f"client_id: no application {client_id!r} at this utility")
        going = s.scalar(
            select(ConformanceRun.id).where(ConformanceRun.application_id == app.id, ConformanceRun.status == RUNNING)
        )
        if going is not None:
            raise Conflict(f"client_id: {client_id} has a conformance run going ({going}); wait for it to end")
        run = ConformanceRun(
            id=str(uuid.uuid4()),
            utility_id=utility_id,
            application_id=app.id,
            status=RUNNING,
            started=now,
            deadline=now + timeout,
            current=0,
            checks=[{"name": n, "status": "waiting", "state": {"ending": ending}} for n in chosen],
            step=0,
        )
        s.add(run)
        run.application = app  # loaded: the caller reports it after the session
    return run


def of_application(db: Database, application_id: int, limit: int = 5) -> list[dict]:
    """The application's latest runs, newest first: id, status and start (ISO 8601)."""
    with db.sessions() as s:
        found = s.execute(
            select(ConformanceRun.id, ConformanceRun.status, ConformanceRun.started)
            .where(ConformanceRun.application_id == application_id)
            .order_by(ConformanceRun.started.desc())
            .limit(limit)
        )
        return [{"id": i, "status": status, "started_at": _iso(started)} for i, status, started in found]


def _iso(t: float | None) -> str | None:
    """A run's time (epoch seconds) as the API writes it."""
    return None if t is None else iso_z(_utc(round(t)))


def going(db: Database) -> bool:
    """Has the world a run going (its worker must go on stepping it)?"""
    with db.sessions() as s:
        return s.scalar(select(ConformanceRun.id).where(ConformanceRun.status == RUNNING).limit(1)) is not None


def answer(db: Database, run_id: str, answers: dict) -> ConformanceRun:
    """Keep what the client reports it computed (the ground-truth check compares it); a later report
    replaces an earlier one. Conflict once the run has ended."""
    with db.transaction() as s:
        run = s.get(ConformanceRun, run_id)
        if run is None:
            raise NotFound(f"no conformance run {run_id}")
        if run.status != RUNNING:
            raise Conflict(f"run_id: the run has ended ({run.status}); start another")
        run.answers = {
            **answers,
            "_at": time.time(),
        }  # when: the ground-truth check reads only what came after it asked
        _ = run.application
        return run


def get(db: Database, run_id: str) -> ConformanceRun:
    with db.sessions() as s:
        run = s.get(ConformanceRun, run_id)
        if run is None:
            raise NotFound(f"no conformance run {run_id}")
        _ = run.application
        return run


def step(where: Where, now: float | None = None) -> int:
    """Move every running run of the world one step; how many were moved (by this process)."""
    now = time.time() if now is None else now
    with where.db.sessions() as s:
        going = list(s.execute(select(ConformanceRun.id, ConformanceRun.step).where(ConformanceRun.status == RUNNING)))
    if not going:
        return 0
    where.flush()
    return sum(_advance(where, run_id, seen, now) for run_id, seen in going)


def _advance(where: Where, run_id: str, seen: int, now: float) -> bool:
    with where.db.transaction() as s:
        claimed = s.execute(
            update(ConformanceRun)
            .where(ConformanceRun.id == run_id, ConformanceRun.step == seen, ConformanceRun.status == RUNNING)
            .values(step=seen + 1)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return False  # another process moved it
        run = s.get(ConformanceRun, run_id)
        assert run is not None
        checks = copy.deepcopy(run.checks)
        slug = s.scalar(select(Utility.slug).where(Utility.id == run.utility_id))
        utility = where.world.utility(slug or "")
        behaviour = where.world.profile_for(utility, run.application.profile).behaviour
        base = urlsplit(where.base_url).path.rstrip("/")  # a private sandbox's /s/{id}, a PUBLIC_URL's path

        def log(since: float) -> list[Seen]:
            q = (
                select(
                    RequestRecord.answered,
                    RequestRecord.method,
                    RequestRecord.path,
                    RequestRecord.status,
                    RequestRecord.reason,
                )
                .where(RequestRecord.application_id == run.application_id, RequestRecord.answered >= since)
                .order_by(RequestRecord.answered, RequestRecord.id)
            )
            with where.db.log_engine.connect() as c:  # the log keeps paths below the sandbox's own base
                return [
                    Seen(at, method, base + path, status, reason) for at, method, path, status, reason in c.execute(q)
                ]

        while run.current < len(checks):
            c = checks[run.current]
            check = BY_NAME[c["name"]]
            sit = Situation(
                s,
                run.application,
                urls.resource_root(where.base_url, utility.slug),
                where.world,
                utility,
                behaviour,
                where.clock,
                now,
                c.setdefault("state", {}),
                log,
                run.answers,
            )
            if now >= run.deadline:
                check.undo(sit)  # whatever it set up, watching or half arranged
                _judged(c, NOT_OBSERVED, "the run's timeout came first", [])
                run.current += 1
                continue
            verdict: Verdict | None
            try:
                with s.begin_nested():  # a check that fails is judged, and the run goes on
                    verdict = _move(check, c, sit, now)
            except NotArranged as why:
                c.setdefault("waiting_since", now)
                if now - c["waiting_since"] < check.window:
                    break
                check.undo(sit)
                verdict = Verdict(NOT_OBSERVED, str(why))
            except Exception as exc:  # noqa: BLE001  (one check's trouble stops neither the run nor the worker)
                logger.exception("conformance run %s: %s", run.id, check.name)
                with s.begin_nested():
                    check.undo(sit)
                verdict = Verdict(
                    NOT_OBSERVED, f"the sandbox could not go on with this check ({type(exc).__name__}: {exc})"
                )
            if verdict is None:
                break
            _judged(c, verdict.verdict, verdict.summary, verdict.evidence)
            run.current += 1
        if run.current >= len(checks):
            verdicts = {c["verdict"] for c in checks}
            run.status = FAILED if FAIL in verdicts else PASSED if verdicts <= {PASS} else INCOMPLETE
            run.ended = now
        run.checks = checks
    return True


def _move(check: Check, c: dict, sit: Situation, now: float) -> Verdict | None:
    """One step of a check: arranged if it waits (NotArranged when it cannot be yet), then judged (None
    while it watches), undone once judged. Its window ends a batch of the request log later, so that the
    calls other processes answered at its end are written when it is judged."""
    if c["status"] == "waiting":
        sit.state["at"] = now
        check.arrange(sit)
        c["status"], c["started"] = "watching", now
    verdict = check.judge(sit, now - sit.state["at"] >= check.window + SETTLE)
    if verdict is not None:
        check.undo(sit)
    return verdict


def _judged(c: dict, verdict: str, summary: str, evidence: list[dict]) -> None:
    c.update(status="done", verdict=verdict, summary=summary, evidence=evidence)


def report(run: ConformanceRun, report_url: str) -> dict:
    """The run as the API gives it (the checks' inner state left out)."""

    return {
        "id": run.id,
        "status": run.status,
        "client_id": run.application.client_id,
        "started_at": _iso(run.started),
        "deadline": _iso(run.deadline),
        "ended_at": _iso(run.ended),
        "report_url": report_url,
        "checks": [
            {
                "name": c["name"],
                "status": c["status"],
                "verdict": c.get("verdict"),
                "summary": c.get("summary"),
                "evidence": c.get("evidence", []),
                **({"asks": c["state"]["asks"]} if "asks" in c.get("state", {}) else {}),
                **{k: v for k, v in BY_NAME[c["name"]].as_json().items() if k in ("arranges", "passes", "why")},
            }
            for c in run.checks
        ],
    }


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)
