"""A sandbox server in a process of its own, on a free loopback port: started, waited for (its
"running at" line), and stopped. The same for the pytest plugin and the sandbox's own live tests."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import time
from typing import Callable, Sequence

RUNNING = re.compile(r"^Green Button Sandbox running at (http://\S+)$")
DEMO = re.compile(r"^Demo third-party app running at (http://\S+)$")
ADMIN_KEY = re.compile(r"admin key: (\S+)$")


class SandboxProcess:
    """`python -m sandbox --port 0 ARGS` (or `command`), its URL once it is listening, every line it printed."""

    def __init__(
        self,
        *args: str,
        env: dict | None = None,
        timeout: float = 60,
        command: Sequence[str] | None = None,
        cwd: str | None = None,
    ):
        self.command = list(command or [sys.executable, "-m", "sandbox"])
        self.args = ["--port", "0", "--demo-port", "0", *args]  # the demo app, if on, on a free port too
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.timeout = timeout
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.admin_key: str | None = None
        self.demo_url: str | None = None
        self.lines: list[str] = []
        self.stderr = ""
        self._stderr_chunks: list[str] = []
        self._readers: list[threading.Thread] = []

    def start(self) -> "SandboxProcess":
        proc = self.proc = subprocess.Popen(
            [*self.command, *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        found = threading.Event()
        assert proc.stdout is not None and proc.stderr is not None
        stdout, stderr = proc.stdout, proc.stderr

        def read():
            for line in stdout:
                self.lines.append(line.rstrip("\n"))
                key = ADMIN_KEY.search(self.lines[-1])
                if key:
                    self.admin_key = key.group(1)
                m = RUNNING.match(self.lines[-1])
                if m and self.url is None:
                    self.url = m.group(1)
                demo = DEMO.match(self.lines[-1])
                if demo:
                    self.demo_url = demo.group(1)
                if self.url is not None and self.admin_key is not None:
                    found.set()  # the start-up lines come in one write: the URL and the key are among them
            found.set()

        def read_stderr():  # drained all along: a full pipe would block the server
            for line in stderr:
                self._stderr_chunks.append(line)

        self._readers = [threading.Thread(target=read, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
        for t in self._readers:
            t.start()
        try:
            started = found.wait(self.timeout) and self.url is not None
        except BaseException:  # interrupted while waiting: the server must not outlive us
            self.stop()
            raise
        if not started:
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {self.stderr or chr(10).join(self.lines)}")
        return self

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(10)  # every line the server printed is in self.lines once stop() returns
        self.stderr = "".join(self._stderr_chunks)
        return self.proc.returncode if self.proc else 0

    def __enter__(self) -> "SandboxProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_healthy(port: int, running: Callable[[], bool], timeout: float) -> bool:
    """Poll GET /healthz on a loopback port until it answers 200 (True), the server stops running or
    `timeout` seconds pass (False): for servers that print no "running at" line (gunicorn, granian)."""
    deadline = time.monotonic() + timeout
    while running() and time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
            c.close()
            if ok:
                return True
        except OSError:
            pass
        time.sleep(0.05)  # polling a server that is starting, not waiting for a result
    return False
