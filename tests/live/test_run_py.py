"""The start-up contract of DESIGN.md, against the real run.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request

import pytest

from .server import ROOT, LiveServer

pytestmark = pytest.mark.live


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()  # header names in any case (granian sends them lower-case)


def test_starts_on_a_free_port_and_answers(tmp_path):
    db = tmp_path / "world.db"
    with LiveServer("--database", str(db)) as server:
        assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
        assert server.lines[0].startswith("Green Button Sandbox running at ")
        status, headers, body = get(server.url + "/healthz")
        assert status == 200 and headers["X-Sandbox-Version"]
        health = json.loads(body)
        assert health["status"] == "ok" and health["seed"] == 42
        _, _, body = get(server.url + "/utilities?postal_code=94612")
        assert [u["slug"] for u in json.loads(body)["utilities"]] == ["bayview"]
        _, _, body = get(server.url + "/utilities?postal_code=S4P%203Y2")
        found = json.loads(body)["utilities"]
        assert [u["slug"] for u in found] == ["prairie"]
        assert found[0]["token_endpoint"] == server.url + "/dc/prairie/oauth/token"
    # a restart reuses the database: the world is not seeded again
    with LiveServer("--database", str(db)) as again:
        _, _, body = get(again.url + "/healthz")
        assert json.loads(body)["seeded_at"] == health["seeded_at"]
    with LiveServer("--database", str(db), "--reset") as reset:
        _, _, body = get(reset.url + "/healthz")
        assert json.loads(body)["seeded_at"] != health["seeded_at"]


def test_demo_credentials_are_printed_after_the_running_line(tmp_path):
    with LiveServer("--database", str(tmp_path / "w.db")) as server:
        pass
    text = "\n".join(server.lines)
    assert "demo / demo" in text and "client_id=demo-third-party client_secret=demo-secret" in text
    assert "client_id=upload-client client_secret=upload-secret" in text
    assert "client_id=data-custodian client_secret=data-custodian-secret" in text


def test_broken_seed_file_stops_start_up_with_a_clear_message(tmp_path):
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "seed_data", seed)
    path = seed / "utilities" / "prairie.toml"
    path.write_text(path.read_text().replace('time_zone = "America/Regina"', 'time_zone = "America/Nowhere"'))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--port", "0", "--database", str(tmp_path / "x.db")],
        cwd=ROOT,
        env={**__import__("os").environ, "SANDBOX_SEED_DATA": str(seed)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "prairie.toml" in proc.stderr and "time_zone" in proc.stderr and "America/Nowhere" in proc.stderr
    assert "running at" not in proc.stdout


def test_bad_flag_is_a_usage_error_naming_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--port", "eighty"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "--port" in proc.stderr


def test_the_demo_app_starts_beside_the_utilities_and_can_be_turned_off(tmp_path):
    db = str(tmp_path / "w.db")
    with LiveServer("--database", db) as server:
        assert server.lines[1].startswith("Demo third-party app running at http://127.0.0.1:")
        assert server.demo_url and server.demo_url != server.url
        status, _, body = get(server.demo_url + "/healthz")
        assert status == 200 and json.loads(body)["app"] == "demo-third-party"
        # the utilities notify the demo app: its notification URI is registered at each
        with __import__("sqlite3").connect(db) as conn:
            uris = {
                row[0]
                for row in conn.execute("SELECT notify_uri FROM application WHERE client_id = 'demo-third-party'")
            }
        assert uris == {server.demo_url + "/notify"}
    with LiveServer("--database", db, "--no-demo-app") as alone:
        assert alone.demo_url is None and not any("Demo third-party app" in line for line in alone.lines)


def test_a_taken_demo_port_stops_start_up_naming_it(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "run.py"),
                "--port",
                "0",
                "--demo-port",
                str(port),
                "--database",
                str(tmp_path / "x.db"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1 and f"{port}" in proc.stderr and "demo app" in proc.stderr
    assert "--no-demo-app" in proc.stderr


def test_a_notification_uri_a_developer_set_survives_a_restart(tmp_path):
    db = str(tmp_path / "w.db")
    with LiveServer("--database", db, env={"SANDBOX_ADMIN_KEY": "k"}) as first:
        from sandbox.testing.client import SandboxClient

        SandboxClient(first.url, "k").set_notify_uri("http://127.0.0.1:9/mine")
    with LiveServer("--database", db, env={"SANDBOX_ADMIN_KEY": "k"}) as second:
        with __import__("sqlite3").connect(db) as conn:
            uris = dict(
                conn.execute(
                    "SELECT u.slug, a.notify_uri FROM application a JOIN utility u "
                    "ON u.id = a.utility_id WHERE a.client_id = 'demo-third-party'"
                )
            )
    assert uris["bayview"] == "http://127.0.0.1:9/mine"  # the developer's, kept
    assert uris["lakeshore"] == uris["prairie"] == second.demo_url + "/notify"  # the demo app's, on its new port
