"""The deployment's self-service pages: "Create my sandbox" on the home page when open sign-up is on
(SANDBOX_OPEN_SIGNUP), and each sandbox's page for the browser that made it: its links, keys, demo
logins and expiry, with buttons to extend or delete it. The sandbox's admin key is kept in that
browser's session (signed, HttpOnly): whoever else opens the page's URL gets a 404. The same service
as the control API makes, extends and deletes them (services.sandboxes).
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for

from sandbox.core.errors import QuotaExceeded
from sandbox.core.models import SandboxRecord
from sandbox.services import sandboxes
from sandbox.services.world import DEMO_CLIENT_ID, OWN_CLIENTS, client_secrets, describe
from sandbox.synth.people import DEMO_PASSWORD, DEMO_USERNAME
from sandbox.web.context import sandbox

bp = Blueprint("signup", __name__)
OWN = "own_sandboxes"  # in the session: {sandbox id: its admin key}, the sandboxes this browser made
EXTEND = 7 * 86400.0  # what the page's "extend" adds: a week (up to the longest life, MAX_TTL)


def _registry() -> sandboxes.Registry:
    registry = current_app.extensions.get("sandboxes")
    if registry is None or not sandbox().config.get("OPEN_SIGNUP"):
        abort(404)
    return registry


def own() -> dict[str, str]:
    return dict(session.get(OWN) or {})


@bp.post("/sandboxes")
def create():
    registry = _registry()
    try:
        made = registry.create(sandboxes.Options(label="made in the browser"), int(sandbox().config["MAX_SANDBOXES"]))
    except QuotaExceeded:
        flash("This deployment holds as many sandboxes as it may at once: try again later.", "error")
        return redirect(url_for("site.home"), 303)
    live = {k: v for k, v in own().items() if registry.get(k) is not None}  # the cookie stays small
    session[OWN] = {**live, made.record.id: made.admin_key}
    return redirect(url_for("signup.page", sandbox_id=made.record.id), 303)


def _mine(sandbox_id: str) -> tuple[sandboxes.Registry, SandboxRecord, str]:
    """The registry, the live sandbox and its admin key, if this browser made it (else 404)."""
    registry = _registry()
    key = own().get(sandbox_id)
    record = registry.get(sandbox_id) if key is not None else None
    if record is None or key is None:
        abort(404)
    return registry, record, key


@bp.get("/sandboxes/<sandbox_id>")
def page(sandbox_id: str):
    _, record, key = _mine(sandbox_id)
    app = current_app.extensions["private_sandboxes"].built(record)
    base = f"{request.url_root.rstrip('/')}/s/{sandbox_id}/"
    world = app.extensions["sandbox"].require_world()
    secrets = client_secrets(app.extensions["sandbox"].db, private=True)
    return render_template(
        "site/sandbox.html",
        record=record,
        base_url=base,
        admin_key=key,
        expires_at=sandboxes.iso(record.expires),
        utilities=[describe(u, base) for u in world.utilities],
        demo_username=DEMO_USERNAME,
        demo_password=DEMO_PASSWORD,
        client_id=DEMO_CLIENT_ID,
        client_secret=secrets[DEMO_CLIENT_ID],
        own_clients=[(c, secrets[c], name) for c, _, _, name in OWN_CLIENTS],
    )


@bp.post("/sandboxes/<sandbox_id>/extend")
def extend(sandbox_id: str):
    registry, record, _ = _mine(sandbox_id)
    left = record.expires - time.time()
    registry.extend(sandbox_id, min(sandboxes.MAX_TTL, left + EXTEND))
    flash("Extended by a week." if left + EXTEND <= sandboxes.MAX_TTL else "Extended as far as it goes.", "info")
    return redirect(url_for("signup.page", sandbox_id=sandbox_id), 303)


@bp.post("/sandboxes/<sandbox_id>/delete")
def delete(sandbox_id: str):
    registry, _, _ = _mine(sandbox_id)
    current_app.extensions["private_sandboxes"].close(sandbox_id)
    registry.delete(sandbox_id)
    session[OWN] = {k: v for k, v in own().items() if k != sandbox_id}
    flash("Deleted: its world and every key of it are gone.", "info")
    return redirect(url_for("site.home"), 303)
