"""Fault scenarios on the wire (services.faults names them): a call's answer replaced, delayed, cut
or dropped, or its document rewritten (espi.faulty). Every faulty answer says which faults made it
in `X-Sandbox-Fault-Applied`, so a client's logs show that the sandbox did it on purpose."""
from __future__ import annotations

import math
import socket
import struct
import threading
import time

from flask import Response, current_app, g, request

from sandbox.core.errors import TokenRefused
from sandbox.espi import faulty
from sandbox.services import faults as catalogue
from sandbox.services.access import Presented
from sandbox.services.faults import DOCUMENT, Fault

HEADER = "X-Sandbox-Fault"
APPLIED = "X-Sandbox-Fault-Applied"
_ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")  # the header as WSGI names it


def of_call(p: Presented) -> tuple[Fault, ...]:
    """The call's faults: its request's header (if allowed), its application's and its authorization's.
    Nothing is parsed when none is set (a call without faults costs two tuple checks)."""
    header = request.environ.get(_ENVIRON_KEY)
    if header is not None and not current_app.extensions["sandbox"].config["FAULT_HEADER"]:
        header = None
    app_faults = p.application.faults
    auth_faults = p.authorization.faults if p.authorization is not None else ()
    if not (header or app_faults or auth_faults):
        return ()
    return catalogue.of_header(header) + catalogue.stored(app_faults) + catalogue.stored(auth_faults)


def before(found: tuple[Fault, ...]) -> Response | None:
    """An answer that replaces the view's (or None), after any delay asked for."""
    from sandbox.web.espi_http import refusal, token_refused

    g.faults_applied = ", ".join(str(f) for f in found)
    g.document_faults = [(f.scenario.name, f.argument) for f in found if f.scenario.kind == DOCUMENT]
    names = {f.scenario.name: f for f in found}
    if "slow" in names:
        busy = _delay(float(names["slow"].argument or 2))
        if busy is not None:
            return busy
    if "connection-reset" in names:
        return _dropped()
    if "server-error" in names:
        status = int(names["server-error"].argument or 503)
        return refusal(status, "server_error" if status == 500 else "temporarily_unavailable",
                       "the utility's server failed (a fault scenario asked for)", "fault:server-error",
                       {"Retry-After": "2"})
    if "rate-limited" in names:
        return refusal(429, "too_many_requests", "too many requests: wait, then try again (a fault scenario)",
                       "fault:rate-limited", {"Retry-After": "1"})
    if "token-expired-early" in names:
        return token_refused(TokenRefused(401, "invalid_token", "this access token has expired; refresh it",
                                          "token_expired"))
    return None


def slow_gate(cfg: dict) -> threading.BoundedSemaphore:
    """How many calls of one process the `slow` fault may hold at once: SLOW_FAULT_CALLS, else half the
    request threads (so that sleeping calls never take every thread and /healthz still answers)."""
    return threading.BoundedSemaphore(cfg.get("SLOW_FAULT_CALLS") or max(1, int(cfg["THREADS"]) // 2))


def _delay(seconds: float) -> Response | None:
    """Sleep for the `slow` fault, at most SLOW_FAULT_MAX seconds; when the process already delays as
    many calls as it may, a 503 with Retry-After instead (never a thread more)."""
    from sandbox.web.espi_http import refusal

    seconds = min(seconds, float(current_app.extensions["sandbox"].config["SLOW_FAULT_MAX"]))
    gate: threading.BoundedSemaphore = current_app.extensions["slow_calls"]
    if not gate.acquire(blocking=False):
        return refusal(503, "temporarily_unavailable", "the slow fault scenario already delays as many calls as this "
                       "server lets it at once (SANDBOX_SLOW_FAULT_CALLS): try again shortly", "fault:slow-busy",
                       {"Retry-After": str(max(1, math.ceil(seconds)))})
    try:
        time.sleep(seconds)
    finally:
        gate.release()
    return None


def after(found: tuple[Fault, ...], resp: Response) -> Response:
    if any(f.scenario.name == "truncated-body" for f in found):
        data = resp.get_data()
        cut = Response(data[: len(data) // 2], resp.status_code, headers=dict(resp.headers))
        cut.headers["Content-Length"] = str(len(data))  # more than is sent: the client sees a short read
        return cut
    return resp


def rewrite(document: bytes) -> bytes:
    """The call's document with its document faults applied (the caller checked there are some)."""
    return faulty.rewrite(document, g.document_faults)


def _dropped() -> Response:
    """The connection closed with no answer: under run.py's server (Waitress) a TCP reset; elsewhere
    an answer that announces a byte and sends none."""
    channel = getattr(request.environ.get("waitress.client_disconnected"), "__self__", None)
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
