#!/usr/bin/env python3
"""Notification benchmarks (issue targets in brackets), against a live run.py on a free port and a
local receiver (a threaded HTTP server in this process answering 200 at once):

Setup: --authorizations customer authorizations at bayview (new customers, one each), spread over
--third-parties third parties (registered through dynamic registration, moved to Production and
given the receiver as notification URI through the control API); the clock frozen.

1. POST /sandbox-api/clock {"advance": "P1D"}: the answer comes once the day's notifications are
   in the outbox                                                   [enqueued <= 1 s]
2. from that POST until the receiver has every one of them         [all delivered <= 5 s]
3. (for scale) the notifications of the authorizations themselves: one each, delivered

The baseline of each ratio is the issue's target.

Usage: python bench/bench_notifications.py [--authorizations 1000] [--third-parties 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.testing.client import SandboxClient  # noqa: E402
from sandbox.testing.process import SandboxProcess  # noqa: E402

KEY = "bench-notifications-key"


class Receiver:
    """Counts POSTs and keeps the time of the last one."""

    def __init__(self) -> None:
        self.count, self.last = 0, 0.0
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer.arrived:
                    outer.count += 1
                    outer.last = time.perf_counter()
                    outer.arrived.notify_all()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/notify"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: self.count >= count, timeout)


def register(base: str, n: int) -> str:
    body = json.dumps(
        {"client_name": f"Bench app {n}", "redirect_uris": [f"https://bench{n}.example.com/cb"]}
    ).encode()  # every scope offered
    req = urllib.request.Request(
        f"{base}/dc/bayview/espi/1_1/register",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["client_id"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--authorizations", type=int, default=1000)
    ap.add_argument("--third-parties", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    receiver = Receiver()
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess("--database", f"{tmp}/w.db", "--reset", env={"SANDBOX_ADMIN_KEY": KEY}) as server,
    ):
        assert server.url is not None
        c = SandboxClient(server.url, KEY, timeout=300)
        c.freeze()
        clients = ["demo-third-party"] + [register(server.url, i) for i in range(1, args.third_parties)]
        for client_id in clients:
            if client_id != "demo-third-party":  # registered ones start in Review
                c.set_status("production", client_id)
            c.set_notify_uri(receiver.url, client_id)
        usernames = c.add_customers(args.authorizations)
        t0 = time.perf_counter()
        for i, username in enumerate(usernames):
            c.authorize(username, client_id=clients[i % len(clients)])
        made = time.perf_counter() - t0
        expected = args.authorizations + 1  # and the seeded demo customer's authorization is announced below
        got_all = receiver.wait(args.authorizations, 120)
        own = receiver.count
        print(
            f"setup: {args.authorizations} authorizations over {len(clients)} third parties in {made:.1f} s; "
            f"their {own} notifications delivered{'' if got_all else ' (NOT all: timed out)'}"
        )
        enqueue, deliver = [], []
        for _ in range(args.runs):
            before = receiver.count
            t0 = time.perf_counter()
            ids = c.advance(days=1)["notifications"]
            enqueue.append(time.perf_counter() - t0)
            done = receiver.wait(before + len(ids), 60)
            deliver.append((receiver.last - t0) if done else float("inf"))
            listed = c.notifications(utility="bayview", limit=1000)
            named = sum(len(n["uris"]) for n in listed if n["id"] in set(ids))
            assert len(ids) == len(clients), (len(ids), len(clients))
            assert named >= args.authorizations, (named, expected)
    e, d = statistics.median(enqueue), statistics.median(deliver)
    print(
        f"1. advance P1D with {args.authorizations} authorizations ({len(ids)} BatchLists naming {named} URIs): "
        f"enqueued in p50 {e * 1000:.0f} ms, max {max(enqueue) * 1000:.0f} ms of {len(enqueue)}; "
        f"target <= 1 s -> ratio {e / 1.0:.2f}"
    )
    print(
        f"2. all delivered to the local receiver: p50 {d * 1000:.0f} ms, max {max(deliver) * 1000:.0f} ms; "
        f"target <= 5 s -> ratio {d / 5.0:.2f}"
    )


if __name__ == "__main__":
    main()
