"""The app factory: configuration, database, clock and world into one Flask app, with its
blueprints, CLI commands, CSRF protection and version header."""

from __future__ import annotations

import re
import secrets
import sys
from typing import Any, Mapping

import click
from flask import Flask, current_app, request
from flask.cli import ScriptInfo
from flask.json.provider import DefaultJSONProvider

from sandbox.core.clock import Clock
from sandbox.core.clock_store import DatabaseClockStore
from sandbox.core.config import ROOT, load_config
from sandbox.core.db import Database, SchemaError
from sandbox.core.state import Sandbox, database_url
from sandbox.core.world_templates import WorldTemplates
from sandbox.synth.world import WorldDef
from sandbox.version import __version__
from sandbox.web.framework import SandboxFlask
from sandbox.web.routing import RULE_CLASS


class _InOrderJSON(DefaultJSONProvider):
    """JSON answers keep the order their members are written in (an OAuth token response reads
    access_token first, as clients' logs show it). A JSON body holding text no database stores
    (a NUL, a lone surrogate) is refused naming the member (input_guards)."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from sandbox.web.input_guards import storable_json

        return storable_json(super().loads(s, **kwargs))


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app. `config` is the top layer over defaults and SANDBOX_* variables.

    An empty database is seeded with the world from seed_data/ (AUTO_SEED); with RESET the world
    is rebuilt even if the database holds one. A database made at another schema version is
    refused (SchemaError). Under the `flask` command the world is prepared when a command first
    needs it, so that `seed` and `reset` can rebuild a database no other command may use.
    """
    from sandbox.services.world import seed_world, stored_state, stored_world
    from sandbox.synth.world import read_seed_dir

    cfg = load_config(config)
    app = SandboxFlask("sandbox", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.url_rule_class = RULE_CLASS  # URL builders compiled at their first url_for, not for each of 141 rules
    cfg["DATABASE_URL"] = database_url(cfg["DATABASE_URL"], app.instance_path)
    db = Database(cfg["DATABASE_URL"])
    from sandbox.services.quotas import Quotas

    db.quotas = Quotas.of(cfg)  # a private sandbox's (None: the default's has none)
    problem = None if cfg["RESET"] else db.schema_problem()
    under_cli = _under_flask_command()
    if problem and not under_cli:
        raise SchemaError(problem)
    store = DatabaseClockStore(db)
    state = Sandbox(cfg, db, clock or Clock(store=store), templates=WorldTemplates.configured(cfg["WORLD_CACHE"]))
    app.extensions["sandbox"] = state
    from sandbox.services.request_log import Writer

    app.extensions["request_log"] = Writer(db)  # the ESPI calls this process answers, written in batches
    from sandbox.web.faults import slow_gate

    app.extensions["slow_calls"] = slow_gate(cfg)  # the calls the `slow` fault may delay at once
    from sandbox.services.notifications.outbox import Schedule
    from sandbox.services.notifications.posting import TargetPolicy
    from sandbox.services.notifications.worker import NotificationWorker

    # started by run.py and the WSGI module; a test steps it or starts it itself
    app.extensions["notifications"] = NotificationWorker(
        state, Schedule.of(cfg), TargetPolicy.for_listener(cfg["HOST"], cfg["NOTIFY_ALLOW"])
    )
    from sandbox.services.conformance import runs

    def conformance_runs() -> None:  # stepped with the notifications: a run's checks wait on them
        if state.world is not None:
            runs.step(runs.Where(db, state.world, state.clock, state.base_url(), app.extensions["request_log"].flush))

    app.extensions["notifications"].also.append(conformance_runs)

    def prepare() -> WorldDef | None:
        if problem:
            raise SchemaError(problem)
        world = None if cfg["RESET"] else stored_world(db)
        if world is None and cfg["AUTO_SEED"]:
            seed_dir = cfg["SEED_DATA"]
            world = seed_world(
                db,
                read_seed_dir(seed_dir),
                state.clock,
                seed=cfg["SEED"],
                customers=cfg["CUSTOMERS"],
                origin=str(seed_dir),
                templates=state.templates,
            )
        elif world is not None and cfg["SEED"] is not None and cfg["SEED"] != world.seed:
            print(
                f"note: the database holds the world of seed {world.seed}; restart with --reset to use seed "
                f"{cfg['SEED']}",
                file=sys.stderr,
            )
        if clock is not None:  # a clock handed in (a test's) says what time it is, to every process
            clock.bind(store)
        # the control API's key: configured, else the world's (made when it was seeded)
        state.admin_key = cfg["ADMIN_KEY"] or (stored_state(db)[2] if world is not None else None)
        return world

    if under_cli:
        state.prepare = prepare
    else:
        state.world = prepare()
    secret, seeded_at, _ = stored_state(db) if not problem else (None, None, None)
    state.seeded_at = seeded_at
    app.config.update(
        # configured, else kept with the world, else random for this process: never guessable
        SECRET_KEY=cfg["SECRET_KEY"] or secret or secrets.token_hex(32),
        TESTING=bool(cfg["TESTING"]),
    )
    app.json = _InOrderJSON(app)

    from sandbox.cli import register_commands
    from sandbox.web import (
        context,
        errors,
        espi_http,
        hosts,
        input_guards,
        limits,
        memory,
        register_blueprints,
        request_hooks,
        resets,
        security,
    )
    from sandbox.web.fast_path import FastPath

    # an ESPI GET answered without Flask's request context, else Flask (ESPI_FAST_PATH off: always Flask)
    app.extensions["fast_path"] = fast = FastPath(app, app.wsgi_app)
    app.wsgi_app = memory.ReturnsMemory(fast)  # type: ignore[method-assign]
    app.wsgi_app = espi_http.without_trailing_slash(app.wsgi_app)  # type: ignore[method-assign]
    if cfg["SANDBOX_ID"] is None:  # the default sandbox: the deployment's, with its private ones under /s/{id}/
        from sandbox.services.sandboxes import Registry
        from sandbox.web.private import PrivateSandboxes

        app.extensions["sandboxes"] = Registry(db, lambda: read_seed_dir(cfg["SEED_DATA"]), state.templates)
        app.extensions["private_sandboxes"] = app.wsgi_app = PrivateSandboxes(app, app.wsgi_app, create_app)  # type: ignore[method-assign]
        app.extensions["notifications"].also.append(app.wsgi_app.deliver_due)  # private sandboxes' due ones too
        hosts.secure_wsgi(app, cfg)  # the hosts answered and the proxy hops believed (a private sandbox's too)
    resets.init_app(app)
    request_hooks.init_app(app)  # first: no request touches the database while this process resets the world
    context.init_app(app)
    input_guards.init_app(app)  # before the blueprints: it bounds the URL converters their rules use
    security.init_app(app)
    errors.init_app(app)  # every sandbox exception on the APIs answered by what it carries
    _init_csrf(app)
    register_blueprints(app)
    limits.init_app(app)  # after the blueprints: it wraps their views by endpoint
    register_commands(app)

    @app.context_processor
    def _globals():
        return {"sandbox_version": __version__}

    return app


# Machine-to-machine endpoints that authenticate otherwise (client credentials, bearer tokens):
# the OAuth token and revocation endpoints, the ESPI REST API and the control API.
_CSRF_EXEMPT = re.compile(r"^/(?:dc/[^/]+/(?:oauth/(?:token|revoke|introspect)(?:/|$)|espi/)|sandbox-api/)")


def _init_csrf(app: Flask) -> None:
    """A CSRF token on every HTML form (Flask-WTF; templates call csrf_token()).

    The check runs before every POST/PUT/PATCH/DELETE except on the API paths above (and on
    views marked with `app.extensions["csrf"].exempt`). A view marked with `web.utility.upload_limit`
    gets its request size limit first, so an oversize upload is refused (413) before the body is read.
    """
    from flask_wtf.csrf import CSRFProtect

    from sandbox.web.utility import request_limit

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_protect():
        limit = request_limit(current_app.view_functions.get(request.endpoint or ""))
        if limit is not None:
            request.max_content_length = limit
        if not _CSRF_EXEMPT.match(request.path):
            csrf.protect(apply_exemptions=True)


def _under_flask_command() -> bool:
    """Is the app being built by the `flask` command (which prepares the world only for a command
    that needs it)? Asked of click's context object, not of click alone: servers built on click
    (granian, uvicorn) import the app inside a click context of their own."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.find_object(ScriptInfo) is not None
