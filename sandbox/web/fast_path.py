"""An ESPI resource call (GET or HEAD under /dc/<slug>/espi/1_1/resource/) answered below Flask's
request handling: the same routing (the app's URL map), the same `Call`, the same pipeline
(espi_http.answer), the same refusals (web.errors) and the same things every request goes through
(web.request_hooks: reset gate, pins, headers, request log), without a request context, whose push,
hooks and pop cost about as much as the rest of the call (bench/bench_floor.py).

Every other request goes to Flask, and so does every one this path cannot answer the same way: a
path no route or another view answers, a utility that does not exist, a request the input guards
must look into, a view that needs a request context (espi_http.route), or an app that has a hook or
signal receiver this path does not know. An exception no refusal maps is answered by Flask's own
handlers, in a request context made for them. ESPI_FAST_PATH off (a config key) sends everything to
Flask, which the tests use to compare the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from flask import Flask, Response, request_finished, request_started, request_tearing_down
from werkzeug.exceptions import HTTPException

from sandbox.web import input_guards, request_hooks
from sandbox.web.espi_http import RESOURCE_PATH, answer
from sandbox.web.utility import find_utility

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_METHODS = ("GET", "HEAD")
_MATCHES_KEPT = 4096  # request lines whose match is kept (all forgotten at once when full)
# the modules whose app-wide hooks this path does what they do for an ESPI GET (request_hooks' all;
# the input guard's by input_guards.plain; the CSRF and preflight hooks do nothing for it)
_KNOWN_HOOKS = {
    "before": {"sandbox.web.request_hooks", "sandbox.web.input_guards", "sandbox.web.app", "sandbox.web.espi_http"},
    "before_csrf": {"flask_wtf.csrf"},
    "after": {"sandbox.web.request_hooks"},
    "teardown": {"sandbox.web.request_hooks"},
}

_SIGNALS = (request_started, request_finished, request_tearing_down)  # a receiver of one: Flask sends it


class FastPath:
    """WSGI middleware in front of Flask's `wsgi_app`: ESPI resource GETs answered here, the rest by Flask."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApplication):
        self.app = app
        self.flask = flask_wsgi
        self.enabled = bool(app.extensions["sandbox"].config.get("ESPI_FAST_PATH", True))
        self._hooks_known: bool | None = None  # asked at the first request (hooks are all added by then)
        # the URL map's match of a request line seen before (the map is fixed once requests come): a
        # client polls the same few paths, and matching was a tenth of this path's cost
        self._matched: dict[tuple, tuple[Any, dict[str, Any]]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            not self.enabled
            or environ.get("REQUEST_METHOD") not in _METHODS
            or not RESOURCE_PATH.match(environ.get("PATH_INFO", ""))
            or not input_guards.plain(environ)
            or not self._known()
            or any(signal.receivers for signal in _SIGNALS)
        ):
            return self.flask(environ, start_response)
        app = self.app
        req = app.request_class(environ)
        key = (environ.get("HTTP_HOST"), environ.get("SCRIPT_NAME"), environ["PATH_INFO"], environ["REQUEST_METHOD"])
        matched = self._matched.get(key)
        if matched is None:
            try:
                adapter = app.create_url_adapter(req)
                assert adapter is not None  # made for a request: never None
                rule_ids = adapter.match(return_rule=True)
            except HTTPException:  # no such path, a method it does not take, a redirect: Flask's answers
                return self.flask(environ, start_response)
            if len(self._matched) >= _MATCHES_KEPT:
                self._matched.clear()
            matched = self._matched[key] = (rule_ids[0], dict(rule_ids[1]))
        rule, ids = matched
        view = app.view_functions.get(rule.endpoint)
        made = getattr(view, "espi_call", None)
        if made is None or made[3] is not view:  # not a pipeline's view, or one wrapped since (a limit's)
            return self.flask(environ, start_response)
        resource, dispatch, refusals, _ = made
        req.url_rule, req.view_args = rule, dict(ids)
        called = dict(ids)
        slug = called.pop("slug")
        with app.app_context():
            try:
                found = find_utility(slug)
            except HTTPException:  # no such utility: Flask's handler judges the token first
                resp = None
            else:
                resp = self._answer(req, (resource, dispatch, slug, called, refusals), found)
        if resp is None:
            return self.flask(environ, start_response)
        return _written(resp, environ, start_response)

    def _answer(self, req: Any, route: tuple[str, Callable, str, dict, Any], found: tuple) -> Response:
        """`answer` between request_hooks' `begin`, `finish` and `end`, as Flask's hooks put it."""
        app, environ = self.app, req.environ
        streamed = False
        try:
            resp = request_hooks.begin(app, environ)
            if resp is None:
                resource, dispatch, slug, ids, refusals = route
                resp = answer(resource, dispatch, slug, ids, refusals, req, lambda exc: self._handled(req, exc), found)
            resp = request_hooks.finish(req, resp)
            streamed = resp.is_streamed
        except Exception as exc:  # what Flask does with an exception no handler took: a 500 (or raised in tests)
            with app.request_context(request_hooks.detached(environ)):
                return app.handle_exception(exc)
        finally:
            if not streamed:
                request_hooks.end(app, environ)
        if not streamed:
            return resp
        # a stream's request ends with it, as under Flask's stream_with_context: when it is written, or
        # closed unwritten (a HEAD's); `end` undoes once
        resp.response = _ending(resp.response, lambda: request_hooks.end(app, environ))
        resp.call_on_close(lambda: request_hooks.end(app, environ))
        return resp

    def _handled(self, req: Any, exc: Exception) -> Response:
        """Flask's handlers' answer to `exc` (re-raised if none takes it), in a request context of its own."""
        app = self.app
        with app.request_context(request_hooks.detached(req.environ)):
            found = app.handle_user_exception(exc)
            return found if isinstance(found, Response) else app.make_response(found)

    def _known(self) -> bool:
        """Does the app have only the hooks this path does the work of?"""
        if self._hooks_known is None:
            app = self.app
            self._hooks_known = (
                _modules(app.before_request_funcs) <= _KNOWN_HOOKS["before"] | _KNOWN_HOOKS["before_csrf"]
                and _modules(app.after_request_funcs) <= _KNOWN_HOOKS["after"]
                and _modules(app.teardown_request_funcs) <= _KNOWN_HOOKS["teardown"]
                and not any(app.url_value_preprocessors.get(k) for k in (None, "resources", "registration"))
            )
            app._got_first_request = True  # as Flask marks it: no hook may be added now
        return self._hooks_known


def _written(resp: Response, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A whole answer as one list of bytes, which a server writes at once (granian without iterating it
    in Python: a third of this path's cost when it did), its headers as they are plus Content-Length.
    Werkzeug's own writing (a copy of every header, each checked again) serves a stream, an answer
    its rules change (a status without a body, a Location to make absolute) and one whose
    Content-Length is not its body's (the truncated-body and connection-reset faults: a server given
    the whole list would send a whole answer)."""
    headers = resp.headers.to_wsgi_list()
    names = {name.lower() for name, _ in headers}
    status = resp.status_code
    if resp.is_streamed or status < 200 or status in (204, 304) or names & _REWRITTEN:
        return resp(environ, start_response)
    body = resp.get_data()
    if "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    elif resp.headers.get("Content-Length") != str(len(body)):  # a fault's short body: it must stay short
        return resp(environ, start_response)
    start_response(resp.status, headers)
    resp.close()
    return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]


_REWRITTEN = {"location", "content-location"}  # headers werkzeug writes anew (Response.get_wsgi_headers)


def _modules(funcs: dict[Any, list[Callable]]) -> set[str]:
    """The modules of the hooks of `funcs`, app-wide and of every blueprint (a blueprint's: never known)."""
    out = {f.__module__ for f in funcs.get(None, ())}
    if any(funcs.get(k) for k in funcs if k is not None):
        out.add("a blueprint's")
    return out


def _ending(chunks: Iterable[Any], done: Callable[[], None]) -> Iterator[Any]:
    try:
        yield from chunks
    finally:
        done()
