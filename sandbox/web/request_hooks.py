"""What every request goes through before and after its view, in one place: the Flask hooks
(`init_app`) and the ESPI fast path (web.fast_path) both call these functions, so the two ways of
answering cannot drift.

- `begin`: the reset gate counted in (503 with Retry-After while this process resets the world:
  web.resets), one look for commits and one read of the shared clock pinned for the request
  (core.changes, core.clock), and the process's start-of-request callables (`on_request`).
- `finish`: the headers every answer gets: X-Sandbox-Version, nosniff and an HTML page's policy
  (web.security), under /espi/ the request log of a call no pipeline answered and, under the
  resource root, CORS (web.espi_http).
- `end`: the pins and the gate left; safe to call twice (its state is popped from the WSGI environ).
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Flask, Response, request

from sandbox.core.changes import changes_of
from sandbox.version import __version__
from sandbox.web import espi_http, resets, security

_PINS = "sandbox.pins"  # in the WSGI environ: the pins entered for the request


def on_request(app: Flask, fn: Callable[[], Any]) -> None:
    """Call `fn` at the start of every request of `app` (by either path), after the gate let it in."""
    app.extensions.setdefault("on_request", []).append(fn)


def begin(app: Flask, environ: dict) -> Response | None:
    """Count the request in and pin its look for commits and its clock; a 503 while a reset goes on."""
    if not resets.enter(app, environ):
        return resets.busy()
    pins = (app.extensions["changes"].pinned(), app.extensions["sandbox"].clock.pinned())
    for pin in pins:
        pin.__enter__()
    environ[_PINS] = pins
    for fn in app.extensions.get("on_request", ()):
        fn()
    return None


def end(app: Flask, environ: dict) -> None:
    """Unpin the request and count it out of the reset gate (what `begin` did, undone once)."""
    for pin in reversed(environ.pop(_PINS, ())):
        pin.__exit__(None, None, None)
    resets.leave(app, environ)


def detached(environ: dict) -> dict:
    """A copy of a request's environ for a request context of its own (the fast path's, to have Flask's
    handlers answer an exception): that context's end leaves neither the request's gate nor its pins."""
    return {k: v for k, v in environ.items() if k != _PINS and not resets.counted_by(k)}


def finish(req: Any, resp: Response) -> Response:
    """The headers every answer gets (the order is the one the Flask hooks always wrote)."""
    resp.headers["X-Sandbox-Version"] = __version__
    resp = espi_http.espi_headers(req, resp)
    return security.headers(resp)


def init_app(app: Flask) -> None:
    """Install `begin`, `finish` and `end` as `app`'s hooks (first, so that no other hook of a request
    runs before its gate and pins)."""
    app.extensions["changes"] = changes_of(app.extensions["sandbox"].db.engine)

    @app.before_request
    def _begin():
        return begin(app, request.environ)

    @app.after_request
    def _finish(resp: Response) -> Response:
        return finish(request._get_current_object(), resp)  # type: ignore[attr-defined]

    @app.teardown_request
    def _end(_exc):
        end(app, request.environ)
