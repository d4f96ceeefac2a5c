"""What every blueprint under /dc/<slug>/ shares: the utility of the URL in flask.g, its
`utility` in templates and the `local` time filter, signing in and out, and upload limits."""

from __future__ import annotations

import datetime as dt
from typing import Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from sandbox.services.world import utility_id as stored_utility_id
from sandbox.synth.world import UtilityDef
from sandbox.web import context
from sandbox.web.context import sandbox


def _utility_id(slug: str) -> int | None:
    """The utility's row id. Only setting the world (seed, reset) changes it, so the ids are kept
    per world object and asked from the database once per slug."""
    sb = sandbox()
    world, ids = current_app.extensions.get("utility_ids", (None, None))
    if ids is None or world is not sb.world:
        ids = {}
        current_app.extensions["utility_ids"] = (sb.world, ids)
    if ids.get(slug) is None:  # a missing row is not kept: another process may be rebuilding the world
        ids[slug] = stored_utility_id(sb.db, slug)
    return ids[slug]


def utility_row_id(slug: str) -> int | None:
    """The utility's row id, or None when the slug names no utility of this world."""
    try:
        sandbox().require_world().utility(slug)
    except KeyError:
        return None
    return _utility_id(slug)


def find_utility(slug: str) -> tuple[UtilityDef, int]:
    """The utility of the URL and its row id; 404 if this world has none of that slug."""
    try:
        utility = sandbox().require_world().utility(slug)
    except KeyError:
        abort(404, description=f"No utility '{slug}' in this sandbox.")
    row_id = _utility_id(slug)
    if row_id is None:
        abort(404, description=f"No utility '{slug}' in this sandbox.")
    return utility, row_id


def load_utility(slug: str) -> None:
    """Put the utility of the URL in g for a page's request (UtilityDef as g.utility, its row id as
    g.utility_id); 404 if unknown. An ESPI call carries its own (web.call)."""
    g.utility, g.utility_id = find_utility(slug)
    g.slug = slug


def local(when: dt.datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A stored (naive UTC) or aware time in the utility's local time (the `local` template filter)."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(ZoneInfo(g.utility.time_zone)).strftime(fmt)


def utility_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint whose URLs start with /dc/<slug>/: the slug loads the utility and fills itself in url_for;
    its templates get `utility` and the `local` filter."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.add_app_template_filter(local, "local")

    @bp.url_value_preprocessor
    def _pull_slug(endpoint, values):
        load_utility(values.pop("slug"))

    @bp.url_defaults
    def _add_slug(endpoint, values):
        if "slug" not in values and getattr(g, "slug", None):
            values["slug"] = g.slug

    @bp.context_processor
    def _utility():
        return {"utility": g.get("utility")}

    return bp


# --- signing in and out -------------------------------------------------------------------


def lock_message(result) -> str:
    """What a sign-in page says when the login is locked (an signin.LoginResult or
    onboarding.DeveloperLogin): why, and when to try again in the utility's local time."""
    return f"{result.error} Try again after {local(result.locked_until, '%H:%M')}."


def locked_out(page: Response, until: dt.datetime | None) -> Response:
    """A sign-in page refused because the login is locked: 429 with Retry-After (sandbox clock; a lock
    without an end, which sign-in never makes, asks for a second)."""
    page.status_code = 429
    left = (until - sandbox().clock.now()).total_seconds() if until is not None else 1
    page.headers["Retry-After"] = str(max(1, int(left)))
    return page


def sign_out(role: str, message: str, home: str) -> WerkzeugResponse:
    """End the role's sign-in at this utility, say so, and go to the site's home page (endpoint `home`)."""
    context.sign_out(role)
    flash(message, "info")
    return redirect(url_for(home), 303)


# --- uploads ------------------------------------------------------------------------------


def upload_limit(limit: int | Callable[[], int]):
    """Mark a view that takes an upload: its request body may be at most `limit` bytes (or what
    `limit()` returns, asked at each request). The app's CSRF hook sets the limit before it reads
    the form, so a larger upload is refused with 413 before its body is read."""

    def mark(view):
        view.upload_limit = limit
        return view

    return mark


def request_limit(view) -> int | None:
    """The upload limit of a view marked with `upload_limit`, else None."""
    limit = getattr(view, "upload_limit", None)
    return limit() if callable(limit) else limit
