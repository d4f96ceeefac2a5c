"""The WSGI app for process managers that run several worker processes, such as gunicorn:

    flask --app sandbox seed                           # once: build the world (SANDBOX_DATABASE_URL)
    gunicorn -w 4 -b 127.0.0.1:8080 'sandbox.wsgi:app'

`app` (also `application`, the name mod_wsgi and uWSGI look for) is built with the app factory
from the environment: SANDBOX_DATABASE_URL, SANDBOX_SECRET_KEY, SANDBOX_PUBLIC_URL and the rest as
the README lists them (the host and port are the process manager's, e.g. gunicorn's `-b`).

Several processes agree on everything only because everything is in the database: customers,
applications, tokens, authorizations, sign-in lock-outs, and the session secret kept with the
world (so a session cookie or CSRF token made by one worker is good at every other). Use
PostgreSQL for this. The sandbox clock is kept there too, and each process runs a notification
worker from its first request on: the outbox's leases let each notification be delivered once. Set SANDBOX_PUBLIC_URL to the
address third parties use, so that notifications name it (a process manager's address is not
known to the app).

Seeding is a step of its own, never a worker's. Every worker imports this module at once, and
seeding drops and recreates every table: two workers seeding together would destroy each other's
world, and each would keep a different session secret. So an app built here never seeds (AUTO_SEED
off), and a worker that finds no complete world stops with NoWorldError, naming the command to
run, rather than waiting for one. That is what serious deployments do: schema and data are built by
a one-off release step (as `manage.py migrate` or `alembic upgrade` are run before the web
workers start), and the workers only use them. Waiting would turn a forgotten step or a wrong
database URL into a server that hangs with no message, and gunicorn kills a worker that has not
finished booting within --timeout (30 s) anyway, so a worker could neither seed a large world nor
wait for one. An exception while loading makes gunicorn stop with "Worker failed to boot" and
the message, instead of starting workers that would fail again.

Reseeding under running workers leaves them with the old world and secret: restart the process
manager (for gunicorn, `kill -HUP` its master) after `flask --app sandbox seed`.
"""

from __future__ import annotations

import gc

from flask import Flask

from sandbox import create_app
from sandbox.core.errors import NoWorldError
from sandbox.core.state import Sandbox
from sandbox.services import request_log
from sandbox.web import request_hooks


def build_app() -> Flask:
    """The app over the environment's database, which must already hold a world."""
    app = create_app({"AUTO_SEED": False})  # a database of another schema version raises SchemaError
    sb: Sandbox = app.extensions["sandbox"]
    # Start every process with an empty connection pool: with gunicorn --preload this module runs
    # in the master before it forks, and a connection must never be shared by two processes.
    sb.db.dispose()
    if sb.world is None:
        where = sb.db.engine.url.render_as_string(hide_password=True)
        raise NoWorldError(
            f"the database {where} holds no complete world, and a worker process never seeds one (workers "
            "started together would race to). Seed it once before starting the workers, with the same "
            "SANDBOX_DATABASE_URL: flask --app sandbox seed [--customers N]"
        )
    request_log.several_processes()  # a reader of the request log waits for the other workers' calls
    worker = app.extensions["notifications"]

    def _notifier_running():
        # each serving process runs its own (started at its first request, so never before a fork: a thread
        # and its pooled connections would not survive one)
        if not worker.running:
            worker.start()

    request_hooks.on_request(app, _notifier_running)  # by either path (web.fast_path's too)
    app.extensions["private_sandboxes"].notify = True  # a private sandbox's app runs its own, where it is built

    return app


app = build_app()
gc.freeze()  # what loading made lives as long as the process: no full collection of it in a first call
application = app
