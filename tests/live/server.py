"""Start the real `run.py` on a free loopback port and wait for its running-at line; a free port and a
seeded database for the tests that start other servers (gunicorn, granian) over `sandbox.wsgi:app`."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_RUNNING = re.compile(r"^Green Button Sandbox running at (http://\S+)$")


class LiveServer:
    def __init__(self, *args: str, env: dict | None = None, timeout: float = 60):
        self.args = ["--port", "0", *args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.lines: list[str] = []
        self.stderr = ""
        self._stderr_chunks: list[str] = []

    def start(self) -> "LiveServer":
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *self.args], cwd=ROOT, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                m = _RUNNING.match(self.lines[-1])
                if m and self.url is None:
                    self.url = m.group(1)
                    found.set()
            found.set()

        def read_stderr():  # drained all along: a full pipe would block the server
            for line in self.proc.stderr:
                self._stderr_chunks.append(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        self._stderr_reader = threading.Thread(target=read_stderr, daemon=True)
        self._stderr_reader.start()
        if not found.wait(self.timeout) or self.url is None:
            self.stop()
            raise RuntimeError(f"run.py did not start: {self.stderr}")
        return self

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_reader", None) is not None:
            self._reader.join(10)  # every line the server printed is in self.lines once stop() returns
        if getattr(self, "_stderr_reader", None) is not None:
            self._stderr_reader.join(10)
        self.stderr = "".join(self._stderr_chunks)
        return self.proc.returncode if self.proc else 0

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> None:
    """The README's first step: seed once, before any worker starts."""
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "sandbox", "seed", "--customers", "1"], cwd=ROOT,
                          env={**os.environ, "SANDBOX_DATABASE_URL": url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Seeded 3 utilities" in proc.stdout, proc.stdout + proc.stderr
