"""The control API's conformance runs (services.conformance): start one for a client, read it as
JSON, or as a page a phone reads. A run's id is its capability: the report is open to whoever holds
the URL (a CI log, a teammate), as the run's own calls are the client's, not the utility's secrets."""

from __future__ import annotations

from flask import Response, jsonify, render_template, url_for

from sandbox.core.errors import Conflict, ControlError, NotFound, Refused
from sandbox.services.conformance import runs
from sandbox.services.conformance.checks import CHECKS
from sandbox.web.context import notifier, sandbox
from sandbox.web.control import views


def _run_url(run_id: str) -> str:
    return url_for("control.control_get_conformance_run", run_id=run_id, _external=True)


def _report_url(run_id: str) -> str:
    return _run_url(run_id) + "/report"


def list_checks(call: views.Call) -> Response:
    return jsonify(checks=[c.as_json() for c in CHECKS])


def start(call: views.Call) -> tuple[Response, int]:
    sb = sandbox()
    _, utility_id = views._utility(call.body["utility"])
    try:
        run = runs.start(
            sb.db,
            utility_id,
            call.body["client_id"],
            call.body.get("checks"),
            **{k: call.body[k] for k in ("timeout", "ending") if k in call.body},  # else the run's defaults
        )
    except Refused as exc:
        raise ControlError(400, "invalid_request", str(exc), exc.field) from None
    except NotFound as exc:
        raise ControlError(404, "not_found", str(exc), "client_id") from None
    except Conflict as exc:
        raise ControlError(409, "conflict", str(exc), "client_id") from None
    notifier().wake()  # its first check arranged now, not at the worker's next look
    return jsonify(runs.report(run, _report_url(run.id))), 201


def _run(run_id: str):
    try:
        return runs.get(sandbox().db, run_id)
    except NotFound:
        raise ControlError(404, "not_found", f"no conformance run {run_id!r}", "run_id") from None


def read(call: views.Call, run_id: str) -> Response:
    return jsonify(runs.report(_run(run_id), _report_url(run_id)))


def page(call: views.Call, run_id: str) -> str:
    report = runs.report(_run(run_id), _report_url(run_id))
    return render_template("control/conformance.html", report=report, json_url=_run_url(run_id))


def answers(call: views.Call, run_id: str) -> Response:
    """What the client computed, for the ground-truth check: kept until the check compares it."""
    try:
        run = runs.answer(sandbox().db, run_id, call.body)
    except NotFound:
        raise ControlError(404, "not_found", f"no conformance run {run_id!r}", "run_id") from None
    except Conflict as exc:
        raise ControlError(409, "conflict", str(exc), "run_id") from None
    return jsonify(runs.report(run, _report_url(run_id)))
