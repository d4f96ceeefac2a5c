"""Fault scenarios on the wire (services.faults names them): a call's answer replaced, delayed, cut
or dropped, or its document rewritten (espi.faulty). Every faulty answer says which faults made it
in `X-Sandbox-Fault-Applied`, so a client's logs show that the sandbox did it on purpose."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time

from flask import Response, current_app

from sandbox.core.errors import TokenRefused, describe
from sandbox.services import faults as catalogue
from sandbox.services.access import Presented
from sandbox.services.faults import Fault
from sandbox.web.call import Call
from sandbox.web.errors import refusal, token_refused

HEADER = "X-Sandbox-Fault"
APPLIED = "X-Sandbox-Fault-Applied"
_ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")  # the header as WSGI names it


def of_call(p: Presented, environ: dict) -> tuple[Fault, ...]:
    """The call's faults: its request's header (if allowed), its application's and its authorization's.
    Nothing is parsed when none is set (a call without faults costs two tuple checks)."""
    header = environ.get(_ENVIRON_KEY)
    if header is not None and not current_app.extensions["sandbox"].config["FAULT_HEADER"]:
        header = None
    app_faults = p.application.faults
    auth_faults = p.authorization.faults if p.authorization is not None else ()
    if not (header or app_faults or auth_faults):
        return ()
    return catalogue.of_header(header) + catalogue.stored(app_faults) + catalogue.stored(auth_faults)


def before(call: Call) -> Response | None:
    """An answer that replaces the view's (or None), after any delay asked for."""
    plan = catalogue.plan(call.faults)  # what the fault table's rows do, in the order they are done
    if plan.delay is not None:
        busy = _delay(plan.delay)
        if busy is not None:
            return busy
    if plan.drop:
        return _dropped(call.request.environ)
    found = plan.refusal
    if isinstance(found, TokenRefused):
        return token_refused(found, call.utility.name)
    if found is not None:
        return refusal(*describe(found), {"Retry-After": str(found.retry_after)} if found.retry_after else None)
    return None


def slow_gate(cfg: dict) -> threading.BoundedSemaphore:
    """How many calls of one process the `slow` fault may hold at once: SLOW_FAULT_CALLS, else half the
    request threads (so that sleeping calls never take every thread and /healthz still answers)."""
    return threading.BoundedSemaphore(cfg.get("SLOW_FAULT_CALLS") or max(1, int(cfg["THREADS"]) // 2))


def _delay(seconds: float) -> Response | None:
    """Sleep for the `slow` fault, at most SLOW_FAULT_MAX seconds; when the process already delays as
    many calls as it may, a 503 with Retry-After instead (never a thread more)."""
    seconds = min(seconds, float(current_app.extensions["sandbox"].config["SLOW_FAULT_MAX"]))
    gate: threading.BoundedSemaphore = current_app.extensions["slow_calls"]
    if not gate.acquire(blocking=False):
        return refusal(
            503,
            "temporarily_unavailable",
            "the slow fault scenario already delays as many calls as this "
            "server lets it at once (SANDBOX_SLOW_FAULT_CALLS): try again shortly",
            "fault:slow-busy",
            {"Retry-After": str(max(1, math.ceil(seconds)))},
        )
    try:
        time.sleep(seconds)
    finally:
        gate.release()
    return None


def after(call: Call, resp: Response) -> Response:
    if catalogue.plan(call.faults).truncate:
        data = resp.get_data()
        cut = Response(data[: len(data) // 2], resp.status_code, headers=dict(resp.headers))
        cut.headers["Content-Length"] = str(len(data))  # more than is sent: the client sees a short read
        return cut
    return resp


def _dropped(environ: dict) -> Response:
    """The connection closed with no whole answer: under Waitress a TCP reset with no answer at all;
    elsewhere (granian, run.py's default, sends the status line before it reads a body that its
    request threads make) an answer that announces a byte and closes without it."""
    channel = getattr(environ.get("waitress.client_disconnected"), "__self__", None)
    sock = getattr(channel, "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    resp = Response(b"", 200)
    resp.headers["Content-Length"] = "1"
    return resp
