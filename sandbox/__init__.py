"""Green Button Sandbox: a fake utility (ESPI Data Custodian) for developers and CI."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import click
from flask import Flask, current_app

from .clock import Clock
from .config import ROOT, load_config
from .db import Database
from .synth.world import WorldDef
from .version import __version__

# CLI commands that build the world themselves: creating the app for them must not seed.
_SEEDING_COMMANDS = {"seed", "reset"}


@dataclass
class Sandbox:
    """What the running sandbox holds besides Flask: configuration, database, clock, world."""

    config: dict[str, Any]
    db: Database
    clock: Clock
    world: WorldDef | None = None
    seeded_at: str | None = None  # ISO time the database's world was built

    def require_world(self) -> WorldDef:
        if self.world is None:
            raise RuntimeError("the database holds no world yet: run `flask --app sandbox seed`")
        return self.world


def sandbox() -> Sandbox:
    """The Sandbox of the current Flask app."""
    return current_app.extensions["sandbox"]


def database_url(value: str | None, instance_path: str) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (None: the instance folder's sandbox.db)."""
    if not value:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'sandbox.db'}"
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).resolve()}"


def _running_cli_command() -> str | None:
    ctx = click.get_current_context(silent=True)
    return ctx.info_name if ctx is not None else None


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app. `config` is the top layer over defaults and SANDBOX_* variables.

    An empty database is seeded with the world from seed_data/ (AUTO_SEED); with
    RESET the world is rebuilt even if the database holds one.
    """
    from .seeding import seed_world, stored_world
    from .synth.world import read_seed_dir

    cfg = load_config(config)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    cfg["DATABASE_URL"] = database_url(cfg["DATABASE_URL"], app.instance_path)
    db = Database(cfg["DATABASE_URL"])
    state = Sandbox(cfg, db, clock or Clock())
    app.extensions["sandbox"] = state
    world = None if cfg["RESET"] else stored_world(db)
    if world is None and cfg["AUTO_SEED"] and _running_cli_command() not in _SEEDING_COMMANDS:
        seed_dir = cfg["SEED_DATA"]
        world = seed_world(db, read_seed_dir(seed_dir), state.clock, seed=cfg["SEED"], customers=cfg["CUSTOMERS"],
                           origin=str(seed_dir))
    elif world is not None and cfg["SEED"] is not None and cfg["SEED"] != world.seed:
        print(f"note: the database holds the world of seed {world.seed}; restart with --reset to use seed {cfg['SEED']}",
              file=sys.stderr)
    state.world = world
    secret, seeded_at = _stored_state(db)
    state.seeded_at = seeded_at
    app.config.update(
        SECRET_KEY=cfg["SECRET_KEY"] or secret or "unseeded",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.json.sort_keys = False

    from .cli import register_commands
    from .web import register_blueprints

    _init_csrf(app)
    register_blueprints(app)
    register_commands(app)

    @app.context_processor
    def _globals():
        return {"sandbox_version": __version__}

    @app.after_request
    def _version_header(response):
        response.headers["X-Sandbox-Version"] = __version__
        return response

    return app


# Machine-to-machine endpoints that authenticate otherwise (client credentials, bearer tokens):
# the OAuth token and revocation endpoints, the ESPI REST API and the control API.
_CSRF_EXEMPT = re.compile(r"^/(?:dc/[^/]+/(?:oauth/(?:token|revoke)(?:/|$)|espi/)|sandbox-api/)")


def _init_csrf(app: Flask) -> None:
    """A CSRF token on every HTML form (Flask-WTF; templates call csrf_token()).

    The check runs before every POST/PUT/PATCH/DELETE except on the API paths above (and on
    views marked with `app.extensions["csrf"].exempt`). A view marked with `web.utility.upload_limit`
    gets its request size limit first, so an oversize upload is refused (413) before the body is read.
    """
    from flask import request
    from flask_wtf.csrf import CSRFProtect

    from .web.utility import request_limit

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_protect():
        limit = request_limit(current_app.view_functions.get(request.endpoint))
        if limit is not None:
            request.max_content_length = limit
        if not _CSRF_EXEMPT.match(request.path):
            csrf.protect(apply_exemptions=True)


def _stored_state(db: Database) -> tuple[str | None, str | None]:
    """(session secret, seeding time) kept with the world in the database."""
    from .models import WorldState

    if not db.has_table(WorldState.__tablename__):
        return None, None
    with db.sessions() as s:
        st = s.get(WorldState, 1)
        if st is None:
            return None, None
        return st.secret_key, st.seeded_at.isoformat() + "Z"


__all__ = ["create_app", "sandbox", "Sandbox", "__version__"]
