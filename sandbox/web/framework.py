"""Flask as the sandbox runs it: the same framework, minus two costs it pays on every request that
the sandbox's requests never need paid twice (bench/bench_floor.py measures the per-call cost).

- `ensure_sync` (Flask's documented override point) asks `inspect.iscoroutinefunction` of every
  hook and view on every request; the sandbox's are plain functions, so the answer is kept per
  function.
- The cookie session's signing serializer is built anew for every request, a signed cookie or not;
  it depends on the secret keys only, so it is kept until they change; a request with no cookie
  (an API client's) gets its empty session at once, and an empty session nobody touched is not saved.
"""

from __future__ import annotations

import types
from typing import Any, Callable

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class KeptSerializerSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, their serializer made once per set of secret keys."""

    def __init__(self) -> None:
        self._kept: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        kept = self._kept
        if kept is not None and kept[0] == keys:
            return kept[1]
        made = super().get_signing_serializer(app)
        self._kept = (keys, made)
        return made

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A request with no cookie at all (an API client's) gets an empty session without parsing one."""
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """A session left empty and untouched (every API call's) has nothing to write: Flask's own
        method would work out the cookie's seven settings first and then do nothing."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


class SandboxFlask(Flask):
    """The sandbox's Flask app class."""

    session_interface = KeptSerializerSessions()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = KeptSerializerSessions()  # one per app: its keys are the app's
        self._synced: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if type(func) is not types.FunctionType:  # a bound method is made anew at each access: not kept
            return super().ensure_sync(func)
        found = self._synced.get(func)
        if found is None:
            found = self._synced[func] = super().ensure_sync(func)
        return found
