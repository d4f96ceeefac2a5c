"""What a request holds: the running Sandbox, a database session for the rest of the request,
and who is signed in (one entry per role and utility in the Flask session).

The Flask tutorial's `db.py` pattern: every blueprint asks here rather than importing another
blueprint's helpers.
"""
from __future__ import annotations

from typing import Any, MutableMapping

from flask import Flask, current_app, g, session
from sqlalchemy.orm import Session

from sandbox.core.state import Sandbox

CUSTOMER, STAFF, DEVELOPER = "customer", "staff", "developer"  # the signed-in roles


def sandbox() -> Sandbox:
    """The Sandbox of the current Flask app."""
    return current_app.extensions["sandbox"]


def db_session() -> Session:
    """A read session kept open for the rest of the request (imported readings load lazily
    through the customer's usage points). Changes go through the services' own transactions."""
    if "db_session" not in g:
        g.db_session = sandbox().db.sessions()
    return g.db_session


def fresh_db_session() -> Session:
    """Close the request's session (after a change made elsewhere) and start another."""
    old = g.pop("db_session", None)
    if old is not None:
        old.close()
    return db_session()


def close_db_session(_exc: BaseException | None = None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db_session)


# --- who is signed in ---------------------------------------------------------------------

def remember_login(store: MutableMapping, role: str, slug: str, value: Any) -> None:
    """Record a sign-in in a session-like mapping: one entry per role and utility, so a customer
    signed in at one utility is not signed in at another."""
    logins = dict(store.get(role) or {})
    logins[slug] = value
    store[role] = logins


def logged_in(store: MutableMapping, role: str, slug: str) -> Any:
    return (store.get(role) or {}).get(slug)


def logout(store: MutableMapping, role: str, slug: str) -> None:
    """Forget the sign-in of `role` at one utility only."""
    logins = dict(store.get(role) or {})
    logins.pop(slug, None)
    store[role] = logins


def signed_in(role: str) -> Any:
    """Who is signed in as `role` at the request's utility (g.slug), from the Flask session."""
    return logged_in(session, role, g.slug)
