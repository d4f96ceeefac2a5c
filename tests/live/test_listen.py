"""`green-button-sandbox listen` (sandbox/listen.py): a private sandbox's notifications forwarded to a
receiver on this machine that the sandbox is never told about, each printed, reported back and shown
as delivered in the sandbox's inspector."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.testing.client import SandboxClient

from .server import ROOT, LiveServer

pytestmark = pytest.mark.live
KEY = "listen-operator-key-0123456789abcdef"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


class Receiver(ThreadingHTTPServer):
    """A third party's notification endpoint on a free loopback port: keeps each body POSTed."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self.got = threading.Event()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()
                received.got.set()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"


def test_a_sandboxs_notification_is_forwarded_to_a_local_receiver_and_recorded(tmp_path):
    receiver = Receiver()
    with LiveServer(
        "--database", str(tmp_path / "w.db"), "--customers", "0", "--reset", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as s:
        sandbox = SandboxClient(s.url, KEY).create_sandbox(customers=0)
        sandbox.authorize("demo", SCOPE)  # the demo third party now shares the demo customer's data
        # its notification URI is one the sandbox cannot reach (a closed port): only the listener can deliver
        sandbox.set_notify_uri("http://127.0.0.1:9/unreachable")
        argv = [sys.executable, str(ROOT / "run.py"), "listen", "--sandbox", sandbox.url, "--key", sandbox.admin_key]
        listener = subprocess.Popen(
            [*argv, "--forward-to", receiver.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            assert "listening to" in (listener.stdout.readline() if listener.stdout else "")
            sandbox.advance(days=1)  # a day published: a BatchList for the demo third party
            assert receiver.got.wait(60), "nothing was forwarded"
            line = listener.stdout.readline() if listener.stdout else ""
            assert "-> " + receiver.url + ": 204" in line and "to demo-third-party" in line
            assert b"<BatchList" in receiver.bodies[0] and sandbox.url.encode() + b"/dc/" in receiver.bodies[0]
            shown = sandbox.notifications(client_id="demo-third-party")
            forwarded = [n for n in shown if any(d["uri"] == f"forwarded to {receiver.url}" for d in n["deliveries"])]
            assert forwarded and forwarded[0]["state"] == "delivered"
        finally:
            listener.terminate()
            listener.wait(10)
            receiver.shutdown()


def test_a_wrong_key_stops_the_listener_with_a_message(tmp_path):
    with LiveServer(
        "--database", str(tmp_path / "w.db"), "--customers", "0", "--reset", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as s:
        argv = [sys.executable, str(ROOT / "run.py"), "listen", "--sandbox", s.url, "--key", "wrong"]
        done = subprocess.run(
            [*argv, "--forward-to", "http://127.0.0.1:9/x"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and "the sandbox refused: 401" in done.stderr
