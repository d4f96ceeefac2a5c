"""Requests and resets of the world kept apart: a reset drops and makes again every table.

In this process, a reset waits for the requests under way (at most RESET_DRAIN seconds) and the
requests that arrive meanwhile wait for it to end (at most RESET_WAIT seconds, then a 503 with
Retry-After). Another process cannot see this process's reset coming, so a database error that only
a rebuild causes (a table gone, a lock the rebuild holds) is answered the same way, never as a 500.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import Flask, Response, current_app, json, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import InternalServerError

from sandbox.web.errors import error_page, under_apis

RESET_WAIT = 15.0  # seconds a request waits for a reset under way (one takes about a second)
RESET_DRAIN = 10.0  # seconds a reset waits for the requests under way before it goes ahead
# what a database says of a table dropped under a query: SQLite, and PostgreSQL's SQLSTATEs
# (undefined_table, lock_not_available, deadlock_detected, object_in_use)
_SQLITE_REBUILD_WORDS = ("no such table", "database schema has changed")
_PG_REBUILD_CODES = {"42P01", "55P03", "40P01", "55006"}


class ResetGate:
    """Many requests at once, or one reset alone (a readers-writer lock that never waits forever)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._resetting = False

    def enter(self, wait: float = RESET_WAIT) -> bool:
        """Count a request in; False if a reset was still under way after `wait` seconds."""
        with self._cond:
            if self._resetting and not self._cond.wait_for(lambda: not self._resetting, timeout=wait):
                return False
            self._active += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._resetting:  # only a reset waits for the requests under way to end
                self._cond.notify_all()

    @contextmanager
    def exclusive(self, own: int = 0, drain: float = RESET_DRAIN) -> Iterator[None]:
        """Held while resetting; `own` is how many of the requests counted in are the caller's."""
        with self._cond:
            self._cond.wait_for(lambda: not self._resetting)
            self._resetting = True
            self._cond.wait_for(lambda: self._active <= own, timeout=drain)
        try:
            yield
        finally:
            with self._cond:
                self._resetting = False
                self._cond.notify_all()


_ENTERED = "sandbox.reset_gate_entered"  # in the WSGI environ: the request is counted in this process's gate


def enter(app: Flask, environ: dict) -> bool:
    """Count a request in (False: a reset was still under way after RESET_WAIT seconds)."""
    if not app.extensions["reset_gate"].enter():
        return False
    environ[_ENTERED] = True
    return True


def leave(app: Flask, environ: dict) -> None:
    """Count a request out, once (what `enter` counted in)."""
    if environ.pop(_ENTERED, None) is not None:
        app.extensions["reset_gate"].leave()


def counted_by(key: str) -> bool:
    """Is `key` the WSGI environ's mark that a request is counted in?"""
    return key == _ENTERED


def gate() -> ResetGate:
    return current_app.extensions["reset_gate"]


@contextmanager
def resetting() -> Iterator[None]:
    """Around a reset made by a request: the other requests of this process stay out meanwhile."""
    with gate().exclusive(own=1 if _ENTERED in request.environ else 0):
        yield


def rebuild_error(exc: DBAPIError) -> bool:
    """Is this database error one that a world being rebuilt (by any process) causes?"""
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_REBUILD_CODES:
        return True
    return any(w in str(orig).lower() for w in _SQLITE_REBUILD_WORDS)


def busy() -> Response:
    """503 with Retry-After: the world is being reset (needs no request context: the fast path's too)."""
    resp = Response(
        json.dumps(
            {
                "error": "temporarily_unavailable",
                "error_description": "the world is being reset; try again in a moment",
                "reason": "resetting",
            }
        )
        + "\n",
        503,
        mimetype="application/json",
    )
    resp.headers["Retry-After"] = "1"
    resp.headers["X-Sandbox-Reason"] = "resetting"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def init_app(app: Flask) -> None:
    """The gate every request is counted through (web.request_hooks), and rebuild errors answered with 503."""
    app.extensions["reset_gate"] = ResetGate()

    @app.errorhandler(DBAPIError)
    def _during_rebuild(exc: DBAPIError):
        if rebuild_error(exc):
            return busy()
        raise exc

    @app.errorhandler(InternalServerError)
    def _after_the_view(exc: InternalServerError):
        # a database error outside the view (an after-request hook) reaches Flask as a 500
        original = exc.original_exception
        if isinstance(original, DBAPIError) and rebuild_error(original):
            return busy()
        return exc if under_apis() else error_page(exc)
