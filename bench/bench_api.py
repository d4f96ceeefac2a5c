#!/usr/bin/env python3
"""API benchmarks over HTTP, against servers this script starts on free loopback ports and stops
on exit (issue targets in brackets):

1. Batch/Subscription of one usage point (a customer token whose authorization shares one
   electricity usage point, scope HistoryLength=34128000: 13 months hourly with cost)
   [p50 <= 30 ms; issue 23: p50 <= 10 ms, a server's first Batch/Subscription <= 50 ms, both also
   given as a ratio to BASELINE_29E463E, the figures measured before issue 23 cut them]. Baseline: the same
   feed written in-process by the code the view runs
   (documents.usage_entries + documents.feed, timed as bench_xml.py times its writer), for the
   same usage point and period; the script checks that both give the same bytes. The server keeps
   the text of the blocks it wrote (RenderedRuns), so the repeated GETs measure a polled
   subscription; the first GET of each server, written from nothing, is reported beside them.
   Measured through run.py and through one granian worker.
2. Small entry GETs (Subscription/{id}/UsagePoint/{upid}) with that token, driven by wrk
   [>= 1,000 requests/s on 2 cores, 0 errors, p99 <= 50 ms], through `python run.py --threads N`
   (Waitress), through gunicorn workers and through granian workers (--granian WxT) over the same
   SQLite file (--postgres: also over a
   throw-away PostgreSQL cluster). Each set-up also answers requests one at a time, to show the
   cost of one request without concurrency.
3. Batch/Bulk/demo-third-party of 1,000 authorizations made in the database before the server
   starts, each sharing one electricity usage point of a generated customer for a year
   (HistoryLength=31536000, no BR term), streamed with the demo third party's client-credentials
   token and its IntervalReadings counted as they arrive [peak server RSS <= 200 MB, >= 500,000
   readings/s], through run.py and through one granian worker (--bulk-servers). The world's own demo
   authorization is ended first, so the bulk holds exactly those.

Every figure comes with the server's CPU (utime+stime from /proc/<pid>/stat of the server and its
children, over the measured run) and peak RSS (VmHWM from /proc/<pid>/status, summed over the
processes of a worker set-up), and a warning when other processes kept the machine busy meanwhile
(/proc/stat); --wait-idle waits for a quiet machine before each run. --profile N adds cProfile
listings of both GETs through the app in-process. Needs Linux (/proc) and, for 2, wrk (Debian:
apt-get install wrk).

Usage: python bench/bench_api.py [--quick] [--customers 1000] [--duration 10] [--connections 16]
           [--threads 2,4,8,16] [--workers 2,3] [--gthread 2x4] [--granian 2x1] [--bulk-servers run.py,granian]
           [--postgres] [--wait-idle S]
           [--profile N] [--skip-batch] [--skip-wrk] [--skip-bulk] [--keep]
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import glob
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.testing.process import wait_healthy  # noqa: E402

SLUG = "bayview"
DEMO = ("demo-third-party", "demo-secret")
CALLBACK = "http://127.0.0.1:9/callback"  # any loopback port is allowed for the demo third party
HISTORY_13_MONTHS = 34128000
HISTORY_YEAR = 31536000
READING = b"<espi:IntervalReading>"
USAGE_POINT = b"<espi:UsagePoint>"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
RUNNING = re.compile(r"^Green Button Sandbox running at (http://\S+)$")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHECKBOX = re.compile(r'name="usage_point" value="(\d+)"[^>]*>\s*<span><span class="commodity (\w+)"')

# targets of the issue
BATCH_P50_MS = 30.0
BATCH_P50_MS_23 = 10.0  # issue 23: the repeated GETs of a polled subscription
BATCH_FIRST_MS_23 = 50.0  # issue 23: a process's first Batch/Subscription
# what issue 23 started from (commit 29e463e, `--quick --skip-wrk --skip-bulk` on a quiet machine): p50 and
# the server's first request, in ms, by server
BASELINE_29E463E = {"granian": (18.2, 108.0), "run.py": (32.8, 122.0)}
ENTRY_RPS = 1000.0
ENTRY_P99_MS = 50.0
BULK_RSS_MB = 200.0
BULK_READINGS_PER_S = 500_000.0


# --- the server's processes, as /proc sees them ----------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on; None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def process_tree(root: int) -> list[int]:
    """`root` and its live descendants (gunicorn's master and workers)."""
    children: dict[int, list[int]] = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        pid = int(path.split("/")[2])
        fields = _stat(pid)
        if fields:
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat(pid) is not None:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """utime+stime of the server and its live children, plus the children it has reaped (cutime+cstime)."""
    ticks = 0
    for pid in process_tree(root):
        f = _stat(pid)
        if f:
            ticks += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
            if pid == root:
                ticks += int(f[13]) + int(f[14])  # cutime, cstime: workers that have exited
    return ticks / CLK_TCK


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(root: int) -> tuple[float, list[float]]:
    """(VmHWM summed over the server's processes, each process's VmHWM), in MB (MiB)."""
    each = [_status_kb(pid, "VmHWM") / 1024 for pid in process_tree(root)]
    return sum(each), each


def rss_mb(root: int) -> float:
    return sum(_status_kb(pid, "VmRSS") for pid in process_tree(root)) / 1024


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LIVE: list["Server"] = []


class Server:
    """A server this script started (run.py, or gunicorn with sandbox.wsgi:app), stopped on exit."""

    def __init__(
        self,
        label: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        url: str | None = None,
        timeout: float = 120,
    ):
        self.label, self.argv, self.timeout = label, argv, timeout
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._url = url  # known beforehand for gunicorn; read from the running-at line for run.py
        self.proc: subprocess.Popen | None = None
        self.out: list[str] = []
        self.db_root: int | None = None  # the PostgreSQL postmaster it uses, whose CPU is counted beside its own

    @classmethod
    def run_py(cls, database: str, threads: int | None = None, extra: tuple[str, ...] = ()) -> "Server":
        argv = [
            sys.executable,
            str(ROOT / "run.py"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--database",
            database,
            *extra,
        ]
        if threads:
            argv += ["--threads", str(threads)]
        return cls(f"run.py --threads {threads or 8}{'' if threads else ' (default)'}", argv)

    @classmethod
    def gunicorn(cls, database_url: str, workers: int, threads: int = 1, label_db: str = "SQLite") -> "Server":
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "sandbox.wsgi:app",
        ]
        kind = "sync"
        if threads > 1:
            argv[3:3] = ["--threads", str(threads)]
            kind = f"gthread --threads {threads}"
        return cls(
            f"gunicorn -w {workers} {kind} ({label_db})",
            argv,
            {"SANDBOX_DATABASE_URL": database_url},
            url=f"http://127.0.0.1:{port}",
        )

    @classmethod
    def granian(
        cls,
        database_url: str | None,
        workers: int,
        threads: int = 1,
        target: str = "sandbox.wsgi:app",
        env: dict[str, str] | None = None,
        label: str | None = None,
        working_dir: Path | None = None,
    ) -> "Server":
        """Granian (a Rust HTTP server with keep-alive) running `target` (the sandbox by default) in
        `workers` processes."""
        port = free_port()
        argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(workers), "--blocking-threads", str(threads), "--no-ws"]
        if working_dir is not None:
            argv += ["--working-dir", str(working_dir)]
        env = {**(env or {}), **({"SANDBOX_DATABASE_URL": database_url} if database_url else {})}
        return cls(
            label or f"granian --workers {workers} --blocking-threads {threads} (SQLite)",
            [*argv, target],
            env,
            url=f"http://127.0.0.1:{port}",
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"{self.label} has not started")
        return self._url

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 80)

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        _LIVE.append(self)
        found = threading.Event()

        def read():  # drained all along: a full pipe would block the server
            for line in self.proc.stdout:
                self.out.append(line.rstrip("\n"))
                m = RUNNING.match(self.out[-1])
                if m and self._url is None:
                    self._url = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        if self._url is None:
            found.wait(self.timeout)
            if self._url is None:
                self.stop()
                raise SystemExit(f"{self.label} did not start:\n" + "\n".join(self.out[-20:]))
        if not wait_healthy(self.port, lambda: self.proc.poll() is None, max(1.0, deadline - time.monotonic())):
            self.stop()
            raise SystemExit(f"{self.label}: /healthz did not answer 200:\n" + "\n".join(self.out[-20:]))
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # gunicorn's master stops its workers on SIGTERM
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # this server's own session (start_new_session)
                except OSError:
                    pass
                self.proc.wait()
        if self in _LIVE:
            _LIVE.remove(self)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle or waiting on I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def own_seconds() -> float:
    """CPU seconds of this process and the children it has waited for (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Meter:
    """Over a block: the server's CPU seconds and peak RSS, the wall time, and how busy the rest of
    the machine was (other processes share these 2 cores and depress every figure)."""

    def __init__(self, server: Server):
        self.server = server

    def _db_cpu(self) -> float:
        return cpu_seconds(self.server.db_root) if self.server.db_root else 0.0

    def __enter__(self) -> "Meter":
        self.cpu0, self.own0, self.busy0 = cpu_seconds(self.server.pid), own_seconds(), machine_busy_seconds()
        self.db0 = self._db_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu_seconds(self.server.pid) - self.cpu0
        self.db_cpu = self._db_cpu() - self.db0
        own = own_seconds() - self.own0
        busy = machine_busy_seconds() - self.busy0
        self.others = max(0.0, busy - self.cpu - self.db_cpu - own) / self.wall  # in cores
        self.peak, self.peaks = peak_rss_mb(self.server.pid)
        if self.others > 0.2:
            OTHER_LOAD.append(self.others)

    def load(self) -> str:
        """A warning when other processes were busy during the block, else nothing."""
        return f"; OTHER processes kept {self.others:.1f} cores busy" if self.others > 0.2 else ""

    def text(self) -> str:
        procs = f" over {len(self.peaks)} processes" if len(self.peaks) > 1 else ""
        db = f" (and PostgreSQL {self.db_cpu:.1f} s)" if self.server.db_root else ""
        return (
            f"server CPU {self.cpu:.1f} s{db} in {self.wall:.1f} s ({self.cpu / self.wall:.0%} of one core), "
            f"peak RSS {self.peak:.0f} MB{procs}{self.load()}"
        )


WAIT_IDLE = 0.0  # --wait-idle: seconds to wait, before each measured run, for other processes to go quiet


def settle() -> None:
    """With --wait-idle, wait until the rest of the machine has been quiet (< 0.3 cores busy) for a
    second; our servers are idle between runs, so what is busy is someone else's."""
    if WAIT_IDLE <= 0:
        return
    deadline = time.monotonic() + WAIT_IDLE
    waited = 0
    while True:
        b0, o0, t0 = machine_busy_seconds(), own_seconds(), time.perf_counter()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - b0 - (own_seconds() - o0)) / (time.perf_counter() - t0)
        if busy < 0.3 or time.monotonic() > deadline:
            if waited:
                print(f"   (waited {waited} s for other processes to go quiet; {busy:.1f} cores busy now)")
            return
        waited += 1


OTHER_LOAD: list[float] = []
NOTES: set[str] = set()  # cores other processes used during measured runs, where it was notable


# --- tokens over HTTP, as a third party and a customer get them (tests/live/tokens.py) -------------------


def _csrf(html: str) -> str:
    m = CSRF.search(html)
    if not m:
        raise SystemExit("no CSRF token on the page")
    return m.group(1)


def history_scope(base: str, seconds: int) -> str:
    """The demo third party's first advertised scope (usage only), with HistoryLength=`seconds`."""
    import requests

    meta = requests.get(f"{base}/dc/{SLUG}/.well-known/oauth-authorization-server", timeout=30).json()
    offered = meta.get("scopes_supported") or []
    exact = [s for s in offered if f"HistoryLength={seconds}" in s.split(";")]
    if exact:
        return exact[0]
    if not offered:
        raise SystemExit("the utility advertises no scopes")
    terms = [t for t in offered[0].split(";") if not t.startswith("HistoryLength=")]
    return ";".join(terms + [f"HistoryLength={seconds}"])


def customer_token(base: str, scope: str, commodity: str = "electricity") -> dict:
    """The demo customer's token for the demo third party, consenting to one usage point only."""
    import requests

    s = requests.Session()
    page = s.get(f"{base}/dc/{SLUG}/", timeout=30).text
    r = s.post(
        f"{base}/dc/{SLUG}/login",
        data={"method": "password", "username": "demo", "password": "demo", "csrf_token": _csrf(page)},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 303:
        raise SystemExit(f"demo sign-in failed: {r.status_code} {r.text[:200]}")
    q = {"client_id": DEMO[0], "redirect_uri": CALLBACK, "response_type": "code", "scope": scope, "state": "bench"}
    url = f"{base}/dc/{SLUG}/oauth/authorize?" + urlencode(q)
    consent = s.get(url, timeout=30)
    if consent.status_code != 200:
        raise SystemExit(f"consent page: {consent.status_code} {consent.text[:300]}")
    boxes = CHECKBOX.findall(consent.text)
    ticked = [row for row, kind in boxes if kind == commodity][:1]
    if not ticked:
        raise SystemExit(f"no {commodity} usage point on the consent page (found {boxes})")
    r = s.post(
        url,
        data={"csrf_token": _csrf(consent.text), "decision": "accept", "usage_point": ticked},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 302:
        raise SystemExit(f"consent: {r.status_code} {r.text[:300]}")
    code = dict(p.split("=", 1) for p in urlsplit(r.headers["Location"]).query.split("&"))["code"]
    r = requests.post(
        f"{base}/dc/{SLUG}/oauth/token",
        auth=DEMO,
        timeout=30,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
    )
    if r.status_code != 200:
        raise SystemExit(f"token: {r.status_code} {r.text[:300]}")
    return r.json()


def client_token(base: str) -> dict:
    import requests

    r = requests.post(f"{base}/dc/{SLUG}/oauth/token", auth=DEMO, data={"grant_type": "client_credentials"}, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"client token: {r.status_code} {r.text[:300]}")
    return r.json()


# --- HTTP measurement ----------------------------------------------------------------------------


def get(
    port: int,
    path: str,
    token: str,
    gzip: bool = False,
    conn: http.client.HTTPConnection | None = None,
    headers_out: dict | None = None,
) -> tuple[int, bytes, float]:
    """(status, body, seconds from sending the request to its last byte); the response's headers
    into `headers_out` if given."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip" if gzip else "identity"}
    t0 = time.perf_counter()
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    took = time.perf_counter() - t0
    if headers_out is not None:
        headers_out.update((k.lower(), v) for k, v in r.getheaders())
    if conn is None:
        c.close()
    return r.status, body, took


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


@dataclass
class Row:
    figure: str
    measured: str
    target: str
    ratio: float | None
    ok: bool | None
    server: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        figure: str,
        measured: str,
        target: str = "",
        ratio: float | None = None,
        ok: bool | None = None,
        server: str = "",
    ) -> None:
        self.rows.append(Row(figure, measured, target, ratio, ok, server))

    def print(self) -> None:
        head = ("figure", "measured", "target", "ratio", "", "server CPU / peak RSS")
        cells = [head] + [
            (
                r.figure,
                r.measured,
                r.target,
                "" if r.ratio is None else f"{r.ratio:.2f}",
                "" if r.ok is None else ("ok" if r.ok else "MISSED"),
                r.server,
            )
            for r in self.rows
        ]
        print_table("Summary (ratio = measured / target; 'at most' targets want <= 1, 'at least' ones >= 1)", cells)


def print_table(title: str, cells: Sequence[Sequence[str]]) -> None:
    """A title, then the rows in aligned columns, the first row as the header."""
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    print(f"\n{title}")
    for i, c in enumerate(cells):
        print("  " + "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


# --- 1. Batch/Subscription of one usage point ------------------------------------------------------


def in_process_writer(db_url: str, base: str, sid: str, self_href: str):
    """A function writing Batch/Subscription/{sid} in this process, with the view's code (the
    subscription loaded from the database beforehand, so only computing and writing are timed)."""
    from sqlalchemy import select

    from sandbox.core.clock import Clock
    from sandbox.core.db import Database
    from sandbox.core.models import Authorization
    from sandbox.espi import urls
    from sandbox.espi.query import Query
    from sandbox.feeds import documents as docs
    from sandbox.services import subscriptions
    from sandbox.services.world import stored_world

    db = Database(db_url)
    world = stored_world(db)
    if world is None:
        raise SystemExit(f"{db_url} holds no world")
    utility = world.utility(SLUG)
    clock = Clock()
    place = docs.Place(world, utility, clock, urls.resource_root(base + "/", SLUG), Query())
    s = db.sessions()
    auth = s.scalars(select(Authorization).where(Authorization.subscription_uuid == sid)).one()
    sh = subscriptions.shared(auth)
    for up in sh.usage_points:
        _ = up.params, up.imported_streams  # loaded now, not while timed
    _ = sh.customer.service_start

    def write() -> bytes:
        tree = docs.Tree(
            docs.subscription_href(place, sh.id),
            sh.customer,
            sh.usage_points,
            sh.content,
            sh.earliest(clock.now(), utility.time_zone),
        )
        entries, updated = docs.usage_entries(place, tree)
        return b"".join(docs.feed(place, self_href, "Green Button Connect My Data", entries, updated))

    return write, sh, utility.time_zone


def bench_batch(report: Report, server: Server, db_url: str, token: dict, runs: int) -> None:
    resource = token["resourceURI"]  # .../Batch/Subscription/{sid}
    path = urlsplit(resource).path
    sid = path.rsplit("/", 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    status, body, first = get(server.port, path, token["access_token"], conn=conn)  # the server's first
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    get(server.port, path, token["access_token"], conn=conn)  # warm
    write, sh, tz = in_process_writer(db_url, server.url, sid, server.url + path)
    doc = write()  # warm
    times, local = [], []
    settle()
    with Meter(server) as m:  # interleaved, as bench_xml.py does, so both see the same machine
        for _ in range(runs):
            status, got, took = get(server.port, path, token["access_token"], conn=conn)
            if status != 200:
                raise SystemExit(f"GET {path}: {status}")
            times.append(took)
            t0 = time.perf_counter()
            doc = write()
            local.append(time.perf_counter() - t0)
    gz = []
    for _ in range(max(3, runs // 3)):
        _, zbody, took = get(server.port, path, token["access_token"], gzip=True, conn=conn)
        gz.append(took)
    conn.close()
    readings, ups = body.count(READING), body.count(USAGE_POINT)
    priced = b"<espi:cost>" in body
    p50 = statistics.median(times)
    p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
    base = statistics.median(local)
    same = (
        "same bytes as over HTTP"
        if doc == body
        else f"DIFFERENT bytes from HTTP ({len(doc):,} vs {len(body):,}; the day may have changed)"
    )
    tree_days = sh.earliest(dt.datetime.now(dt.timezone.utc), tz)
    print(
        f"1. Batch/Subscription/{{id}}, {ups} usage point, from {tree_days} (HistoryLength={HISTORY_13_MONTHS}), "
        f"hourly{' with cost' if priced else ' WITHOUT cost'}: {readings:,} readings, {len(body) / 1e6:.2f} MB"
    )
    print(
        f"   over HTTP ({server.label}, identity): p50 {ms(p50)}, p90 {ms(p90)}, min {ms(min(times))} of {runs}; "
        f"budget {BATCH_P50_MS:.0f} ms -> ratio {p50 * 1000 / BATCH_P50_MS:.2f}; the server's first request "
        f"(nothing kept yet, imports and caches cold) {ms(first)}"
    )
    print(
        f"   in-process writer (documents.usage_entries + feed, {same}): median {ms(base)} of {runs} "
        f"-> HTTP/in-process ratio {p50 / base:.2f}"
    )
    print(
        f"   with Accept-Encoding: gzip: p50 {ms(statistics.median(gz))} ({len(zbody) / 1e6:.2f} MB sent); "
        f"server over the identity runs: {m.cpu / runs * 1000:.1f} ms CPU per request, peak RSS {m.peak:.0f} MB"
        f"{m.load()}"
    )
    report.add(
        f"Batch/Subscription 1 UP 13 months, p50 HTTP, {server.label}",
        ms(p50),
        f"<= {BATCH_P50_MS:.0f} ms",
        p50 * 1000 / BATCH_P50_MS,
        p50 * 1000 <= BATCH_P50_MS,
        f"{m.cpu / runs * 1000:.1f} ms CPU/req, {m.peak:.0f} MB",
    )
    base_p50, base_first = BASELINE_29E463E["granian" if "granian" in server.label else "run.py"]
    print(
        f"   issue 23: p50 {ms(p50)}, target {BATCH_P50_MS_23:.0f} ms -> ratio {p50 * 1000 / BATCH_P50_MS_23:.2f}; "
        f"first request {ms(first)}, target {BATCH_FIRST_MS_23:.0f} ms -> ratio {first * 1000 / BATCH_FIRST_MS_23:.2f}; "
        f"against baseline 29e463e (p50 {base_p50} ms, first {base_first:.0f} ms): p50 x{p50 * 1000 / base_p50:.2f}, "
        f"first x{first * 1000 / base_first:.2f}"
    )
    report.add(
        "  p50 HTTP, issue 23's target",
        ms(p50),
        f"<= {BATCH_P50_MS_23:.0f} ms",
        p50 * 1000 / BATCH_P50_MS_23,
        p50 * 1000 <= BATCH_P50_MS_23,
        f"29e463e: {base_p50} ms (x{p50 * 1000 / base_p50:.2f})",
    )
    report.add("  in-process writer, same feed (baseline)", ms(base), "HTTP/in-process", p50 / base, None)
    report.add(
        "  the server's first request",
        ms(first),
        f"<= {BATCH_FIRST_MS_23:.0f} ms",
        first * 1000 / BATCH_FIRST_MS_23,
        first * 1000 <= BATCH_FIRST_MS_23,
        f"29e463e: {base_first:.0f} ms (x{first * 1000 / base_first:.2f})",
    )
    report.add("  with gzip, p50 HTTP", ms(statistics.median(gz)))


# --- 2. small entry GETs under wrk ---------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency_ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkResult:
    rps: float
    requests: int
    p50: float
    p99: float
    non2xx: int
    socket_errors: int
    raw: str


def run_wrk(
    url: str,
    token: str,
    duration: float,
    connections: int,
    folder: Path,
    threads: int = 1,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    script = folder / "bearer.lua"
    lines = ['wrk.method = "GET"', f'wrk.headers["Authorization"] = "Bearer {token}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    script.write_text("\n".join(lines) + "\n")
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration:g}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    text = out.stdout
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    done = re.search(r"^\s+(\d+) requests in", text, re.M)
    if rate is None or done is None or "50" not in dist or "99" not in dist:
        raise SystemExit(f"unexpected wrk output:\n{text}")
    rps, requests = float(rate.group(1)), int(done.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        rps,
        requests,
        _latency_ms(dist["50"]),
        _latency_ms(dist["99"]),
        int(non2xx.group(1)) if non2xx else 0,
        sum(int(x) for x in sock.groups()) if sock else 0,
        text,
    )


def bench_entry(report: Report, server: Server, token: dict, up_uuid: str, args, folder: Path) -> WrkResult:
    sid = urlsplit(token["resourceURI"]).path.rsplit("/", 1)[1]
    path = f"/dc/{SLUG}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{up_uuid}"
    headers: dict = {}
    status, body, took = get(server.port, path, token["access_token"], headers_out=headers)
    if status != 200 or USAGE_POINT not in body:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    if headers.get("connection", "").lower() == "close":
        framing = (
            f"Content-Length {headers['content-length']}"
            if "content-length" in headers
            else f"no Content-Length, Transfer-Encoding {headers.get('transfer-encoding', '-')}"
        )
        NOTES.add(
            f"{server.label}: the {len(body):,}-byte entry comes with Connection: close ({framing}), so every "
            "request pays a new TCP connection"
        )
    url = server.url + path
    run_wrk(url, token["access_token"], args.warmup, args.connections, folder)  # warm: imports, pools, caches
    # one request at a time on one connection (reopened when the server closes it): the cost of a
    # request without concurrency, to set beside wrk's figures
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times = []
    n = args.sequential
    settle()
    with Meter(server) as one:
        for _ in range(n):
            status, _, took = get(server.port, path, token["access_token"], conn=conn)
            if status != 200:
                raise SystemExit(f"GET {path}: {status}")
            times.append(took)
    conn.close()
    with Meter(server) as m:
        w = run_wrk(url, token["access_token"], args.duration, args.connections, folder)
    errors = w.non2xx + w.socket_errors
    ok = w.rps >= ENTRY_RPS and errors == 0 and w.p99 <= ENTRY_P99_MS
    print(
        f"   {server.label}: {w.rps:,.0f} requests/s ({w.requests:,} in {args.duration:g} s, {args.connections} "
        f"connections), p50 {w.p50:.2f} ms, p99 {w.p99:.2f} ms, non-2xx {w.non2xx}, socket errors "
        f"{w.socket_errors}; target >= {ENTRY_RPS:,.0f}/s -> ratio {w.rps / ENTRY_RPS:.2f}, p99 budget "
        f"{ENTRY_P99_MS:.0f} ms -> ratio {w.p99 / ENTRY_P99_MS:.2f}; {m.text()}, "
        f"{(m.cpu + m.db_cpu) / max(1, w.requests) * 1000:.2f} ms CPU per request"
    )
    print(
        f"      one at a time ({n} requests, 1 connection): p50 {ms(statistics.median(times))}, server "
        f"{(one.cpu + one.db_cpu) / n * 1000:.2f} ms CPU per request{one.load()}"
    )
    report.add(
        f"UsagePoint GET, {server.label}",
        f"{w.rps:,.0f}/s p50 {w.p50:.1f} p99 {w.p99:.1f} ms, {errors} err",
        f">= {ENTRY_RPS:,.0f}/s",
        w.rps / ENTRY_RPS,
        ok,
        f"{(m.cpu + m.db_cpu) / max(1, w.requests) * 1000:.2f} ms CPU/req, {m.peak:.0f} MB",
    )
    return w


# --- 3. Batch/Bulk of 1,000 authorizations --------------------------------------------------------------


def seed(db_url: str, customers: int) -> None:
    """The world with `customers` generated customers per utility (as `flask --app sandbox seed --customers N`)."""
    from sandbox.core.clock import Clock
    from sandbox.core.db import Database
    from sandbox.services.world import seed_world
    from sandbox.synth.world import read_seed_dir

    db = Database(db_url)
    seed_world(db, read_seed_dir(ROOT / "seed_data"), Clock(), customers=customers)
    db.engine.dispose()


def add_bulk_authorizations(db_url: str, count: int) -> int:
    """`count` active authorizations of the demo third party, each sharing the first electricity usage
    point of a generated customer with a full year of service, in the third party's default bulk
    (no BR term), HistoryLength one year. Made in the database before the server starts."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from sandbox.core.db import Database
    from sandbox.core.models import Application, Authorization, Customer, Utility
    from sandbox.espi.scopes import standard_scopes
    from sandbox.espi.uuids import resource_uuid_str
    from sandbox.services.world import stored_world

    db = Database(db_url)
    world = stored_world(db)
    if world is None:
        raise SystemExit(f"{db_url} holds no world")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    year_ago = (now - dt.timedelta(days=366)).date()
    with db.transaction() as s:
        utility = s.scalars(select(Utility).where(Utility.slug == SLUG)).one()
        app = s.scalars(
            select(Application).where(Application.utility_id == utility.id, Application.client_id == DEMO[0])
        ).one()
        u = world.utility(SLUG)  # the usage-only scope the metadata advertises (scopes_supported)
        base_scope = sorted(set(standard_scopes(u.commodities, u.electricity_interval)))[0]
        scope = ";".join(
            [t for t in base_scope.split(";") if not t.startswith(("HistoryLength=", "BR="))]
            + [f"HistoryLength={HISTORY_YEAR}"]
        )
        customers = s.scalars(
            select(Customer)
            .where(Customer.utility_id == utility.id, Customer.number > 0)
            .options(selectinload(Customer.usage_points))
            .order_by(Customer.number)
        )
        # the world's own demo authorization (the demo customer's two usage points, 13 months) would join
        # the default bulk too: ended here, so the bulk holds exactly the authorizations made below
        for a in s.scalars(
            select(Authorization).where(Authorization.application_id == app.id, Authorization.status == "active")
        ):
            a.status, a.ended_at, a.status_reason = "revoked", now, "ended by bench_api.py"
        made = 0
        for c in customers:
            if made == count:
                break
            if c.service_end is not None or c.service_start > year_ago:
                continue
            up = next((p for p in c.usage_points if p.commodity == "electricity"), None)
            if up is None:
                continue
            uuid = resource_uuid_str(world.seed, SLUG, "authorization", f"bench-bulk-{c.number}")
            s.add(
                Authorization(
                    utility_id=utility.id,
                    uuid=uuid,
                    subscription_uuid=uuid,
                    application_id=app.id,
                    customer_id=c.id,
                    scope=scope,
                    grant_type="authorization_code",
                    status="active",
                    authorized_start=now - dt.timedelta(minutes=5),
                    authorized_end=now + dt.timedelta(days=730),
                    created_at=now - dt.timedelta(minutes=5),
                    usage_points=[up],
                )
            )
            made += 1
    db.engine.dispose()
    return made


def bench_bulk(report: Report, server: Server, authorizations: int) -> None:
    token = client_token(server.url)
    path = urlsplit(token["resourceURI"]).path  # Batch/Bulk/demo-third-party
    rss0 = rss_mb(server.pid)
    samples: list[float] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            samples.append(rss_mb(server.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    counts = {READING: 0, USAGE_POINT: 0}
    carry = {READING: b"", USAGE_POINT: b""}
    size = 0
    first_byte = None
    settle()
    client0 = time.process_time()
    with Meter(server) as m:
        sampler.start()
        t0 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        c.request(
            "GET", path, headers={"Authorization": f"Bearer {token['access_token']}", "Accept-Encoding": "identity"}
        )
        r = c.getresponse()
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status} {r.read()[:300]!r}")
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            if first_byte is None:
                first_byte = time.perf_counter() - t0
            size += len(chunk)
            for pat in counts:  # counted as they arrive; a tag cut by a chunk boundary is found with the carry
                buf = carry[pat] + chunk
                counts[pat] += buf.count(pat)
                carry[pat] = buf[-(len(pat) - 1) :]
        wall = time.perf_counter() - t0
        c.close()
        stop.set()
        sampler.join()
    client_cpu = time.process_time() - client0
    readings, ups = counts[READING], counts[USAGE_POINT]
    rate = readings / wall
    print(
        f"3. Batch/Bulk/{DEMO[0]} ({authorizations:,} authorizations made; {ups:,} usage points in the feed): "
        f"{readings:,} readings, {size / 1e9:.2f} GB in {wall:.1f} s (first byte after {ms(first_byte or 0)}) -> "
        f"{rate:,.0f} readings/s; target >= {BULK_READINGS_PER_S:,.0f} -> ratio {rate / BULK_READINGS_PER_S:.2f}"
    )
    print(
        f"   peak server RSS (VmHWM) {m.peak:.0f} MB (RSS {rss0:.0f} MB before the request, "
        f"{max(samples or [0]):.0f} MB highest sampled); budget {BULK_RSS_MB:.0f} MB -> ratio {m.peak / BULK_RSS_MB:.2f}; "
        f"{m.text()}; {readings / max(m.cpu, 1e-9):,.0f} readings per server CPU second; client CPU {client_cpu:.1f} s"
    )
    report.add(
        f"Batch/Bulk {authorizations:,} auths x 1 year, readings/s, {server.label}",
        f"{rate:,.0f}/s",
        f">= {BULK_READINGS_PER_S:,.0f}/s",
        rate / BULK_READINGS_PER_S,
        rate >= BULK_READINGS_PER_S,
        f"{m.cpu:.1f} s CPU in {m.wall:.1f} s",
    )
    report.add(
        "  peak server RSS (VmHWM)",
        f"{m.peak:.0f} MB",
        f"<= {BULK_RSS_MB:.0f} MB",
        m.peak / BULK_RSS_MB,
        m.peak <= BULK_RSS_MB,
    )


# --- PostgreSQL (optional): a throw-away cluster, as tests/test_postgres.py makes one -----------------


class Postgres:
    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("--postgres: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
        self.bin = os.path.dirname(found[-1])
        self.tmp = tempfile.mkdtemp(prefix="bench-api-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.port = free_port()
        self.started = False

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
        subprocess.run(
            self._as_postgres([f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres"]),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            self._as_postgres(
                [
                    f"{self.bin}/pg_ctl",
                    "-D",
                    self.data,
                    "-w",
                    "-l",
                    os.path.join(self.tmp, "log"),
                    "-o",
                    f"-p {self.port} -k {self.tmp} -c listen_addresses=''",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.started = True
        subprocess.run(
            self._as_postgres([f"{self.bin}/createdb", "-h", self.tmp, "-p", str(self.port), "sandbox"]),
            check=True,
            capture_output=True,
        )
        return f"postgresql+psycopg://postgres@/sandbox?host={self.tmp}&port={self.port}"

    @property
    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int(Path(self.data, "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                self._as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"]),
                capture_output=True,
            )
            self.started = False
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- main ----------------------------------------------------------------------------------------


def profile_in_process(db_url: str, token: dict, up_uuid: str, requests: int) -> None:
    """cProfile of the two GETs through the app in this process (Flask's test client, no HTTP server):
    where the server's time goes."""
    import cProfile
    import pstats

    from sandbox import create_app

    app = create_app({"DATABASE_URL": db_url})
    client = app.test_client()
    sid = urlsplit(token["resourceURI"]).path.rsplit("/", 1)[1]
    root = f"/dc/{SLUG}/espi/1_1/resource"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for label, path, n in (
        ("Subscription/{id}/UsagePoint/{id} entry", f"{root}/Subscription/{sid}/UsagePoint/{up_uuid}", requests),
        ("Batch/Subscription/{id}", f"{root}/Batch/Subscription/{sid}", max(5, requests // 50)),
    ):

        def one(path: str = path) -> None:
            r = client.get(path, headers=headers)
            r.get_data()
            r.close()  # ends the streamed response's request context
            if r.status_code != 200:
                raise SystemExit(f"profile: GET {path}: {r.status_code}")

        one()
        t0 = time.perf_counter()
        for _ in range(n):
            one()
        plain = (time.perf_counter() - t0) / n
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            one()
        prof.disable()
        print(f"\n--- profile: {label}, {n} requests in-process: {ms(plain)} each without the profiler")
        st = pstats.Stats(prof, stream=sys.stdout)
        st.sort_stats("tottime").print_stats(12)
        st.sort_stats("cumulative").print_stats("sandbox/", 15)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def first_usage_point_uuid(server: Server, token: dict) -> str:
    sid = urlsplit(token["resourceURI"]).path.rsplit("/", 1)[1]
    path = f"/dc/{SLUG}/espi/1_1/resource/Subscription/{sid}/UsagePoint"
    status, body, _ = get(server.port, path, token["access_token"])
    m = re.search(rb'rel="self" href="[^"]*/UsagePoint/([0-9a-f-]{36})"', body)
    if status != 200 or not m:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return m.group(1).decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer requests, 3 s wrk runs, 100 authorizations")
    ap.add_argument(
        "--customers",
        type=int,
        help="authorizations in the bulk (default 1000; --quick 100); the world "
        "is seeded with this many generated customers per utility",
    )
    ap.add_argument("--runs", type=int, help="Batch/Subscription requests timed (default 40; --quick 10)")
    ap.add_argument("--duration", type=float, help="seconds of each measured wrk run (default 10; --quick 3)")
    ap.add_argument("--warmup", type=float, help="seconds of wrk before each measured run (default 2; --quick 1)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--sequential", type=int, help="entry GETs sent one at a time per set-up (default 200; --quick 50)")
    ap.add_argument("--threads", help="run.py --threads values for the wrk runs (default 2,4,8,16; --quick 8)")
    ap.add_argument("--workers", help="gunicorn sync worker counts over SQLite (default 2,3; --quick 2); '' for none")
    ap.add_argument("--granian", help="granian set-ups WxT: W workers, T blocking threads each (default 2x1)")
    ap.add_argument("--gthread", help="gunicorn gthread set-ups WxT (default 2x4; --quick none)")
    ap.add_argument(
        "--postgres", action="store_true", help="also gunicorn -w 2 and -w 3 over a throw-away PostgreSQL cluster"
    )
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-wrk", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    ap.add_argument(
        "--bulk-servers",
        default="run.py,granian",
        help="servers of the Batch/Bulk run: run.py (Waitress), granian (one worker); default both",
    )
    ap.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="also profile N UsagePoint entry GETs (and N/50 "
        "Batch/Subscription GETs) through the app in-process with cProfile",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="S",
        help="before each measured run, wait up to "
        "S seconds for other processes on the machine to go quiet (default 0: do not wait)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, wrk script)")
    args = ap.parse_args()
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle
    q = args.quick
    args.customers = args.customers if args.customers is not None else (100 if q else 1000)
    args.runs = args.runs or (10 if q else 40)
    args.sequential = args.sequential or (50 if q else 200)
    args.duration = args.duration or (3.0 if q else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if q else 2.0)
    threads = _ints(args.threads if args.threads is not None else ("8" if q else "2,4,8,16"))
    workers = _ints(args.workers if args.workers is not None else ("2" if q else "2,3"))
    gthreads = [
        tuple(int(x) for x in s.split("x"))
        for s in (args.gthread if args.gthread is not None else ("" if q else "2x4")).split(",")
        if s.strip()
    ]
    granians = [
        tuple(int(x) for x in s.split("x"))
        for s in (args.granian if args.granian is not None else "2x1").split(",")
        if s.strip()
    ]
    if not args.skip_wrk and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk), or pass --skip-wrk")
    if not Path("/proc/self/stat").exists():
        raise SystemExit("this benchmark reads /proc (Linux only)")

    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    pg: Postgres | None = None
    report = Report()
    db_file = folder / "world.db"
    db_url = f"sqlite:///{db_file}"
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {' '.join(load)} before "
        f"starting; folder {folder}"
    )
    try:
        t0 = time.perf_counter()
        seed(db_url, args.customers)
        print(f"seeded {args.customers:,} generated customers per utility in {time.perf_counter() - t0:.1f} s")

        # 3 first: the customer token made below would join the demo third party's default bulk
        if not args.skip_bulk:
            made = add_bulk_authorizations(db_url, args.customers)
            for name in args.bulk_servers.split(","):
                bulk_server = Server.granian(db_url, 1) if name == "granian" else Server.run_py(str(db_file))
                with bulk_server as server:
                    bench_bulk(report, server, made)

        token: dict = {}
        up_uuid = ""
        if not (args.skip_batch and args.skip_wrk and not args.profile):
            with Server.run_py(str(db_file)) as server:
                scope = history_scope(server.url, HISTORY_13_MONTHS)
                token = customer_token(server.url, scope)
                up_uuid = first_usage_point_uuid(server, token)
                print(f"customer token: scope {token['scope']}, one usage point {up_uuid}")
                if not args.skip_batch:
                    bench_batch(report, server, db_url, token, args.runs)
            if not args.skip_batch:
                with Server.granian(db_url, 1) as server:
                    bench_batch(report, server, db_url, token, args.runs)

        if not args.skip_wrk:
            print("2. Subscription/{id}/UsagePoint/{id} entry GETs under wrk (1 wrk thread, on the same 2 cores)")
            setups = [Server.run_py(str(db_file), n) for n in threads]
            setups += [Server.gunicorn(db_url, n) for n in workers]
            setups += [Server.gunicorn(db_url, w, t) for w, t in gthreads]
            setups += [Server.granian(db_url, w, t) for w, t in granians]
            best: list[tuple[float, str]] = []
            for setup in setups:
                with setup as server:
                    w = bench_entry(report, server, token, up_uuid, args, folder)
                    best.append((w.rps if w.non2xx + w.socket_errors == 0 else 0, server.label))
            if args.postgres:
                pg = Postgres()
                pg_url = pg.start()
                seed(pg_url, 4)
                first = None
                for n in (2, 3):
                    setup = Server.gunicorn(pg_url, n, label_db="PostgreSQL")
                    setup.db_root = pg.pid
                    with setup as server:
                        if first is None:  # a token of this database's own
                            first = customer_token(server.url, history_scope(server.url, HISTORY_13_MONTHS))
                            first_up = first_usage_point_uuid(server, first)
                        w = bench_entry(report, server, first, first_up, args, folder)
                        best.append((w.rps if w.non2xx + w.socket_errors == 0 else 0, server.label))
            rps, label = max(best)
            print(f"   best error-free set-up: {label}, {rps:,.0f} requests/s")
        if args.profile:
            profile_in_process(db_url, token, up_uuid, args.profile)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        _stop_all()
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    for note in sorted(NOTES):
        print(f"note: {note}")
    if OTHER_LOAD:
        print(
            f"WARNING: other processes on this machine used up to {max(OTHER_LOAD):.1f} of its {os.cpu_count()} "
            f"cores during {len(OTHER_LOAD)} measured runs: those figures are lower than on an idle machine"
        )
    report.print()


if __name__ == "__main__":
    main()
