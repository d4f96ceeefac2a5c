"""What a request holds: the running Sandbox, a database session for the rest of the request,
and who is signed in (one entry per role and utility in the Flask session, each the key of a
sign-in kept on the server: services.web_sessions).

The Flask tutorial's `db.py` pattern: every blueprint asks here rather than importing another
blueprint's helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, MutableMapping

from flask import Flask, current_app, g, session
from sqlalchemy.orm import Session

from sandbox.core.errors import NotFound
from sandbox.core.models import Customer, Developer
from sandbox.core.state import Sandbox
from sandbox.services import customers, onboarding, web_sessions
from sandbox.services.notifications.worker import NotificationWorker
from sandbox.services.request_log import Writer

CUSTOMER, STAFF, DEVELOPER = "customer", "staff", "developer"  # the signed-in roles


def sandbox() -> Sandbox:
    """The Sandbox of the current Flask app."""
    return current_app.extensions["sandbox"]


def client_secrets() -> dict[str, str]:
    """client_id -> secret of the current sandbox's seeded clients (a private sandbox's are its own)."""
    from sandbox.services.world import client_secrets as of_world

    sb = sandbox()
    return of_world(sb.db, sb.config.get("SANDBOX_ID") is not None)


def request_log() -> Writer:
    """This process's writer of the request log."""
    return current_app.extensions["request_log"]


def notifier() -> NotificationWorker:
    """This process's notification worker (its retry schedule and target policy are the ones to use)."""
    return current_app.extensions["notifications"]


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


def sign_in(role: str, subject: object) -> None:
    """Sign `subject` (a customer's or developer's id, the staff login) in as `role` at the request's
    utility: a sign-in kept on the server, its key in the cookie (one that was there is ended)."""
    earlier = logged_in(session, role, g.slug)
    key = web_sessions.begin(
        sandbox().db,
        g.utility_id,
        role,
        subject,
        current_app.permanent_session_lifetime,
        replaces=earlier if isinstance(earlier, str) else None,
    )
    remember_login(session, role, g.slug, key)


def sign_out(role: str) -> None:
    """End the sign-in of `role` at the request's utility, on the server and in the cookie."""
    key = logged_in(session, role, g.slug)
    if isinstance(key, str):
        web_sessions.end(sandbox().db, key)
    logout(session, role, g.slug)


def signed_in(role: str, s: Session) -> str | None:
    """Who is signed in as `role` at the request's utility (as sign_in was given it, as text), if
    that sign-in has not ended; one lookup by primary key. An ended one is dropped from the cookie."""
    key = logged_in(session, role, g.slug)
    if key is None:
        return None
    who = (
        web_sessions.subject(s, key, g.utility_id, role, current_app.permanent_session_lifetime)
        if isinstance(key, str)
        else None
    )
    if who is None:
        logout(session, role, g.slug)
    return who


def current_customer() -> Customer | None:
    """The customer signed in at the request's utility (loaded in the request's session), or None."""
    cid = signed_in(CUSTOMER, db_session())
    if cid is None:
        return None
    try:
        return customers.customer_of_utility(db_session(), g.utility_id, int(cid))
    except NotFound:
        logout(session, CUSTOMER, g.slug)
        return None


def enter_customer(customer: Customer) -> None:
    """Put the signed-in customer and their account's state in g for the page (the portal's and
    the OAuth pages that look like it)."""
    g.customer = customer
    g.today = sandbox().clock.today(g.utility.time_zone)
    g.account_state = customers.account_state(customer, g.today)


def customer_globals() -> dict[str, Any]:
    """Template globals of the pages a customer sees (context processor)."""
    return {
        "customer": g.get("customer"),
        "account_state": g.get("account_state"),
        "today": g.get("today"),
        "one_day": dt.timedelta(days=1),
    }


def current_developer() -> Developer | None:
    """The developer signed in at the request's utility, or None."""
    with sandbox().db.sessions() as s:
        dev_id = signed_in(DEVELOPER, s)
        if dev_id is None:
            return None
        try:
            return onboarding.developer(s, g.utility_id, int(dev_id))
        except NotFound:
            logout(session, DEVELOPER, g.slug)
            return None


def current_staff() -> str | None:
    """The staff login signed in at the request's utility, or None."""
    return signed_in(STAFF, db_session())
