"""HTTP of the ESPI resource server, shared by the blueprints under /dc/<slug>/espi/: the one
pipeline of an ESPI call (`answer`: the Call made once, the token judged by the access matrix before
anything is looked up, faults, the view, refusals, the request log), Atom responses (streamed,
gzip-compressed on request) and, under the resource root only, CORS headers that let any origin call
without credentials (the policy: web.security).

Every refusal under /espi/ is JSON (web.errors), never an HTML page, so a client's logs say why it
was refused.
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Callable, Iterable, Iterator, Mapping

from flask import Flask, Request, Response, current_app, has_request_context, request, stream_with_context
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from sandbox.core.errors import Refused, TokenRefused
from sandbox.espi import faulty, forms, urls
from sandbox.espi.atom import KeptDocument
from sandbox.services import access, request_log
from sandbox.synth.world import UtilityDef
from sandbox.web import context, faults
from sandbox.web.call import Call
from sandbox.web.context import sandbox
from sandbox.web.errors import error_page, espi_refusal, http_refusal, refusal, styled, token_refused, under_apis
from sandbox.web.oauth.bearer import identify
from sandbox.web.utility import find_utility, upload_limit, utility_row_id

ATOM = "application/atom+xml; charset=utf-8"
ESPI_PATH = re.compile(r"^/dc/([^/]+)/espi/")  # group 1: the utility's slug
RESOURCE_PATH = re.compile(r"^/dc/([^/]+)" + re.escape(urls.RESOURCE_PREFIX) + "/")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Origin, Authorization, Accept, Content-Type, X-Sandbox-Fault"


_SLASHED = re.compile(r"^(/dc/[^/]+/espi/.+?)/+$")


_STARTED = "sandbox.started"  # in the WSGI environ: when the request came (the request log's milliseconds)


def without_trailing_slash(wsgi_app: Callable) -> Callable:
    """WSGI middleware: an ESPI path with a trailing slash is answered as the path without it (a
    published client library appends one to every URL it is given; the Spring reference matched
    both). Rewritten before routing, so self links, ids and the request log see the one path. It
    also notes when the request came, for the request log."""

    def app(environ, start_response):
        environ[_STARTED] = time.perf_counter()
        m = _SLASHED.match(environ.get("PATH_INFO", ""))
        if m:
            environ["PATH_INFO"] = m.group(1)
        return wsgi_app(environ, start_response)

    return app


def under_espi() -> bool:
    return bool(ESPI_PATH.match(request.path))


# every resource route takes them all (Flask adds HEAD): the matrix answers, PATCH included (no rule has it)
ROUTE_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]
_LOGGED = "sandbox.espi_logged"  # in a request's WSGI environ once its call is in the request log

View = Callable[..., Response]
Refusals = Callable[[Call, Exception], "Response | None"]


def answer(
    resource: str,
    view: View,
    slug: str,
    ids: dict[str, str],
    refusals: Refusals | None = None,
    req: Request | None = None,
    unexpected: Callable[[Exception], Response] | None = None,
    found: tuple[UtilityDef, int] | None = None,
) -> Response:
    """The pipeline of one ESPI call: the call made once, its token judged by the access matrix before
    anything is looked up, its faults, the view, every refusal mapped to its JSON answer, the fault
    header, and its record in the request log (a refused call's too). `req`: the fast path's request
    (web.fast_path), else Flask's; `unexpected`: how the fast path has Flask's handlers answer an
    exception no refusal maps; `found`: the utility and its row id, if the caller looked them up."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]  # read directly, not through the proxy
    sb = sandbox()
    utility, utility_id = found or find_utility(slug)  # 404 (init_app's handler) if none
    environ = req.environ
    call = Call(
        resource,
        req.method,
        slug,
        utility,
        utility_id,
        sb,
        # the host as Werkzeug checked it (trusted hosts), without re-reading it as an IRI: a Host header is ASCII
        f"{req.scheme}://{req.host}{req.script_root}/",
        sb.clock.now(),
        environ.get(_STARTED) or time.perf_counter(),
        request=req,
    )
    try:
        try:
            resp = _answered(call, view, ids, environ.get("HTTP_AUTHORIZATION"))
            if not isinstance(resp, Response):
                resp = current_app.make_response(resp)
        except Exception as exc:  # mapped to its answer, or re-raised to Flask's handlers
            call.streaming = False  # a stream begun is dropped
            resp = (refusals(call, exc) if refusals is not None else None) or espi_refusal(
                exc, call.utility.name, req, unexpected
            )
    except Exception:
        call.close_session()
        _log(req, call, 500, None)
        raise
    if not call.streaming:  # else its stream closes the session when it ends
        call.close_session()
    if call.faults:
        resp.headers[faults.APPLIED] = call.applied
    _log(req, call, resp.status_code, resp.headers.get("X-Sandbox-Reason"))
    return resp


def _answered(call: Call, view: View, ids: dict[str, str], authorization: str | None) -> Response:
    try:
        p = identify(call.session(), call.utility_id, authorization)
    except TokenRefused as err:
        refused = access.missing_token(call.resource) or err
        # no token names no application: the utility's profile says 401 (RFC 6750 3.1) or 403
        status = call.sandbox.require_world().profile_for(call.utility, None).behaviour.no_token_status
        if refused.reason == "no_token" and status != refused.status:
            refused = TokenRefused(status, refused.error, str(refused), refused.reason)
        raise refused from None
    call.presented = p  # before judging: the request log names a refused caller too
    access.judge(p, call.resource, call.method, ids, call.now)
    assert p is not None  # judged
    # the behaviour profile the call is answered with: its application's, else its utility's
    call.profile = call.sandbox.require_world().profile_for(call.utility, p.application.profile)
    try:
        call.faults = faults.of_call(p, call.request.environ)
    except Refused as exc:
        return refusal(400, "invalid_request", exc.message, "bad_fault")
    if not call.faults:
        return view(call, **ids)
    early = faults.before(call)
    return early if early is not None else faults.after(call, view(call, **ids))


def route(bp, resource: str, views: Mapping[str, View], refusals: Refusals | None = None) -> None:
    """Register `resource`'s one URL rule on `bp` (its prefix holds <slug>), by method the view that
    answers it (called with the Call first). Every method reaches the pipeline, so the matrix answers
    those it does not grant; HEAD gets GET's view. An upload view's size limit applies to the rule
    (refused with 413 before the body is read). `refusals` answers a blueprint's own refusals first.
    The fast path (web.fast_path) answers the rule's GET and HEAD unless a view is marked
    `needs_request_context` (it reads flask.request or uses send_file): a view reads `call.request`."""
    missing = set(access.methods_of(resource)) - set(views)
    if missing:
        raise AssertionError(f"{resource}: the matrix grants {sorted(missing)} but no view answers")

    def dispatch(call: Call, **ids):
        return views["GET" if call.method == "HEAD" else call.method](call, **ids)

    def view(slug: str, **ids):
        return answer(resource, dispatch, slug, ids, refusals)

    view.__name__ = f"espi_{resource}"
    if not any(getattr(v, "needs_request_context", False) for v in views.values()):
        view.espi_call = (resource, dispatch, refusals, view)  # type: ignore[attr-defined]  # web.fast_path's
    limits = [limit for limit in (getattr(v, "upload_limit", None) for v in views.values()) if limit]
    if limits:
        (limit,) = limits  # one upload view per resource
        view = upload_limit(limit)(view)
    bp.add_url_rule(urls.rule(resource), endpoint=resource, view_func=view, methods=ROUTE_METHODS)


def atom(call: Call, chunks: Iterable[bytes], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An Atom document, streamed, gzip-compressed when the client accepts it.

    The body is written after the call returned; the call's database session (whose objects the feed
    reads as it goes: imported readings, links) stays open for the stream, which closes it when it ends."""
    if not call.form.plain or call.document_faults:  # written whole, then rewritten (not streamed)
        chunks = [_as_sent(call, b"".join(chunks))]
    gzip = call.request.accept_encodings.quality("gzip") > 0
    body: Iterable[bytes] = (
        (chunks.gzipped() if isinstance(chunks, KeptDocument) else _gzipped(chunks)) if gzip else chunks
    )  # a kept document keeps its gzip form too
    call.streaming = True
    stream = _keeping(call, iter(body))
    resp = Response(
        stream_with_context(stream) if has_request_context() else _in_app_context(stream), status, content_type=ATOM
    )
    resp.call_on_close(call.close_session)  # a stream the client left unread too
    resp.headers.update(headers or {})
    resp.headers["Vary"] = "Accept-Encoding"
    if gzip:
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def atom_document(call: Call, data: bytes, status: int = 200) -> Response:
    """A small Atom document (an entry) in one piece, gzip-compressed when the client accepts it."""
    data = _as_sent(call, data)
    gzip = len(data) > 512 and call.request.accept_encodings.quality("gzip") > 0
    resp = Response(zlib.compress(data, 6, wbits=31) if gzip else data, status, content_type=ATOM)
    resp.headers["Vary"] = "Accept-Encoding"
    if gzip:
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def _as_sent(call: Call, data: bytes) -> bytes:
    """A whole document as the call gets it: in its profile's form, then broken by its document faults."""
    data = forms.render(data, call.form)
    found = call.document_faults
    return faulty.rewrite(data, found) if found else data


def _keeping(call: Call, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks, then the call's session closed (one the feed opened as it went included)."""
    try:
        yield from chunks
    finally:
        call.close_session()


def _in_app_context(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A stream written in an app context of its app (the fast path's: stream_with_context keeps a
    request context, which the fast path has none of)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def written() -> Iterator[bytes]:
        with app.app_context():
            yield from chunks

    return written()


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


def _log(req: Request, call: Call, status: int, reason: str | None) -> None:
    """The call in the utility's request log (never the reason a call fails)."""
    req.environ[_LOGGED] = True
    _record(req, call.utility_id, call.application_id, call.now, call.caller_kind, status, reason, call.elapsed_ms())


def _log_unrouted(req: Request, resp: Response, slug: str) -> None:
    """A request under /espi/ that no pipeline answered (no such path, a preflight, a 500) in the log."""
    utility_id = utility_row_id(slug)
    if utility_id is None:
        return
    started = req.environ.get(_STARTED)
    _record(
        req,
        utility_id,
        None,
        sandbox().clock.now(),
        None,
        resp.status_code,
        resp.headers.get("X-Sandbox-Reason"),
        (time.perf_counter() - started) * 1000 if started is not None else 0.0,
    )


def _record(
    req: Request,
    utility_id: int,
    application_id: int | None,
    at,
    kind: str | None,
    status: int,
    reason: str | None,
    milliseconds: float,
) -> None:
    path = req.full_path.rstrip("?") if req.query_string else req.path
    try:
        request_log.record(
            context.request_log(),
            utility_id,
            application_id,
            at,
            req.method,
            path,
            kind,
            status,
            reason,
            milliseconds,
        )
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


_CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", CORS_METHODS),
    ("Access-Control-Allow-Headers", CORS_HEADERS),
    (
        "Access-Control-Expose-Headers",
        "WWW-Authenticate, X-Sandbox-Reason, X-Sandbox-Fault-Applied, Retry-After, Location",
    ),
    ("Access-Control-Max-Age", "1800"),
]


def espi_headers(req: Request, resp: Response) -> Response:
    """Under /espi/, the request log of a call no pipeline answered (no such path, a preflight, a 500);
    under the resource root, CORS (web.request_hooks writes them on every answer)."""
    found = ESPI_PATH.match(req.path)
    if found is None:
        return resp
    if _LOGGED not in req.environ:
        _log_unrouted(req, resp, found.group(1))
    return _cors(resp) if RESOURCE_PATH.match(req.path) else resp


def init_app(app: Flask) -> None:
    """JSON refusals for every path under /dc/<slug>/espi/ that no pipeline answered (no such path, a
    bad method, a utility that does not exist); CORS under the resource root, whose preflights are
    answered without a token."""

    @app.before_request
    def _preflight():
        if request.method == "OPTIONS" and under_resources():
            return Response(status=204)
        return None

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if not under_espi():
            return error_page(err) if styled(err) and not under_apis() else err
        found = RESOURCE_PATH.match(request.path)
        slug = found.group(1) if err.code == 404 and found else None
        utility_id = utility_row_id(slug) if slug is not None else None
        if slug is not None and utility_id is not None:
            # every request under the resource root is judged by its token first (ESPI.md 11, item 1)
            sb = sandbox()
            try:
                with sb.db.sessions() as s:
                    access.check_token(identify(s, utility_id, request.headers.get("Authorization")), sb.clock.now())
            except TokenRefused as refused_token:
                return token_refused(refused_token, sb.require_world().utility(slug).name)
        return http_refusal(err)
