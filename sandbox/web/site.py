"""The sandbox's own pages: home, health check and the utility directory."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from sandbox.services import signin
from sandbox.services.customers import normalise_postal_code
from sandbox.services.world import DEMO_CLIENT_ID, describe, utilities_serving
from sandbox.synth.people import DEMO_PASSWORD, DEMO_USERNAME
from sandbox.version import __version__
from sandbox.web.context import client_secrets, sandbox

bp = Blueprint("site", __name__)


@bp.get("/healthz")
def healthz():
    sb = sandbox()
    world = sb.world
    body: dict[str, object] = {"status": "ok" if world is not None else "unseeded", "version": __version__}
    if world is not None:
        body["seed"] = world.seed
        body["seeded_at"] = sb.seeded_at
        body["utilities"] = len(world.utilities)
    return jsonify(body), 200 if world is not None else 503


@bp.get("/utilities")
def utilities():
    world = sandbox().require_world()
    code = request.args.get("postal_code")
    if code is not None:
        code = normalise_postal_code(code)
        if not code or not code.isalnum() or len(code) > 10:
            return jsonify(
                error="invalid_request",
                error_description="postal_code must be 1 to 10 letters and digits, e.g. 94612 or S4P 3Y2",
            ), 400
    found = utilities_serving(world, code)
    return jsonify(postal_code=code, utilities=[describe(u, request.url_root) for u in found])


@bp.get("/")
def home():
    world = sandbox().require_world()
    return render_template(
        "site/index.html",
        utilities=[describe(u, request.url_root) | {"def": u} for u in world.utilities],
        demo_username=DEMO_USERNAME,
        demo_password=DEMO_PASSWORD,
        staff_username=signin.STAFF_USERNAME,
        staff_password=signin.STAFF_PASSWORD,
        client_id=DEMO_CLIENT_ID,
        client_secret=client_secrets()[DEMO_CLIENT_ID],
        version=__version__,
        seed=world.seed,
        signup=_signup(),
    )


def _signup() -> dict | None:
    """The home page's "Create my sandbox" (the deployment's, under open sign-up) and the sandboxes this
    browser made that still live."""
    from sandbox.web import signup

    sb = sandbox()
    registry = current_app.extensions.get("sandboxes")
    if registry is None or not sb.config.get("OPEN_SIGNUP"):
        return None
    return {"own": [record for sandbox_id in signup.own() if (record := registry.get(sandbox_id)) is not None]}


@bp.get("/utilities.css")
def utility_colours():
    """Each utility's colours as classes, for pages whose CSP allows no inline style (web.security)."""
    resp = Response(
        render_template("site/utilities.css", utilities=sandbox().require_world().utilities), mimetype="text/css"
    )
    resp.headers["Cache-Control"] = "no-cache"
    resp.add_etag()
    return resp.make_conditional(request)
