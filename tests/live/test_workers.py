"""Several worker processes on one PostgreSQL database (gunicorn with `sandbox.wsgi:app`, as the README
documents it) agree on all state: a token issued by one worker is good at every worker and, once
revoked at one, refused at every worker; a portal sign-in (session cookie, CSRF-protected form) made
at one worker is honoured by all; failed sign-ins counted at several workers lock the login at all.

Which worker answered is read from gunicorn's own access log: every request carries a unique
X-Probe header and the log format writes it beside the worker's pid (`%(p)s`), so the app needs no
header of its own. Gunicorn's sync workers answer one connection at a time, so requests sent
together are spread over the workers; "at every worker" means until each worker's pid has answered.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from live.server import ROOT, free_port, seed

pytestmark = pytest.mark.postgres

WORKERS = 3
BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()
TOKEN = "/dc/bayview/oauth/token"
REVOKE = "/dc/bayview/oauth/revoke"
STATUS = "/dc/bayview/espi/1_1/resource/ReadServiceStatus"
PORTAL = "/dc/bayview/"
LOGIN = "/dc/bayview/login"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# the probe header as gunicorn logs it, then the pid of the worker that answered ("<1234>") and the status
ACCESS_FORMAT = "%({x-probe}i)s %(p)s %(s)s"
LOGGED = re.compile(r"^(\S+) <(\d+)> (\d{3})$", re.M)
BOOTED = re.compile(r"Booting worker with pid: (\d+)")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str
    probe: str
    pid: int | None = None  # the worker that answered, from the access log

    def json(self) -> dict:
        return json.loads(self.body)

    def cookie(self) -> str:
        """The session cookie the answer sets, as a Cookie header value."""
        (session,) = [c.split(";", 1)[0] for c in self.headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
        return session


class Gunicorn:
    """gunicorn -w WORKERS 'sandbox.wsgi:app' on a free loopback port, over the database at `url`."""

    def __init__(self, url: str, folder: Path, workers: int = WORKERS):
        self.port = free_port()
        self.access = folder / "access.log"
        self.errors = folder / "gunicorn.err"
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            str(self.access),
            "--access-logformat",
            ACCESS_FORMAT,
            "--graceful-timeout",
            "10",
            "sandbox.wsgi:app",
        ]
        # XDG_RUNTIME_DIR: where newer gunicorns put their control socket, so that it is this test's own
        self.env = {**os.environ, "SANDBOX_DATABASE_URL": url, "XDG_RUNTIME_DIR": str(folder), "PYTHONUNBUFFERED": "1"}
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.worker_pids: set[int] = set()
        self.health: list[Answer] = []

    def log(self) -> str:
        return self.errors.read_text(errors="replace") if self.errors.exists() else ""

    def start(self) -> Gunicorn:
        """Start gunicorn; ready once every worker has answered /healthz (each loads the app on its own)."""
        with open(self.errors, "wb") as err:
            self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 30
        while True:  # bounded polling: listening, one worker answers, every worker has forked
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not answer /healthz within 30 s:\n{self.log()}")
            try:
                up = self.request("GET", "/healthz", timeout=2).status == 200
            except OSError:
                up = False
            self.worker_pids = {int(p) for p in BOOTED.findall(self.log())}
            if up and len(self.worker_pids) == self.workers:
                break
            time.sleep(0.05)
        self.health = self.at_every_worker(lambda: self.request("GET", "/healthz"), within=30)
        return self

    def stop(self) -> int:
        """SIGTERM (gunicorn's graceful shutdown) and wait; killed only if it does not end."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"gunicorn did not stop on SIGTERM within 20 s:\n{self.log()}") from None
        return self.proc.returncode

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def request(
        self, method: str, path: str, headers: dict | None = None, form: dict | None = None, timeout: float = 20
    ) -> Answer:
        """One request over a fresh connection (so any worker may take it), tagged with a unique probe."""
        probe = uuid.uuid4().hex
        body = urlencode(form) if form is not None else None
        sent = {
            "X-Probe": probe,
            **({"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}),
            **(headers or {}),
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            r = conn.getresponse()
            return Answer(r.status, r.headers, r.read().decode("utf-8", "replace"), probe)
        finally:
            conn.close()

    def served_by(self, answers: list[Answer]) -> list[Answer]:
        """Fill in each answer's worker pid from the access log (a worker writes its line just after answering)."""
        deadline = time.monotonic() + 10
        while True:
            logged = {probe: (int(pid), int(status)) for probe, pid, status in LOGGED.findall(self.access.read_text())}
            if all(a.probe in logged for a in answers):
                for a in answers:
                    a.pid, status = logged[a.probe]
                    assert status == a.status, (a.probe, status, a.status)
                return answers
            assert time.monotonic() < deadline, "requests missing from gunicorn's access log"
            time.sleep(0.02)

    def together(self, calls: list[Callable[[], Answer]]) -> list[Answer]:
        """The calls sent at once (more than there are workers, so that every worker takes some)."""
        with ThreadPoolExecutor(len(calls)) as pool:
            return self.served_by(list(pool.map(lambda call: call(), calls)))

    def alongside(self, call: Callable[[], Answer]) -> Answer:
        """`call` sent at a random place among /healthz requests sent at once, so that any worker may take it
        (one request after another tends to go to the worker that answered the last)."""
        calls: list[Callable[[], Answer]] = [lambda: self.request("GET", "/healthz")] * (2 * self.workers)
        at = random.randrange(len(calls) + 1)
        calls.insert(at, call)
        return self.together(calls)[at]

    def at_every_worker(self, call: Callable[[], Answer], within: float = 10) -> list[Answer]:
        """`call` made again and again, several at once, until every worker has answered it (bounded)."""
        answers: list[Answer] = []
        deadline = time.monotonic() + within
        while {a.pid for a in answers} != self.worker_pids and time.monotonic() < deadline:
            answers += self.together([call] * (3 * self.workers))
        assert {a.pid for a in answers} == self.worker_pids, (sorted(self.worker_pids), [a.pid for a in answers])
        return answers


@pytest.fixture
def fresh_database(postgres_url):  # noqa: F811
    """A new, empty database in the session's cluster, dropped afterwards."""
    url = make_url(postgres_url)
    name = f"workers_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sign_in_form(g: Gunicorn) -> tuple[Answer, str, str]:
    """The portal's sign-in page from whichever worker answers, its session cookie and its CSRF token."""
    page = g.request("GET", PORTAL)
    assert page.status == 200 and "Sign in to" in page.body
    return page, page.cookie(), CSRF.search(page.body).group(1)


def sign_in(g: Gunicorn, cookie: str, token: str, username: str, password: str) -> Answer:
    return g.request(
        "POST",
        LOGIN,
        {"Cookie": cookie},
        {"csrf_token": token, "method": "password", "username": username, "password": password},
    )


def test_several_gunicorn_workers_agree_on_all_state(fresh_database, tmp_path):
    seed(fresh_database)
    g = Gunicorn(fresh_database, tmp_path)
    with g:
        assert len(g.worker_pids) == WORKERS
        health = g.health  # every worker has answered
        assert {(a.status, a.json()["status"], a.headers["X-Sandbox-Version"]) for a in health} == {
            (200, "ok", health[0].headers["X-Sandbox-Version"])
        }

        # a client-credentials token from one worker is good at every worker ...
        issued = g.served_by(
            [g.request("POST", TOKEN, {"Authorization": BASIC}, {"grant_type": "client_credentials"})]
        )[0]
        assert issued.status == 200, issued.body
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        used = g.at_every_worker(lambda: g.request("GET", STATUS, bearer))
        assert [(a.status, "<currentStatus>1</currentStatus>" in a.body) for a in used] == [(200, True)] * len(used)
        # ... and once revoked at one worker (RFC 7009), refused at every worker
        revoked = g.request(
            "POST",
            REVOKE,
            {"Authorization": BASIC},
            {"token": issued.json()["access_token"], "token_type_hint": "access_token"},
        )
        assert revoked.status == 200, revoked.body
        refused = g.at_every_worker(lambda: g.request("GET", STATUS, bearer))
        assert {(a.status, "invalid_token" in a.headers["WWW-Authenticate"]) for a in refused} == {(401, True)}

        # a portal sign-in: the form (session cookie and CSRF token) from one worker is accepted by another ...
        crossed: list[tuple[Answer, Answer]] = []
        for _ in range(5):
            forms = [sign_in_form(g) for _ in range(2 * WORKERS)]
            g.served_by([page for page, _, _ in forms])
            posts = g.together(
                [lambda c=cookie, t=token: sign_in(g, c, t, "demo", "demo") for _, cookie, token in forms]
            )
            assert [p.status for p in posts] == [303] * len(posts), [p.body[:300] for p in posts]
            crossed += [(page, post) for (page, _, _), post in zip(forms, posts) if page.pid != post.pid]
            if crossed:
                break
        assert crossed, "every sign-in was posted to the worker that had made its form"
        # ... and the signed-in session is honoured by every worker
        page, post = crossed[0]
        signed_in = post.cookie()
        homes = g.at_every_worker(lambda: g.request("GET", PORTAL, {"Cookie": signed_in}))
        assert {(a.status, "Hello, " in a.body, "Sign in to" in a.body) for a in homes} == {(200, True, False)}

        # failed sign-ins answered by several workers add up to one lock-out, in force at every worker
        for _ in range(5):
            name = f"nobody-{uuid.uuid4().hex[:8]}"
            forms = [sign_in_form(g) for _ in range(5)]
            # one after another, each counted before the next is sent, each at whichever worker takes it
            fails = [
                g.alongside(lambda c=cookie, t=token, n=name: sign_in(g, c, t, n, "wrong"))
                for _, cookie, token in forms
            ]
            assert [a.status for a in fails] == [401, 401, 401, 401, 429], [a.body[:200] for a in fails]
            if len({a.pid for a in fails}) > 1:
                break
        assert len({a.pid for a in fails}) > 1, "five failures in a row all went to one worker, five times over"
        locked = g.at_every_worker(lambda: sign_in(g, *sign_in_form(g)[1:], name, "wrong"))
        assert {(a.status, "Retry-After" in a.headers) for a in locked} == {(429, True)}

        assert g.stop() == 0, g.log()
    # no worker died and was replaced on the way
    assert {int(p) for p in BOOTED.findall(g.log())} == g.worker_pids
    assert "Traceback" not in g.log()


def test_a_worker_that_finds_no_world_stops_gunicorn_with_the_command_to_run(fresh_database, tmp_path):
    g = Gunicorn(fresh_database, tmp_path)
    with open(g.errors, "wb") as err:
        proc = subprocess.run(g.args, cwd=ROOT, env=g.env, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
    assert proc.returncode != 0
    assert "holds no complete world" in g.log() and "flask --app sandbox seed" in g.log()
    assert "Worker failed to boot" in g.log()
    # and no worker seeded one (nor began to): the database is as empty as it was
    engine = create_engine(fresh_database)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
