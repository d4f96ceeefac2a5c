"""The server run.py starts: Waitress (a production WSGI server), its threads flag, a busy port."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from live.server import ROOT, LiveServer
from sandbox.version import __version__

pytestmark = pytest.mark.live


def test_requests_are_served_by_the_production_server_on_several_threads(tmp_path):
    with LiveServer("--threads", "3", "--customers", "0", "--database", str(tmp_path / "s.db")) as s:
        with urllib.request.urlopen(s.url + "/healthz", timeout=30) as r:
            assert r.status == 200 and r.headers["Server"] == f"GreenButtonSandbox/{__version__}"
        with ThreadPoolExecutor(8) as pool:  # more requests at once than threads: all are answered
            statuses = list(
                pool.map(lambda _: urllib.request.urlopen(s.url + "/utilities", timeout=30).status, range(24))
            )
        assert statuses == [200] * 24
    assert "Werkzeug" not in s.stderr and "development server" not in s.stderr


@pytest.mark.parametrize("value", ["0", "257", "many"])
def test_a_bad_threads_value_is_a_usage_error_naming_it(value):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--threads", value], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "--threads" in proc.stderr


def test_a_port_in_use_stops_start_up_with_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "run.py"),
                "--port",
                str(port),
                "--customers",
                "0",
                "--database",
                str(tmp_path / "p.db"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "running at" not in proc.stdout
    assert "--port" in proc.stderr and "--demo-port" in proc.stderr  # the flags that move them, named


def test_a_second_sandbox_on_the_same_port_stops_instead_of_sharing_it(tmp_path):
    """granian's workers share their port (SO_REUSEPORT); another run.py on it must not join them."""
    with LiveServer("--customers", "0", "--database", str(tmp_path / "a.db"), "--no-demo-app") as first:
        port = first.url.rsplit(":", 1)[1]
        proc = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), "--port", port, "--customers", "0", "--no-demo-app"]
            + ["--database", str(tmp_path / "b.db")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1 and "running at" not in proc.stdout
        assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_a_host_that_does_not_resolve_stops_start_up_with_a_clear_message(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "--host",
            "no-such-host.invalid",
            "--port",
            "0",
            "--customers",
            "0",
            "--database",
            str(tmp_path / "h.db"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot listen on no-such-host.invalid:0" in proc.stderr and "running at" not in proc.stdout


def test_every_listener_of_a_name_with_several_addresses_is_printed(monkeypatch, capsys, tmp_path):
    """Under Waitress, a host name with two addresses (localhost on macOS: ::1 and 127.0.0.1) gets one
    socket each: the running line names the first by its address, the others follow it."""
    import waitress.server

    from sandbox import server

    class Several(waitress.server.MultiSocketServer):
        def run(self):
            raise KeyboardInterrupt  # stops at once, as Ctrl-C would

        def close(self):  # it opened no sockets
            pass

    monkeypatch.setattr(
        waitress.server,
        "create_server",
        lambda app, **kw: Several(effective_listen=[("::1", 50001), ("127.0.0.1", 50002)]),
    )
    assert (
        server.main(
            [
                "--server",
                "waitress",
                "--host",
                "localhost",
                "--port",
                "0",
                "--customers",
                "0",
                "--no-demo-app",
                "--database",
                str(tmp_path / "m.db"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Green Button Sandbox running at http://[::1]:50001"
    assert out[1] == "  also at http://127.0.0.1:50002"


def test_sigterm_stops_it_cleanly_and_keeps_the_last_calls(tmp_path):
    import sqlite3

    db = tmp_path / "s.db"
    s = LiveServer("--customers", "0", "--database", str(db)).start()
    for n in range(5):  # refused calls (no token), logged all the same
        try:
            urllib.request.urlopen(f"{s.url}/dc/bayview/espi/1_1/resource/ReadServiceStatus?n={n}", timeout=30)
        except urllib.error.HTTPError as err:
            assert err.code == 401
    assert s.stop() == 0  # SIGTERM, straight after the calls: the writer's last batch is written on the way out
    with sqlite3.connect(f"{db}.request-log") as c:  # the log's own file beside the world's (core.db.own_log_file)
        # in the order answered: each worker process writes batches of its own
        paths = [p for (p,) in c.execute("SELECT path FROM request_record ORDER BY answered, id")]
    assert paths == [f"/dc/bayview/espi/1_1/resource/ReadServiceStatus?n={n}" for n in range(5)]
