"""Private sandboxes over HTTP: every request under /s/{id}/ answered by that sandbox's own app.

Each private sandbox is served by an app of its own (`create_app` over its world's database, with
everything of the default sandbox's: portal, developer portal, OAuth, registration, the ESPI API,
its own control API and request log), so that nothing a request reaches can be another sandbox's.
The dispatcher moves `/s/{id}` from PATH_INFO to SCRIPT_NAME: every URL the sandbox writes from its
request (hrefs, resourceURI, redirects, url_for) then carries the prefix. It sits inside the default
app's host check and proxy headers, which every sandbox shares.

A process builds a sandbox's app when first asked for and keeps at most RESIDENT of them (the least
recently used is closed first: its notification worker stopped, its connections closed). Whether a
sandbox lives is read from the registry at every request, through the default database's kept
values (core.changes), so a sandbox deleted by any process answers 404 at the next request, and an
expired one at once. Expired sandboxes are deleted by whichever process notices first, at most
COLLECT_EVERY seconds apart.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterable

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from sandbox.core.changes import kept
from sandbox.core.errors import SandboxError
from sandbox.core.models import SandboxRecord
from sandbox.services.conformance import runs
from sandbox.services.notifications import outbox
from sandbox.services.notifications.worker import NotificationWorker
from sandbox.services.sandboxes import ID_PATTERN, Registry, world_url

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)
PREFIX = "/s/"
RESIDENT = 32  # sandbox apps a process keeps built (on PostgreSQL each holds up to 4 pooled connections and 1 more)
COLLECT_EVERY = 30.0  # seconds between two looks for expired sandboxes (rows gone within a minute)


class PrivateSandboxes:
    """WSGI middleware of the default sandbox's app: /s/{id}/... to sandbox {id}'s app, the rest to it."""

    def __init__(self, app: Flask, default_wsgi: WSGIApplication, factory: Callable[[dict[str, Any]], Flask]):
        self.app = app
        self.default = default_wsgi
        self.factory = factory  # the app factory (web.app.create_app), handed in: that module builds this one
        self._apps: OrderedDict[str, Flask] = OrderedDict()
        self._lock = threading.Lock()
        self._building = threading.Lock()
        self._collected = 0.0
        # each sandbox's notifications delivered by the processes that serve it (set by the servers:
        # run.py's workers, the WSGI module; a test steps a sandbox's worker itself)
        self.notify = False
        self.now: Callable[[], float] = time.time  # real time (a test's may run ahead)
        self.collecting: threading.Thread | None = None  # the latest look for expired sandboxes

    @property
    def registry(self) -> Registry:
        return self.app.extensions["sandboxes"]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.default(environ, start_response)
        sandbox_id, slash, rest = path[len(PREFIX) :].partition("/")
        now = self.now()
        self._collect_now_and_then(now)
        record = self.record(sandbox_id, now)
        if record is None:
            self.close(sandbox_id)
            return _no_sandbox(sandbox_id)(environ, start_response)
        if not slash:  # /s/{id}: the sandbox's home, as / is the default's
            query = environ.get("QUERY_STRING")
            location = f"{environ.get('SCRIPT_NAME', '')}{PREFIX}{sandbox_id}/" + (f"?{query}" if query else "")
            return Response(status=308, headers={"Location": location})(environ, start_response)
        try:
            private = self.built(record)
        except SandboxError as exc:  # its database of another schema version, say: said, never a bare 500
            return _cannot_open(sandbox_id, exc)(environ, start_response)
        self.registry.touch(sandbox_id, now)
        refused = _over_request_quota(private, sandbox_id, self.registry)
        if refused is not None:
            return refused(environ, start_response)
        environ["SCRIPT_NAME"] = f"{environ.get('SCRIPT_NAME', '')}{PREFIX}{sandbox_id}"
        environ["PATH_INFO"] = "/" + rest
        return private.wsgi_app(environ, start_response)

    def record(self, sandbox_id: str, now: float) -> SandboxRecord | None:
        """The live sandbox of that id, read once while nothing is committed to the registry's database."""
        if not ID_PATTERN.match(sandbox_id):
            return None
        registry = self.registry
        found = kept(registry.db.engine, "sandbox-records", 4096).get(sandbox_id, lambda: registry.get(sandbox_id, 0))
        return found if found is not None and found.expires > now else None

    def built(self, record: SandboxRecord) -> Flask:
        """The sandbox's app: kept, or built now (the least recently used closed when RESIDENT are built)."""
        with self._lock:
            found = self._apps.get(record.id)
            if found is not None:
                self._apps.move_to_end(record.id)
                return found
        # one app built at a time in a process: building registers the same module-level blueprints on
        # each new app, which two threads must not do at once (two sandboxes' first calls in one worker)
        with self._building:
            with self._lock:
                found = self._apps.get(record.id)
            if found is not None:
                return found
            made = build_private_app(self.factory, self.app, record, self.notify)
        with self._lock:
            found = self._apps.setdefault(record.id, made)
            self._apps.move_to_end(record.id)
            evicted = [self._apps.popitem(last=False) for _ in range(max(0, len(self._apps) - RESIDENT))]
        if found is not made:  # another thread built it first
            close_app(made)
        for _, old in evicted:
            close_app(old)
        return found

    def close(self, sandbox_id: str) -> None:
        """Close this process's app of a sandbox, if it has one (a sandbox deleted or expired)."""
        with self._lock:
            found = self._apps.pop(sandbox_id, None)
        if found is not None:
            close_app(found)

    def close_all(self) -> None:
        with self._lock:
            apps, self._apps = list(self._apps.values()), OrderedDict()
        for found in apps:
            close_app(found)

    def deliver_due(self) -> int:
        """Deliver the due notifications of every private sandbox that has some (the registry says which),
        from this process, whether or not a worker serves the sandbox: its app built here, one step of
        its worker, and when its next one is due written back. Run at each step of the deployment's
        notification worker. The notifications tried."""
        tried = 0
        for record in self.registry.due(self.now()):
            try:
                private = self.built(record)
                tried += private.extensions["notifications"].step()
                self.registry.clear_due(record.id)
                when = outbox.next_due(private.extensions["sandbox"].db)
                if runs.going(private.extensions["sandbox"].db):  # its conformance run is stepped as often
                    when = min(when or math.inf, self.now() + NotificationWorker.POLL)
                if when is not None:
                    self.registry.note_due(record.id, when)
            except (SandboxError, SQLAlchemyError) as exc:  # one sandbox's trouble stops no other's delivery
                log.warning("sandbox %s: notifications: %s", record.id, exc)
            except Exception:  # noqa: BLE001  (nor does a defect)
                log.exception("sandbox %s: notifications", record.id)
        return tried

    def _collect_now_and_then(self, now: float) -> None:
        if now - self._collected < COLLECT_EVERY:
            return
        self._collected = now
        self.collecting = threading.Thread(target=self._collect, args=(now,), name="sandbox-expiry", daemon=True)
        self.collecting.start()

    def _collect(self, now: float) -> None:
        for sandbox_id in self.registry.expired_ids(now):
            self.close(sandbox_id)  # this process's connections closed before its storage goes
            self.registry.delete(sandbox_id)


def build_private_app(
    create_app: Callable[[dict[str, Any]], Flask], default: Flask, record: SandboxRecord, notify: bool = False
) -> Flask:
    """The sandbox's app: the default's configuration over the sandbox's own database, with keys of its
    own (its world's), its own session cookie, and (`notify`) its notifications delivered from this process."""
    sb = default.extensions["sandbox"]
    sandbox_id = record.id
    cfg: dict[str, Any] = {
        **sb.config,
        "DATABASE_URL": world_url(sb.db.url, sandbox_id),
        "SANDBOX_ID": sandbox_id,
        "CUSTOMERS": record.customers,  # what a reset makes again
        "SEED": None,  # its world's own (the deployment's --seed is the default sandbox's)
        "AUTO_SEED": False,
        "RESET": False,
        "ADMIN_KEY": "",  # the world's own, never the deployment's
        "SECRET_KEY": "",
        "DEMO_APP": False,
    }
    private = create_app(cfg)
    # one gate of delayed calls a process (the `slow` fault), whichever sandbox asks: its threads are shared
    private.extensions["slow_calls"] = default.extensions["slow_calls"]
    registry: Registry = default.extensions["sandboxes"]
    # a notification enqueued: the deployment's sweep delivers it even where no worker serves the sandbox
    private.extensions["sandbox"].db.on_notifications = lambda: registry.note_due(sandbox_id, time.time())
    private.config.update(SESSION_COOKIE_NAME=f"session_{sandbox_id}", SESSION_COOKIE_PATH=f"{PREFIX}{sandbox_id}/")
    state = private.extensions["sandbox"]
    state.listen_url = sb.listen_url
    if notify:
        private.extensions["notifications"].start()
    return private


def _over_request_quota(private: Flask, sandbox_id: str, registry: Registry) -> Response | None:
    """429 naming requests_per_minute when the sandbox's quota of requests this minute is spent, else None.
    Counted in the deployment's database by every worker together (core.rate_counters), not in the
    sandbox's own: a write there would have each call read its token and clock again (core.changes)."""
    quotas = private.extensions["sandbox"].db.quotas
    limit = quotas.requests_per_minute if quotas is not None else 0
    if not limit:
        return None
    counter = private.extensions.get("request_quota")
    if counter is None:
        from limits import RateLimitItemPerMinute
        from limits.strategies import FixedWindowRateLimiter

        from sandbox.core.rate_counters import DatabaseCounters

        counter = private.extensions["request_quota"] = (
            FixedWindowRateLimiter(DatabaseCounters(registry.db)),
            RateLimitItemPerMinute(limit),
        )
    limiter, item = counter
    if limiter.hit(item, "sandbox-requests", sandbox_id):
        return None
    reset = limiter.get_window_stats(item, "sandbox-requests", sandbox_id).reset_time
    body = {
        "error": "quota_exceeded",
        "error_description": f"requests_per_minute: this sandbox answers at most {limit} requests a minute (the "
        "deployment's SANDBOX_QUOTA_REQUESTS_PER_MINUTE)",
        "field": "requests_per_minute",
    }
    wait = max(1, int(reset - time.time()) + 1)
    headers = {"X-Sandbox-Reason": "quota:requests_per_minute", "Retry-After": str(wait)}
    return Response(json.dumps(body), 429, mimetype="application/json", headers=headers)


def close_app(app: Flask) -> None:
    """Stop what a sandbox's app runs in this process and close its connections (whatever fails on the
    way: its storage may be gone already, deleted by another process)."""
    try:
        app.extensions["notifications"].stop(timeout=5)
        app.extensions["request_log"].flush()
    except SQLAlchemyError as exc:
        log.info("a sandbox's app closed without its last calls: %s", exc)
    finally:
        app.extensions["sandbox"].db.dispose()


def _cannot_open(sandbox_id: str, exc: SandboxError) -> Response:
    body = {"error": "temporarily_unavailable", "error_description": f"sandbox {sandbox_id} cannot be opened: {exc}"}
    return Response(
        json.dumps(body), 503, mimetype="application/json", headers={"X-Sandbox-Reason": "sandbox_unavailable"}
    )


def _no_sandbox(sandbox_id: str) -> Response:
    body = {
        "error": "not_found",
        "error_description": f"there is no sandbox {sandbox_id[:40]!r} here: it was deleted, it expired, or it "
        "never existed (POST /sandbox-api/sandboxes makes one)",
    }
    return Response(json.dumps(body), 404, mimetype="application/json", headers={"X-Sandbox-Reason": "no_such_sandbox"})
