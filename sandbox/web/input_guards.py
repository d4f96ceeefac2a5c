"""Well-formed extremes answered with a 4xx naming the field, never a 5xx.

- Integer ids in paths: `<int:...>` matches only what a 64-bit integer column holds, so a larger id
  names nothing and the route does not match (404) instead of the database driver failing on it.
- Text no database stores: a NUL character (PostgreSQL refuses it in any text, SQLite would keep it)
  and a lone surrogate (no UTF-8 encoder writes one; a JSON `\\ud800` escape makes one). A path
  segment, query parameter, form field, JSON member or the Authorization header's credentials holding
  one is refused with 400 naming it, before a view runs or anything is stored, on every database alike.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Iterable
from urllib.parse import unquote

from flask import Flask, Request, has_request_context, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from sandbox.core.errors import SandboxError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Int64Converter(IntegerConverter):
    """Werkzeug's `int` converter for ids a 64-bit integer column holds: at most 18 digits (below 2**63).
    A longer number matches no route, whatever the method (404), as the control API's ids do."""

    regex = r"[0-9]{1,18}"


class InputRefused(BadRequest, SandboxError):
    """400 naming the field that holds text no database stores (`field`, for the APIs' refusals).

    A JSON body (`invalid_request`) unless the caller prefers HTML, as a browser posting a form does.
    A Werkzeug BadRequest first (so that it answers wherever it is raised, hooks included), and of the
    sandbox's hierarchy (core.errors) for `describe`."""

    status, error, reason = 400, "invalid_request", "unstorable_input"

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"{field}: {problem}; the sandbox stores no such text.")

    @staticmethod
    def _html() -> bool:
        return (
            has_request_context()
            and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
        )

    def get_body(self, environ: Any = None, scope: dict | None = None) -> str:
        if self._html():
            return super().get_body(environ, scope)
        return json.dumps({"error": "invalid_request", "error_description": self.description, "field": self.field})

    def get_headers(self, environ: Any = None, scope: dict | None = None) -> list[tuple[str, str]]:
        if self._html():
            return super().get_headers(environ, scope)
        return [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


def problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "holds a NUL character" if found.group() == "\x00" else "holds a lone surrogate (not a character)"


def _shown(name: str) -> str:
    """A name that may itself hold the bad character, printable in an answer."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def refuse_unstorable_pairs(pairs: Iterable[tuple[str, str]], what: str) -> None:
    """InputRefused for the first name or value (of a query string or form) that cannot be stored."""
    for name, value in pairs:
        why = problem(name) or problem(value)
        if why:
            raise InputRefused(_shown(name) or what, why)


def storable_json(value: Any) -> Any:
    """`value` (a parsed JSON body) as it is, or InputRefused naming the first member holding text
    that cannot be stored (as `a.b.0`, the control API's way of naming a member). Walked with a
    stack, not recursion: a body nested as deep as the parser allows is still answered."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            why = problem(item)
            if why:
                raise InputRefused(where or "body", why)
        elif isinstance(item, dict):
            for key, member in reversed(item.items()):
                inner = f"{where}.{key}" if where else key
                why = problem(key)
                if why:
                    raise InputRefused(_shown(inner), f"the member's name {why}")
                stack.append((inner, member))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), member) for i, member in reversed(list(enumerate(item))))
    return value


def _credentials(header: str) -> str:
    """The Authorization header as the token lookups and client authentication read it: a Basic
    header's base64 decoded and its percent-escapes undone (RFC 6749 2.3.1), as Authlib does."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "basic":
        return header
    try:
        return unquote(base64.b64decode(rest.strip()).decode("utf-8", "replace"))
    except (binascii.Error, ValueError):
        return header


class GuardedRequest(Request):
    """Flask's request, whose form holds only storable text: checked whenever the form is first read
    (after a view's upload limit is set, so an oversize upload is still refused unread)."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        try:
            refuse_unstorable_pairs(self.form.items(multi=True), "form")
        except InputRefused:
            self.__dict__["form"] = self.parameter_storage_class()  # nothing of it is read after the refusal
            raise


def plain(env: dict) -> bool:
    """Does the request carry no NUL in its raw path, query and credentials, and no Basic credentials
    (whose decoded text is looked at)? Then nothing in it needs the guard (the ESPI fast path asks too)."""
    query, auth = env.get("QUERY_STRING", ""), env.get("HTTP_AUTHORIZATION", "")
    return (
        "\x00" not in env.get("PATH_INFO", "")
        and "%00" not in query
        and "\x00" not in query
        and "\x00" not in auth
        and not auth[:6].lower().startswith("basic")
    )


def refuse_unstorable_request() -> None:
    """Path segments (named as the route names them), query parameters and credentials: before any view.
    A URL or header cannot carry a lone surrogate (Werkzeug decodes them with "replace"), so a request
    with no NUL in its raw path, query and bearer credentials is let through at once."""
    if plain(request.environ):
        return
    why = problem(request.path)
    if why:
        named = [k for k, v in (request.view_args or {}).items() if isinstance(v, str) and problem(v)]
        raise InputRefused(named[0] if named else "path", why)
    refuse_unstorable_pairs(request.args.items(multi=True), "query")
    header = request.headers.get("Authorization")
    if header:
        why = problem(_credentials(header)) or problem(header)
        if why:
            raise InputRefused("Authorization", why)


def init_app(app: Flask) -> None:
    """Install the guards on `app` (before its blueprints: URL converters are bound at registration)."""
    app.url_map.converters["int"] = Int64Converter
    app.request_class = GuardedRequest
    app.before_request(refuse_unstorable_request)
