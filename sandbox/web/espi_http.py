"""HTTP of the ESPI resource server, shared by the blueprints under /dc/<slug>/espi/: the token
check by the access matrix (before anything is looked up), machine-readable refusals, Atom
responses (streamed, gzip-compressed on request) and, under the resource root only, CORS headers
that let any origin call without credentials (the policy: web.security).

Every refusal under /espi/ is JSON `{"error", "error_description", "reason"}` with the reason also
in `X-Sandbox-Reason`, never an HTML page, so a client's logs say why it was refused.
"""
from __future__ import annotations

import functools
import re
import time
import zlib
from typing import Callable, Iterable, Iterator, Mapping

from flask import Flask, Response, current_app, g, json, request, stream_with_context
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from sandbox.core.errors import NotFound, Refused, TokenRefused
from sandbox.espi import forms, urls
from sandbox.espi.query import QueryError
from sandbox.oauth.bearer import challenge, identify
from sandbox.services import access, request_log
from sandbox.web import context, faults
from sandbox.web.context import db_session, sandbox, take_db_session
from sandbox.web.utility import upload_limit, utility_row_id

ATOM = "application/atom+xml; charset=utf-8"
ESPI_PATH = re.compile(r"^/dc/([^/]+)/espi/")  # group 1: the utility's slug
RESOURCE_PATH = re.compile(r"^/dc/([^/]+)" + re.escape(urls.RESOURCE_PREFIX) + "/")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Origin, Authorization, Accept, Content-Type, X-Sandbox-Fault"


_SLASHED = re.compile(r"^(/dc/[^/]+/espi/.+?)/+$")


def without_trailing_slash(wsgi_app: Callable) -> Callable:
    """WSGI middleware: an ESPI path with a trailing slash is answered as the path without it (a
    published client library appends one to every URL it is given; the Spring reference matched
    both). Rewritten before routing, so self links, ids and the request log see the one path."""
    def app(environ, start_response):
        m = _SLASHED.match(environ.get("PATH_INFO", ""))
        if m:
            environ["PATH_INFO"] = m.group(1)
        return wsgi_app(environ, start_response)
    return app


def under_espi() -> bool:
    return bool(ESPI_PATH.match(request.path))


def refusal(status: int, error: str, description: str, reason: str | None = None,
            headers: dict[str, str] | None = None, in_body: bool = True) -> Response:
    """A JSON refusal; the reason (default: the error code) in X-Sandbox-Reason and, unless the body's
    shape is fixed by its RFC (`in_body` False), in the body as well."""
    reason = reason or error
    body = {"error": error, "error_description": description}
    if in_body:
        body["reason"] = reason
    resp = Response(json.dumps(body), status, mimetype="application/json")
    resp.headers.update(headers or {})
    resp.headers["X-Sandbox-Reason"] = reason
    resp.headers["Cache-Control"] = "no-store"
    return resp


def token_refused(err: TokenRefused) -> Response:
    realm = g.utility.name if g.get("utility") is not None else "Green Button Sandbox"
    headers = challenge(err, realm)
    if err.allow is not None:
        headers["Allow"] = ", ".join(err.allow)
    return refusal(err.status, err.error, err.description, err.reason, headers)


# every resource route takes them all (Flask adds HEAD): the matrix answers, PATCH included (no rule has it)
ROUTE_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]


def guarded(resource: str) -> Callable:
    """A view of `resource` (a name of the URL table) that runs only for a token the matrix lets
    make the call; the token (access.Presented) is then `g.presented`."""
    def wrap(view):
        @functools.wraps(view)
        def inner(**ids):
            s = db_session()
            try:
                p = identify(s, g.utility_id, request.headers.get("Authorization"))
            except TokenRefused as err:
                raise access.missing_token(resource) or err from None
            g.presented = p  # before judging: the request log names a refused caller too
            sb = sandbox()
            access.judge(p, resource, request.method, ids, sb.clock.now())
            # the behaviour profile the call is answered with: its application's, else its utility's
            g.profile = sb.require_world().profile_for(g.utility, p.application.profile)
            try:
                chosen = faults.of_call(p)
            except Refused as exc:
                return refusal(400, "invalid_request", exc.message, "bad_fault")
            if not chosen:
                return view(**ids)
            early = faults.before(chosen)
            return early if early is not None else faults.after(chosen, view(**ids))
        return inner
    return wrap


def route(bp, resource: str, views: Mapping[str, Callable]) -> None:
    """Register `resource`'s one URL rule on `bp`, by method the view that answers it. Every method
    reaches the guard, so the matrix answers those it does not grant; HEAD gets GET's view. An
    upload view's size limit applies to the rule (refused with 413 before the body is read)."""
    missing = set(access.methods_of(resource)) - set(views)
    if missing:
        raise AssertionError(f"{resource}: the matrix grants {sorted(missing)} but no view answers")

    def dispatch(**ids):
        return views["GET" if request.method == "HEAD" else request.method](**ids)

    dispatch.__name__ = f"espi_{resource}"
    view = guarded(resource)(dispatch)
    limits = [limit for limit in (getattr(v, "upload_limit", None) for v in views.values()) if limit]
    if limits:
        (limit,) = limits  # one upload view per resource
        view = upload_limit(limit)(view)
    bp.add_url_rule(urls.rule(resource), endpoint=resource, view_func=view, methods=ROUTE_METHODS)


def atom(chunks: Iterable[bytes], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An Atom document, streamed, gzip-compressed when the client accepts it.

    Flask tears the request down when the view returns, before the body is written; the request's
    database session (whose objects the feed reads as it goes: imported readings, links) is handed to
    the stream instead, and closed when the stream ends."""
    if not call_form().plain or g.get("document_faults"):  # written whole, then rewritten (not streamed)
        chunks = [_as_sent(b"".join(chunks))]
    gzip = request.accept_encodings.quality("gzip") > 0
    body: Iterable[bytes] = _gzipped(chunks) if gzip else chunks
    resp = Response(stream_with_context(_keeping(take_db_session(), iter(body))), status, content_type=ATOM)
    resp.headers.update(headers or {})
    resp.headers["Vary"] = "Accept-Encoding"
    if gzip:
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def atom_document(data: bytes, status: int = 200) -> Response:
    """A small Atom document (an entry) in one piece, gzip-compressed when the client accepts it."""
    data = _as_sent(data)
    gzip = request.accept_encodings.quality("gzip") > 0 and len(data) > 512
    resp = Response(zlib.compress(data, 6, wbits=31) if gzip else data, status, content_type=ATOM)
    resp.headers["Vary"] = "Accept-Encoding"
    if gzip:
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def _as_sent(data: bytes) -> bytes:
    """A whole document as the call gets it: in its profile's form, then broken by its document faults."""
    data = forms.render(data, call_form())
    return faults.rewrite(data) if g.get("document_faults") else data


def call_form() -> forms.Form:
    """The form the call's behaviour profile writes documents in (plain outside the resource routes)."""
    profile = g.get("profile")
    if profile is None or profile.behaviour.xml_form == forms.PLAIN_FIELDS:
        return forms.PLAIN
    return forms.Form(*profile.behaviour.xml_form)


def _keeping(session, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        if session is not None:
            session.close()


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    pending = []
    size = 0
    for chunk in chunks:
        out = z.compress(chunk)
        if out:
            pending.append(out)
            size += len(out)
        if size >= 64 * 1024:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(z.flush())
    yield b"".join(pending)


def _log_call(resp: Response) -> None:
    """The call in the utility's request log (never the reason a call fails)."""
    utility_id = g.get("utility_id")
    if utility_id is None:
        found = ESPI_PATH.match(request.path)
        utility_id = utility_row_id(found.group(1)) if found else None
    if utility_id is None:
        return
    caller = g.get("presented")
    started = g.get("espi_started")
    path = request.full_path.rstrip("?") if request.query_string else request.path
    try:
        request_log.record(context.request_log(), utility_id, caller.application.id if caller else None, sandbox().clock.now(),
                           request.method, path, str(caller.kind) if caller else None, resp.status_code,
                           resp.headers.get("X-Sandbox-Reason"),
                           (time.perf_counter() - started) * 1000 if started is not None else 0.0)
    except SQLAlchemyError as exc:  # a world being reset, a locked database: the call is answered all the same
        current_app.logger.warning("request log: %s", exc)


def under_resources() -> bool:
    return bool(RESOURCE_PATH.match(request.path))


def _cors(resp: Response) -> Response:
    """Any origin, no credentials: every resource call carries its bearer token in the Authorization
    header, never a cookie, so a page of another origin can do nothing its own token would not let
    it do anyway. The methods are the reference's."""
    if "Access-Control-Allow-Origin" not in resp.headers:  # appended as one list: no header of the view is replaced
        resp.headers.extend(_CORS_HEADERS)
    return resp


_CORS_HEADERS = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", CORS_METHODS),
                 ("Access-Control-Allow-Headers", CORS_HEADERS),
                 ("Access-Control-Expose-Headers", "WWW-Authenticate, X-Sandbox-Reason, X-Sandbox-Fault-Applied, "
                                                   "Retry-After, Location"),
                 ("Access-Control-Max-Age", "1800")]


_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
                415: "unsupported_media_type"}


def init_app(app: Flask) -> None:
    """JSON refusals for every path under /dc/<slug>/espi/; CORS under the resource root, whose
    preflights are answered without a token."""

    @app.before_request
    def _preflight():
        if request.method == "OPTIONS" and under_resources():
            return Response(status=204)
        return None

    @app.before_request
    def _started():
        if under_espi():
            g.espi_started = time.perf_counter()

    @app.after_request
    def _espi_headers(resp: Response) -> Response:
        if not under_espi():
            return resp
        if g.get("faults_applied"):
            resp.headers[faults.APPLIED] = g.faults_applied
        _log_call(resp)
        return _cors(resp) if under_resources() else resp

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if not under_espi():
            return err
        code = err.code or 500
        headers = {}
        found = RESOURCE_PATH.match(request.path)
        utility_id = utility_row_id(found.group(1)) if code == 404 and found else None
        if utility_id is not None:
            # every request under the resource root is judged by its token first (ESPI.md 11, item 1)
            try:
                access.check_token(identify(db_session(), utility_id, request.headers.get("Authorization")),
                                   sandbox().clock.now())
            except TokenRefused as refused:
                return token_refused(refused)
        if code == 405:
            allowed = getattr(err, "valid_methods", None) or []
            headers["Allow"] = ", ".join(allowed)
            description = f"{request.method} is not allowed here; this resource answers {', '.join(allowed)}"
        else:
            description = err.description or err.name
        return refusal(code, _HTTP_ERRORS.get(code, (err.name or "error").lower().replace(" ", "_")), description,
                       headers=headers)


def install(bp) -> None:
    """The resource server's refusals for a blueprint's views: a refused token, a bad query
    parameter, an unknown or foreign id (404, never a byte of its data) and a bad body (400)."""

    @bp.errorhandler(TokenRefused)
    def _token_refused(err: TokenRefused):
        return token_refused(err)

    @bp.errorhandler(QueryError)
    def _bad_query(err: QueryError):
        return refusal(400, "invalid_request", str(err), "bad_query_parameter")

    @bp.errorhandler(NotFound)
    def _not_found(err: NotFound):
        return refusal(404, "not_found", f"no such resource at this utility: {request.path}", "not_found")

    @bp.errorhandler(Refused)
    def _refused(err: Refused):
        return refusal(400, "invalid_request", err.message, "bad_request")

