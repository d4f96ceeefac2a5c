"""`sandbox.wsgi:app` under granian, the README's keep-alive set-up of several worker processes.

Granian is itself a click program, so the app is built inside a click context that is not the
`flask` command's: the world must be read at once there (as under gunicorn), not left for a flask
command to prepare. Two workers over one seeded SQLite file then answer the portal, the OAuth
server and the resource server on kept-alive connections.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from live.server import ROOT, end_group, free_port, seed
from sandbox.testing.process import wait_healthy

BASIC = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()


@pytest.fixture
def granian(tmp_path):
    url = f"sqlite:///{tmp_path / 'world.db'}"
    seed(url)
    port = free_port()
    log = tmp_path / "granian.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--no-ws",
                # a worker slow to stop is killed by its master, which then ends
                "--workers-kill-timeout",
                "5",
                "sandbox.wsgi:app",
            ],
            cwd=ROOT,
            env={**os.environ, "SANDBOX_DATABASE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # its own process group: its workers end with it
    try:
        if not wait_healthy(port, lambda: proc.poll() is None, 30):
            raise AssertionError(
                f"granian did not answer /healthz within 30 s (exit {proc.poll()}):\n{log.read_text()}"
            )
        # one worker answers /healthz while the other may still be starting: a worker that starts after the
        # master began to stop never hears of it (the worker that outlived the suite)
        deadline = time.monotonic() + 30
        while log.read_text().count("Started worker-") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)  # polling the master's log for its workers' start, not waiting for a result
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        end_group(proc.pid)  # a worker the master left behind (killed, or slow to stop) goes with its group


def test_granian_workers_serve_the_world_on_kept_alive_connections(granian):
    c = http.client.HTTPConnection("127.0.0.1", granian, timeout=20)
    c.request(
        "POST",
        "/dc/bayview/oauth/token",
        body="grant_type=client_credentials",
        headers={"Authorization": BASIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    r = c.getresponse()
    token = json.loads(r.read())
    assert r.status == 200 and token["token_type"].lower() == "bearer"
    sock = c.sock
    for _ in range(5):  # one connection for all of them: granian keeps it alive
        c.request(
            "GET",
            "/dc/bayview/espi/1_1/resource/ReadServiceStatus",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and b"<currentStatus>1</currentStatus>" in body, body[:300]
        assert c.sock is sock
    c.request("GET", "/dc/bayview/espi/1_1/resource/ReadServiceStatus", headers={"Authorization": "Bearer nope"})
    r = c.getresponse()
    assert r.status == 401 and json.loads(r.read())["reason"] == "unknown_token"
    c.request("GET", "/dc/bayview/")
    r = c.getresponse()
    assert r.status == 200 and "Sign in to" in r.read().decode()
    c.close()
