"""What every blueprint under /dc/<slug>/ shares: the utility of the URL, in flask.g."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, g

from .. import accounts, sandbox


def load_utility(slug: str) -> None:
    """Put the utility of the URL in g (UtilityDef as g.utility, its row id as g.utility_id); 404 if unknown."""
    sb = sandbox()
    try:
        g.utility = sb.require_world().utility(slug)
    except KeyError:
        abort(404, description=f"No utility '{slug}' in this sandbox.")
    g.utility_id = accounts.utility_id(sb.db, slug)
    if g.utility_id is None:
        abort(404, description=f"No utility '{slug}' in this sandbox.")
    g.slug = slug


def utility_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint whose URLs start with /dc/<slug>/: the slug loads the utility and fills itself in url_for."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    @bp.url_value_preprocessor
    def _pull_slug(endpoint, values):
        load_utility(values.pop("slug"))

    @bp.url_defaults
    def _add_slug(endpoint, values):
        if "slug" not in values and getattr(g, "slug", None):
            values["slug"] = g.slug

    return bp


def locked_out(resp, until: dt.datetime) -> Response:
    """A sign-in refused because the login is locked: 429 with Retry-After (sandbox clock)."""
    if isinstance(resp, tuple):  # (body, status) as views return it
        resp = Response(*resp)
    resp.status_code = 429
    resp.headers["Retry-After"] = str(max(1, int((until - sandbox().clock.now()).total_seconds())))
    return resp
