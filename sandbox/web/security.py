"""Browser-facing defences: security headers, cookie flags, and which other origins a browser lets
read an answer (CORS).

- Every response says `nosniff`. Every HTML page carries a Content-Security-Policy that its own
  stylesheets satisfy and nothing inline does (the pages have no scripts; a utility's colours come
  from the stylesheet at site.utility_colours), refuses to be framed (`frame-ancestors 'none'`, and
  X-Frame-Options for browsers without CSP: a framed consent page let one click issue a code), and
  sends no Referer to other sites (the consent page's URL is nobody else's business, and a third
  party's callback URL holds its code). No `form-action`: Chromium applies it to the redirect after
  the consent form, which goes to the third party.
- The session cookie is HttpOnly and SameSite=Lax, and Secure when the public URL is https.
  Sign-ins are kept on the server (web.context, services.web_sessions): signing out ends one.
- CORS: only the resource server answers other origins, any of them and without credentials
  (espi_http: its calls carry bearer tokens, never cookies). Nothing else sends CORS headers, so a
  page of another origin cannot read the registration response, a token response, the developer
  portal or the control API; the registration endpoint also refuses a browser's cross-origin call
  (`cross_origin`), so such a page cannot even register blindly.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

HTML_POLICY = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    """Install the cookie policy on `app` (its headers: `headers`, which web.request_hooks writes on every
    answer; the demo app writes the same headers itself: it uses none of the sandbox's modules)."""
    public_url = app.extensions["sandbox"].config.get("PUBLIC_URL") or ""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=urlsplit(public_url).scheme.lower() == "https",
    )


def headers(resp: Response) -> Response:
    """nosniff on every answer, the HTML policy on a page's (web.request_hooks writes them)."""
    found = resp.headers
    if "X-Content-Type-Options" not in found:
        found.add("X-Content-Type-Options", "nosniff")
    if resp.mimetype == "text/html":
        found.update(HTML_POLICY)
    return resp


def cross_origin() -> str | None:
    """The `Origin` a browser names when a page of another origin makes the request, else None (a
    request of this site's own pages, or of a program, which names none)."""
    origin = request.headers.get("Origin")
    if origin is None or origin.lower() == request.host_url.rstrip("/").lower():
        return None
    return origin
