"""`green-button-sandbox listen` (sandbox/listen.py): a private sandbox's notifications forwarded to a
receiver on this machine that the sandbox is never told about, each printed, reported back and shown
as delivered in the sandbox's inspector."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.testing.client import SandboxClient

from .server import ROOT, LiveServer
from .third_party import ThirdParty

pytestmark = pytest.mark.live
KEY = "listen-operator-key-0123456789abcdef"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


def test_a_sandboxs_notification_is_forwarded_to_a_local_receiver_and_recorded(tmp_path):
    receiver = ThirdParty(status=204)
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
            (got,) = receiver.wait_for(1, timeout=60)
            line = listener.stdout.readline() if listener.stdout else ""
            assert "-> " + receiver.url + ": 204" in line and "to demo-third-party" in line
            assert b"<BatchList" in got["body"] and sandbox.url.encode() + b"/dc/" in got["body"]
            # the listener reports the answer after printing it: the sandbox records it then
            (shown,) = sandbox.wait_for_notifications(1, client_id="demo-third-party", event="published", timeout=60)
            assert any(d["uri"] == f"forwarded to {receiver.url}" and d["status"] == 204 for d in shown["deliveries"])
        finally:
            listener.terminate()
            listener.wait(10)
            receiver.close()
        # a wrong key: the listener stops at once, saying why
        argv = [sys.executable, str(ROOT / "run.py"), "listen", "--sandbox", sandbox.url, "--key", "wrong"]
        done = subprocess.run([*argv, "--forward-to", receiver.url], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "the sandbox refused: 401" in done.stderr
