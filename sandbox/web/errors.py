"""Refusals as HTTP, in one place: every exception of the sandbox's one hierarchy (core.errors
`SandboxError`, which carries its status, error code, description and reason) is answered here.

Under /espi/ the body is `{"error", "error_description", "reason"}` with the reason also in
`X-Sandbox-Reason` (never an HTML page, so a client's logs say why it was refused); under the control
API `{"error", "error_description", "field"}`. The ESPI pipeline (web.espi_http) answers its calls'
refusals with `espi_refusal`; `init_app` answers those raised anywhere else on those two APIs.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from flask import Flask, Request, Response, current_app, json, render_template, request
from werkzeug.exceptions import HTTPException

from sandbox.core.errors import NotFound, QuotaExceeded, SandboxError, TokenRefused, describe
from sandbox.web.oauth.bearer import challenge

_ESPI = re.compile(r"^/dc/[^/]+/espi/")
_CONTROL = re.compile(r"^/sandbox-api(?:/|$)")

_HTTP_ERRORS = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def refusal(
    status: int,
    error: str,
    description: str,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
    in_body: bool = True,
) -> Response:
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


def token_refused(err: TokenRefused, realm: str | None = None) -> Response:
    """A refused bearer token: 401 with its WWW-Authenticate challenge (realm: the utility's name), or 403."""
    headers = challenge(err, realm or "Green Button Sandbox")
    if err.allow is not None:
        headers["Allow"] = ", ".join(err.allow)
    return refusal(err.status, err.error, err.description, err.reason, headers)


def http_refusal(err: HTTPException, req: Request | None = None) -> Response:
    """An HTTP error under /espi/ (Werkzeug's: 404, 405, 413...) as a JSON refusal (of `req`, else Flask's request)."""
    code = err.code or 500
    headers = {}
    if code == 405:
        allowed = getattr(err, "valid_methods", None) or []
        headers["Allow"] = ", ".join(allowed)
        description = f"{(req or request).method} is not allowed here; this resource answers {', '.join(allowed)}"
    else:
        description = err.description or err.name
    return refusal(
        code, _HTTP_ERRORS.get(code, (err.name or "error").lower().replace(" ", "_")), description, headers=headers
    )


def espi_refusal(
    exc: Exception,
    realm: str | None = None,
    req: Request | None = None,
    unexpected: Callable[[Exception], Response] | None = None,
) -> Response:
    """The JSON answer of a refused ESPI call: any sandbox exception by what it carries (a refused
    token with its challenge; an unknown or foreign id a 404 that names the path, never a byte of its
    data), an HTTP error (Werkzeug's); any other exception goes on to Flask's handlers (a database
    being rebuilt is 503 there; else a 500), through `unexpected` where the caller has no request
    context (the fast path's). Called while `exc` is being handled; `req`: the call's request."""
    req = req or request._get_current_object()  # type: ignore[attr-defined]
    if isinstance(exc, TokenRefused):
        return token_refused(exc, realm)
    if isinstance(exc, NotFound):
        return refusal(404, "not_found", f"no such resource at this utility: {req.path}", "not_found")
    if isinstance(exc, SandboxError):
        return refusal(*describe(exc), headers=_retry_after(exc))
    if isinstance(exc, HTTPException):
        return http_refusal(exc, req)
    if unexpected is not None:
        return unexpected(exc)
    found = current_app.handle_user_exception(exc)  # re-raises what no handler takes
    return found if isinstance(found, Response) else current_app.make_response(found)


def control_refusal(status: int, error: str, description: str, field: str | None = None) -> Response:
    """A refused control-API call: JSON naming the body field or parameter at fault, if one."""
    body: dict[str, Any] = {"error": error, "error_description": description}
    if field:
        body["field"] = field
    resp = Response(json.dumps(body), status, mimetype="application/json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="Green Button Sandbox control API"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# what a page says for an HTTP error outside the APIs: a title and a sentence a visitor can act on
_PAGES = {
    400: (
        "That request could not be read",
        "The form or link was incomplete or out of date: go back, reload the page and try again.",
    ),
    403: ("Not allowed", "This page is not open to you."),
    404: (
        "No such page",
        "Nothing lives at this address. Check the link, or start again from the sandbox's utilities.",
    ),
    405: ("Not that way", "This page does not take that kind of request."),
    413: ("Too large", "What was sent is larger than the sandbox takes."),
    500: (
        "Something broke",
        "The sandbox failed on this request. Nothing was changed; try again, and if it persists the server's log says why.",
    ),
}


def under_apis() -> bool:
    """The request is one of the ESPI or control API's, which answer errors as JSON, never as a page."""
    return bool(_ESPI.match(request.path) or _CONTROL.match(request.path))


def styled(err: HTTPException) -> bool:
    """An error Werkzeug would answer with its bare page: one with no answer of its own (a refusal
    that carries its own JSON, a redirect, are answered as they are)."""
    kind = type(err)
    own = err.response is not None or (kind.get_response, kind.get_body) != (
        HTTPException.get_response,
        HTTPException.get_body,
    )
    return not own and err.code is not None and err.code >= 400


def error_page(err: HTTPException) -> Response:
    """An HTTP error outside the ESPI and control APIs as a styled page (never Werkzeug's bare one)."""
    status = err.code or 500
    title, message = _PAGES.get(status, (err.name, err.description or ""))
    if err.description and err.description != type(err).description:  # what the view said, when it said something
        message = err.description
    if status == 400 and err.description and "CSRF" in err.description:
        message = "The form had expired (or came from another site). Go back, reload the page and send it again."
    detail = err.description if status == 400 and err.description and err.description != message else ""
    page = render_template(
        "site/error.html", status=status, title=title, message=message, detail=detail, path=request.path
    )
    resp = current_app.make_response((page, status))
    if status == 405 and (allowed := err.get_headers()):
        resp.headers.extend([(k, v) for k, v in allowed if k == "Allow"])
    return resp


def _retry_after(exc: SandboxError) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else None


def init_app(app: Flask) -> None:
    """Any sandbox exception that reaches Flask on the ESPI or the control API is answered by what it
    carries; elsewhere (a page) it is the bug it is (a 500)."""

    @app.errorhandler(SandboxError)
    def _refused(exc: SandboxError):
        if _CONTROL.match(request.path):
            status, error, description, _ = describe(exc)
            resp = control_refusal(status, error, description, exc.field)
            resp.headers.update(_retry_after(exc) or {})
            return resp
        if _ESPI.match(request.path):
            return espi_refusal(exc)
        if isinstance(exc, QuotaExceeded):  # a page's change a private sandbox's quota refuses (nothing changed)
            return Response(exc.description, 429, mimetype="text/plain", headers={"X-Sandbox-Reason": exc.reason})
        raise exc
