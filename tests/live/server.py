"""Start the real `run.py` on a free loopback port and wait for its running-at line; a free port and a
seeded database for the tests that start other servers (gunicorn, granian) over `sandbox.wsgi:app`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sandbox.testing.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]


class LiveServer(SandboxProcess):
    """The real `run.py` of this checkout on a free loopback port (the plugin's process, run.py's way)."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 60):
        super().__init__(*args, env=env, timeout=timeout, command=[sys.executable, str(ROOT / "run.py")], cwd=str(ROOT))


def third_party_pytest(cwd, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """pytest in a process of its own at `cwd`, as a third party runs its tests with the installed
    plugin: this session's GREEN_BUTTON_SANDBOX_* settings left out, `env` added."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GREEN_BUTTON_SANDBOX_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> None:
    """The README's first step: seed once, before any worker starts."""
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "sandbox", "seed", "--customers", "1"],
        cwd=ROOT,
        env={**os.environ, "SANDBOX_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and re.search(r"Seeded [0-9]+ utilities", proc.stdout), proc.stdout + proc.stderr


def small_world(folder: Path, key: str) -> LiveServer:
    """run.py on a fresh SQLite file in `folder` with two customers a utility, no demo app, and the
    control API's key `key` (enter it with `with`)."""
    return LiveServer(
        "--database",
        str(folder / "world.db"),
        "--customers",
        "2",
        "--reset",
        "--no-demo-app",
        env={"SANDBOX_ADMIN_KEY": key},
    )


def end_group(pgid: int, timeout: float = 10) -> None:
    """Kill every process left in the process group `pgid` (a server started with start_new_session=True:
    its workers share its group, and outlive a master that was killed), and wait until none runs."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # polling for killed processes to be reaped, not waiting for a result
    raise AssertionError(f"processes of group {pgid} still run {timeout} s after SIGKILL")
