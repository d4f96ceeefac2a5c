"""The sandbox's own pages: home, health check and the utility directory."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from .. import accounts, sandbox
from ..directory import describe, normalise_postal_code, utilities_serving
from ..seeding import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ..synth.people import DEMO_PASSWORD, DEMO_USERNAME
from ..version import __version__

bp = Blueprint("site", __name__)


def _abs(path: str) -> str:
    return request.host_url.rstrip("/") + path


@bp.get("/healthz")
def healthz():
    sb = sandbox()
    ok = sb.world is not None
    body = {"status": "ok" if ok else "unseeded", "version": __version__}
    if ok:
        body["seed"] = sb.world.seed
        body["seeded_at"] = sb.seeded_at
        body["utilities"] = len(sb.world.utilities)
    return jsonify(body), 200 if ok else 503


@bp.get("/utilities")
def utilities():
    world = sandbox().require_world()
    code = request.args.get("postal_code")
    if code is not None:
        code = normalise_postal_code(code)
        if not code or not code.isalnum() or len(code) > 10:
            return jsonify(error="invalid_request",
                           error_description="postal_code must be 1 to 10 letters and digits, e.g. 94612 or S4P 3Y2"), 400
    found = utilities_serving(world, code)
    return jsonify(postal_code=code, utilities=[describe(u, _abs) for u in found])


@bp.get("/")
def home():
    world = sandbox().require_world()
    return render_template("site/index.html", utilities=[describe(u, _abs) | {"def": u} for u in world.utilities],
                           demo_username=DEMO_USERNAME, demo_password=DEMO_PASSWORD, staff_username=accounts.STAFF_USERNAME,
                           staff_password=accounts.STAFF_PASSWORD, client_id=DEMO_CLIENT_ID,
                           client_secret=DEMO_CLIENT_SECRET, version=__version__, seed=world.seed)
