#!/usr/bin/env python3
"""Issue 21's performance checks ("Safe to serve beyond loopback"): what the hardening costs, and what
it buys back, against servers this script starts on free loopback ports and stops on exit.

1. tokens: `client_credentials` tokens per second on 2 cores [>= 500; before issue 21: 5.6/s, each
   client authentication an scrypt check of ~100 ms and 32 MB]. wrk POSTs grant_type=client_credentials
   with the demo third party's HTTP Basic credentials (as the tests do: no scope, the client's own)
   to /dc/bayview/oauth/token through `python run.py` (Waitress, its default threads) and through
   granian (2 workers by default, --granian WxT) over the same SQLite file. Every token issued writes
   a token row.
2. signin: token issue on SQLite while `--signin-threads` (6) browsers sign in to the customer portal
   with names nobody has (a new name each time, so no lock-out stops them) and wrong passwords, against
   the rate without them [with/without >= 0.5; before issue 21: 0.3 of 86.7 per second, the slow
   password check held SQLite's only write lock]. Through run.py; wrk issues client_credentials tokens
   on `--token-connections` (2) connections while the sign-ins run from a thread pool in this script.
   Rounds alternate (without, with; with, without; ...) and the figure is the ratio of the medians.
   The abuse limits on failed sign-ins would otherwise stop the flood (429) and measure the limiter:
   they are switched off in this server with `--limiter-env` (default SANDBOX_RATELIMIT=0, the tree's
   switch of every abuse limit; a variable the tree does not know is ignored). Sign-ins answered 429
   are counted and reported.
3. api: the small entry GET (Subscription/{id}/UsagePoint/{id}, wrk, requests/s) and Batch/Subscription
   (one electricity usage point, 13 months hourly with cost, p50 of `--gets` GETs) of bench_api.py,
   this tree against the tree of `--baseline` (ee9a941, the last commit before issue 21) [within 5%:
   entry rate current/baseline >= 0.95, Batch/Subscription p50 current/baseline <= 1.05]. As
   bench_profiles.py does it (its server): a fresh run.py of each tree on a fresh SQLite file every
   round, in alternating order, both with this venv's Python; the figure is the median over rounds.
   Beside each, the server's CPU per request, which other processes on a shared machine move less
   than times and rates. The baseline tree is `git archive`d into the temporary folder (nothing in
   the repository changes).

The worlds of 1 and 2 are seeded in this process by this tree's code (20 generated customers a
utility), so the tree must be able to seed.

Every run comes with the server's CPU and peak RSS and a warning when other processes kept the
machine busy (bench_api.Meter); --wait-idle S waits up to S seconds for a quiet machine before each
measured run. Needs Linux (/proc), wrk (Debian: apt-get install wrk) and git.

Usage: python bench/bench_security.py [--quick] [--only tokens,signin,api] [--duration 10] [--rounds 3]
           [--baseline ee9a941] [--connections 8] [--token-connections 2] [--signin-threads 6]
           [--granian 2x1] [--gets 40] [--limiter-env SANDBOX_RATELIMIT=0] [--wait-idle S] [--keep]
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_api  # noqa: E402
from bench_api import (  # noqa: E402
    CSRF,
    DEMO,
    HISTORY_13_MONTHS,
    OTHER_LOAD,
    ROOT,
    SLUG,
    Meter,
    Server,
    WrkResult,
    _latency_ms,
    _stop_all,
    client_token,
    customer_token,
    first_usage_point_uuid,
    get,
    history_scope,
    print_table,
    run_wrk,
    seed,
    settle,
)
from bench_profiles import server as tree_server  # noqa: E402

BASELINE = "ee9a941"  # the last commit before issue 21
TOKENS_PER_S = 500.0  # target of 1
TOKENS_BEFORE = 5.6  # tokens/s measured before issue 21
SIGNIN_RATIO = 0.5  # target of 2: token issue with the sign-in flood / without
SIGNIN_BEFORE = (0.3, 86.7)  # tokens/s with and without the flood, before issue 21
API_RATIO = 1.05  # target of 3: at most 5% slower than the baseline
LIMITER_ENV = "SANDBOX_RATELIMIT=0"  # config RATELIMIT (sandbox/web/limits.py): every abuse limit off
CUSTOMERS = 20  # generated customers per utility in the seeded worlds of 1 and 2: their size costs nothing here


# --- wrk POSTing a token request ------------------------------------------------------------------


@dataclass
class PostResult(WrkResult):
    max_ms: float = 0.0  # the slowest answer (wrk's Latency Max)
    timeouts: int = 0  # requests wrk gave up on after --timeout


def _lua(text: str) -> str:
    if not re.fullmatch(r"[\w=+/:;. -]*", text):
        raise ValueError(f"not a plain Lua string: {text!r}")
    return f'"{text}"'


def token_script(folder: Path, client: tuple[str, str] = DEMO) -> Path:
    """wrk's Lua script: POST grant_type=client_credentials with the client's HTTP Basic credentials."""
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    script = folder / "token.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {_lua('grant_type=client_credentials')}\n"
        f'wrk.headers["Content-Type"] = {_lua("application/x-www-form-urlencoded")}\n'
        f'wrk.headers["Authorization"] = {_lua("Basic " + basic)}\n'
    )
    return script


def wrk_post(url: str, script: Path, duration: float, connections: int, timeout: float = 5.0) -> PostResult:
    """wrk with `script` on one thread: its rate, latency percentiles and maximum, and its errors."""
    cmd = [
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{duration:g}s",
        "--timeout",
        f"{timeout:g}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout + 60)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    text = out.stdout
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    done = re.search(r"^\s+(\d+) requests in", text, re.M)
    if rate is None or done is None:
        raise SystemExit(f"unexpected wrk output:\n{text}")
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M))  # wrk pads "1.24s " with a space
    latency = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    nan = float("nan")
    return PostResult(
        rps=float(rate.group(1)),
        requests=int(done.group(1)),
        p50=_latency_ms(dist["50"]) if "50" in dist else nan,
        p99=_latency_ms(dist["99"]) if "99" in dist else nan,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(x) for x in sock.groups()) if sock else 0,
        raw=text,
        max_ms=_latency_ms(latency.group(1)) if latency else nan,
        timeouts=int(sock.group(4)) if sock else 0,
    )


def errors(w: PostResult) -> str:
    if not w.requests:
        return "NOT ONE answered in the run"
    if not (w.non2xx or w.socket_errors):
        return "no errors"
    return f"{w.non2xx} non-2xx answers, {w.socket_errors} socket errors ({w.timeouts} timeouts)"


# --- the summary ----------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    measured: str
    baseline: str  # what it is compared with, named
    ratio: float  # measured / baseline
    target: str
    ok: bool | None  # None: a figure shown for context, without a target of its own


FIGURES: list[Figure] = []


def print_summary() -> None:
    head = ("figure", "measured", "baseline", "ratio", "target", "")
    verdict = {None: "", True: "met", False: "MISSED"}
    rows = [head] + [(f.name, f.measured, f.baseline, f"{f.ratio:.3g}", f.target, verdict[f.ok]) for f in FIGURES]
    print_table("Summary (ratio = measured / baseline)", rows)


def seeded(folder: Path, name: str) -> tuple[Path, str]:
    """A fresh SQLite file holding the default world with a few generated customers: (file, URL)."""
    db_file = folder / f"{name}.db"
    url = f"sqlite:///{db_file}"
    seed(url, CUSTOMERS)
    return db_file, url


def run_py(db_file: Path, env: dict[str, str] | None = None) -> Server:
    s = Server.run_py(str(db_file), extra=("--no-demo-app",))
    s.env.update(env or {})
    return s


# --- 1. client_credentials tokens per second ---------------------------------------------------------


def bench_tokens(args, folder: Path) -> None:
    db_file, db_url = seeded(folder, "tokens")
    script = token_script(folder)
    w_, t_ = args.granian
    setups = [run_py(db_file), Server.granian(db_url, w_, t_)]
    setups[1].env["SANDBOX_PUBLIC_URL"] = setups[1].url  # the address a process manager's app cannot know
    print(
        f"1. client_credentials tokens per second ({DEMO[0]}, HTTP Basic), wrk with {args.connections} "
        f"connections for {args.duration:g} s"
    )
    for setup in setups:
        with setup as s:
            client_token(s.url)  # answers 200 with a token, or stops here with the answer
            url = f"{s.url}/dc/{SLUG}/oauth/token"
            wrk_post(url, script, args.warmup, args.connections)  # imports, pools, caches
            settle()
            with Meter(s) as m:
                w = wrk_post(url, script, args.duration, args.connections)
        good = w.rps * (1 - (w.non2xx / w.requests if w.requests else 0))
        print(
            f"   {s.label}: {w.rps:,.1f} tokens/s ({w.requests:,} requests, {errors(w)}), p50 {w.p50:.1f} ms, "
            f"p99 {w.p99:.1f} ms, max {w.max_ms:.0f} ms; target >= {TOKENS_PER_S:.0f}/s -> ratio "
            f"{good / TOKENS_PER_S:.3f}; before issue 21 {TOKENS_BEFORE}/s -> ratio {good / TOKENS_BEFORE:.1f}"
        )
        print(f"      {m.cpu / max(1, w.requests) * 1000:.2f} ms server CPU per token; {m.text()}")
        shown = f"{good:,.1f}/s" + (f" ({w.non2xx} non-2xx not counted)" if w.non2xx else "")
        FIGURES.append(
            Figure(
                f"client_credentials tokens/s, {s.label}",
                shown,
                f"{TOKENS_BEFORE}/s before",
                good / TOKENS_BEFORE,
                f">= {TOKENS_PER_S:.0f}/s (ratio {good / TOKENS_PER_S:.3f})",
                good >= TOKENS_PER_S,
            )
        )


# --- 2. token issue under a flood of failed sign-ins -------------------------------------------------


class SignInFlood:
    """`threads` browsers, each signing in to the customer portal again and again with a name nobody has
    (a new one each time, so no lock-out ends the flood) and a wrong password, until stopped."""

    def __init__(self, base: str, threads: int):
        self.base, self.threads = base, threads
        self.stopping = threading.Event()
        self.ready = threading.Barrier(threads + 1, timeout=120)
        self.answered = threading.Event()  # the first sign-in has been answered: the flood is under way
        self.lock = threading.Lock()
        self.answers: list[tuple[float, int, float]] = []  # (when finished, status or 0 for no answer, seconds)
        self.problems: list[str] = []
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _page_token(self, session) -> str | None:
        m = CSRF.search(session.get(f"{self.base}/dc/{SLUG}/", timeout=120).text)
        return m.group(1) if m else None

    def _run(self) -> None:
        import requests

        s = requests.Session()
        try:
            token = self._page_token(s)
        except requests.RequestException as e:
            token = None
            self.problems.append(f"sign-in page: {e}")
        finally:
            self.ready.wait()  # the flood starts together once every browser has its form
        if token is None:
            self.problems.append("no CSRF token on the sign-in page")
            return
        while not self.stopping.is_set():
            data = {
                "method": "password",
                "username": f"nobody-{uuid.uuid4().hex[:16]}",
                "password": "wrong",
                "csrf_token": token,
            }
            t0 = time.perf_counter()
            try:
                r = s.post(f"{self.base}/dc/{SLUG}/login", data=data, allow_redirects=False, timeout=120)
                status, body = r.status_code, r.text
            except requests.RequestException:
                status, body = 0, ""
            t1 = time.perf_counter()
            with self.lock:
                self.answers.append((t1, status, t1 - t0))
            self.answered.set()
            if status == 400 and "csrf" in body.lower():  # the form's token expired: a fresh form
                token = self._page_token(s) or token

    def __enter__(self) -> "SignInFlood":
        for t in self.workers:
            t.start()
        self.ready.wait()
        deadline = time.monotonic() + 300
        while not self.answered.wait(1):  # measured from the flood's first answer on, not its start
            if not any(t.is_alive() for t in self.workers) or time.monotonic() > deadline:
                self.stopping.set()
                raise SystemExit("the sign-in flood did not start: " + ("; ".join(self.problems) or "no answer"))
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for t in self.workers:  # each ends after its answer in flight, so the next run starts without them
            t.join(180)

    def between(self, t0: float, t1: float) -> list[tuple[float, int, float]]:
        with self.lock:
            return [a for a in self.answers if t0 <= a[0] <= t1]


def bench_signin(args, folder: Path) -> None:
    db_file, _ = seeded(folder, "signin")
    script = token_script(folder)
    env = dict(kv.split("=", 1) for kv in args.limiter_env if kv)
    setup = run_py(db_file, env)
    print(
        f"2. token issue on SQLite ({args.token_connections} wrk connections, {args.duration:g} s) with and "
        f"without {args.signin_threads} threads of failed sign-ins for unknown names; server environment "
        f"{' '.join(args.limiter_env) or '(the limiter as configured by default)'}"
    )
    rates: dict[str, list[float]] = {"without": [], "with": []}
    with setup as s:
        client_token(s.url)
        url = f"{s.url}/dc/{SLUG}/oauth/token"
        wrk_post(url, script, args.warmup, args.token_connections)
        for r in range(args.rounds):
            for kind in ("without", "with") if r % 2 == 0 else ("with", "without"):
                settle()
                flooding = SignInFlood(s.url, args.signin_threads) if kind == "with" else None
                with flooding or contextlib.nullcontext() as flood:
                    t0 = time.perf_counter()
                    with Meter(s) as m:
                        w = wrk_post(url, script, args.duration, args.token_connections, timeout=args.token_timeout)
                    t1 = time.perf_counter()
                good = w.rps * (1 - (w.non2xx / w.requests if w.requests else 0))
                rates[kind].append(good)
                line = (
                    f"   round {r + 1}, {kind} sign-ins: {good:,.1f} tokens/s ({w.requests:,} requests, "
                    f"{errors(w)}), p50 {w.p50:.1f} ms, p99 {w.p99:.1f} ms, max {w.max_ms:.0f} ms; {m.text()}"
                )
                print(line, flush=True)
                if flood:
                    seen = flood.between(t0, t1)
                    statuses: dict[int, int] = {}
                    for _, status, _ in seen:
                        statuses[status] = statuses.get(status, 0) + 1
                    took = sorted(x for _, _, x in seen) or [float("nan")]
                    answered = ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(statuses.items()))
                    print(
                        f"      sign-ins: {len(seen) / (t1 - t0):,.1f}/s answered, statuses {answered}; "
                        f"p50 {statistics.median(took) * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms"
                    )
                    if statuses.get(429):
                        print(
                            "      WARNING: sign-ins answered 429: a limiter is on, so the flood is not the "
                            "flood of the issue (check --limiter-env against the tree's switch)"
                        )
                    for p in sorted(set(flood.problems)):
                        print(f"      WARNING: {p}")
    without, with_ = statistics.median(rates["without"]), statistics.median(rates["with"])
    ratio = with_ / without if without else float("nan")
    before = SIGNIN_BEFORE[0] / SIGNIN_BEFORE[1]
    print(
        f"   medians over {args.rounds} rounds: {with_:,.1f} tokens/s with the sign-ins, {without:,.1f} without "
        f"-> ratio {ratio:.3f}; target >= {SIGNIN_RATIO} -> {ratio / SIGNIN_RATIO:.2f}; before issue 21 "
        f"{SIGNIN_BEFORE[0]} of {SIGNIN_BEFORE[1]} ({before:.4f}) -> {ratio / before:.0f} times that"
    )
    FIGURES.append(
        Figure(
            f"token issue with/without {args.signin_threads} sign-in threads, {setup.label}",
            f"{ratio:.3f} ({with_:,.1f} of {without:,.1f}/s)",
            f"{before:.4f} ({SIGNIN_BEFORE[0]} of {SIGNIN_BEFORE[1]}/s) before",
            ratio / before,
            f">= {SIGNIN_RATIO}",
            ratio >= SIGNIN_RATIO,
        )
    )


# --- 3. bench_api.py's resource figures against the baseline tree ------------------------------------


def baseline_tree(rev: str, folder: Path) -> Path:
    """The tree of `rev`, extracted with git archive into `folder` (the repository is left as it is)."""
    tree = folder / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", rev], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise SystemExit(f"could not extract {rev} with git archive")
    return tree


@dataclass
class ApiRound:
    batch_p50: float  # ms
    entry_rps: float
    batch_cpu: float  # server CPU ms per Batch/Subscription GET
    entry_cpu: float  # server CPU ms per entry GET
    load: str  # the warning of other processes' load, if any


def measure_api(s: Server, token: dict, up_uuid: str, args, folder: Path) -> ApiRound:
    """bench_profiles.measure's two figures, each with the server's CPU per request beside it (which
    other processes on a shared machine move less than times and rates)."""
    path = urlsplit(token["resourceURI"]).path
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=300)
    get(s.port, path, token["access_token"], conn=conn)  # written once: then a polled subscription
    times = []
    with Meter(s) as batch:
        for _ in range(args.gets):
            status, _, took = get(s.port, path, token["access_token"], conn=conn)
            if status != 200:
                raise SystemExit(f"{s.label}: GET {path}: {status}")
            times.append(took * 1000)
    conn.close()
    sid = path.rstrip("/").rsplit("/", 1)[1]
    entry = f"{s.url}/dc/{SLUG}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{up_uuid}"
    run_wrk(entry, token["access_token"], args.warmup, args.api_connections, folder)
    with Meter(s) as m:
        w = run_wrk(entry, token["access_token"], args.duration, args.api_connections, folder)
    if w.non2xx or w.socket_errors:
        raise SystemExit(f"{s.label}: wrk saw {w.non2xx} non-2xx answers and {w.socket_errors} socket errors")
    return ApiRound(
        statistics.median(times),
        w.rps,
        batch.cpu / args.gets * 1000,
        m.cpu / max(1, w.requests) * 1000,
        batch.load() or m.load(),
    )


def bench_api_against_baseline(args, folder: Path) -> None:
    trees = {"current": ROOT, f"baseline {args.baseline}": baseline_tree(args.baseline, folder)}
    results: dict[str, list[ApiRound]] = {k: [] for k in trees}
    print(
        f"3. bench_api.py's Batch/Subscription p50 ({args.gets} GETs) and entry GETs (wrk, {args.api_connections} "
        f"connections, {args.duration:g} s), this tree against {args.baseline}, {args.rounds} alternating rounds"
    )
    for r in range(args.rounds):
        for label in list(trees) if r % 2 == 0 else list(reversed(trees)):
            s = tree_server(trees[label], folder, f"{label.split()[0]}-{r}")
            s.start()  # a fresh server and database every round: one instance's luck is not the figure
            try:
                t = customer_token(s.url, history_scope(s.url, HISTORY_13_MONTHS))
                up = first_usage_point_uuid(s, t)
                settle()
                x = measure_api(s, t, up, args, folder)
            finally:
                s.stop()
            results[label].append(x)
            print(
                f"   round {r + 1} {label}: Batch/Subscription p50 {x.batch_p50:.1f} ms ({x.batch_cpu:.1f} ms server "
                f"CPU each), entry GETs {x.entry_rps:,.0f} requests/s ({x.entry_cpu:.2f} ms server CPU each)"
                f"{x.load}",
                flush=True,
            )
    now, base = list(results)

    def med(label: str, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in results[label])

    rows = (
        ("Batch/Subscription p50, run.py", "batch_p50", "ms", "<="),
        ("  server CPU per Batch/Subscription GET", "batch_cpu", "ms", ""),
        ("UsagePoint entry GETs/s, run.py", "entry_rps", "/s", ">="),
        ("  server CPU per entry GET", "entry_cpu", "ms", ""),
    )
    print(
        f"   medians over {args.rounds} rounds, current against baseline (target within 5%: time ratio <= "
        f"{API_RATIO}, rate ratio >= {2 - API_RATIO:.2f}; the CPU figures are there to read the others by):"
    )
    for name, attr, unit, want in rows:
        a, b = med(now, attr), med(base, attr)
        ratio = a / b
        digits = 2 if attr == "entry_cpu" else (0 if attr == "entry_rps" else 1)
        sep = "" if unit == "/s" else " "
        shown = f"{a:,.{digits}f}{sep}{unit}", f"{b:,.{digits}f}{sep}{unit}"
        print(f"   {name.strip()}: {shown[0]} against {shown[1]} -> current/baseline {ratio:.3f}")
        bound = API_RATIO if want == "<=" else 2 - API_RATIO
        ok = None if not want else (ratio <= bound if want == "<=" else ratio >= bound)
        FIGURES.append(
            Figure(
                name,
                shown[0],
                f"{shown[1]} at {args.baseline}",
                ratio,
                f"{want} {bound:.2f}" if want else "(context)",
                ok,
            )
        )


# --- main ----------------------------------------------------------------------------------------


PARTS = ("tokens", "signin", "api")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 s runs, 1 round, 10 Batch GETs")
    ap.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated: tokens, signin, api")
    ap.add_argument("--duration", type=float, help="seconds of each measured wrk run (default 10; --quick 3)")
    ap.add_argument("--warmup", type=float, help="seconds of wrk before the measured runs (default 2; --quick 1)")
    ap.add_argument("--rounds", type=int, help="alternating rounds of each side in 2 and 3 (default 3; --quick 1)")
    ap.add_argument("--baseline", default=BASELINE, help=f"git revision of the baseline tree of 3 (default {BASELINE})")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections of 1 (default 8)")
    ap.add_argument("--granian", default="2x1", help="granian set-up of 1, WxT: W workers, T blocking threads")
    ap.add_argument("--token-connections", type=int, default=2, help="wrk connections issuing tokens in 2 (default 2)")
    ap.add_argument("--token-timeout", type=float, default=30, help="wrk's timeout in 2, seconds (default 30)")
    ap.add_argument("--signin-threads", type=int, default=6, help="threads of failed sign-ins in 2 (default 6)")
    ap.add_argument(
        "--limiter-env",
        action="append",
        metavar="NAME=VALUE",
        help=f"environment of the server of 2, to switch the sign-in limiter off (default {LIMITER_ENV}; "
        "repeat for more; '' for none)",
    )
    ap.add_argument("--gets", type=int, help="Batch/Subscription GETs per round in 3 (default 40; --quick 10)")
    ap.add_argument("--api-connections", type=int, default=8, help="wrk connections of the entry GETs in 3 (default 8)")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="S",
        help="before each measured run, wait up to S seconds for the machine to go quiet",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, baseline tree)")
    args = ap.parse_args()
    q = args.quick
    args.duration = args.duration or (3.0 if q else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if q else 2.0)
    args.rounds = args.rounds or (1 if q else 3)
    args.gets = args.gets or (10 if q else 40)
    args.limiter_env = [x for x in (args.limiter_env if args.limiter_env is not None else [LIMITER_ENV]) if x]
    if any("=" not in x for x in args.limiter_env):
        ap.error("--limiter-env takes NAME=VALUE")
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    if not args.only or any(p not in PARTS for p in args.only):
        ap.error(f"--only takes a comma-separated choice of {', '.join(PARTS)}")
    try:
        args.granian = tuple(int(x) for x in args.granian.split("x"))
        assert len(args.granian) == 2
    except (ValueError, AssertionError):
        ap.error("--granian takes WxT, e.g. 2x1")
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    if not Path("/proc/self/stat").exists():
        raise SystemExit("this benchmark reads /proc (Linux only)")
    bench_api.WAIT_IDLE = args.wait_idle
    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="bench-security-"))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {' '.join(load)} before "
        f"starting; folder {folder}"
    )
    parts = {"tokens": bench_tokens, "signin": bench_signin, "api": bench_api_against_baseline}
    failed: list[str] = []
    try:
        for name in PARTS:
            if name in args.only:
                try:
                    parts[name](args, folder)
                except SystemExit as e:  # a part that cannot measure says why; the others still run
                    if not isinstance(e.code, str):
                        raise
                    failed.append(f"{name}: {e.code}")
                    print(f"   FAILED: {e.code}", flush=True)
                    _stop_all()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        _stop_all()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if OTHER_LOAD:
        print(
            f"WARNING: other processes on this machine used up to {max(OTHER_LOAD):.1f} of its {os.cpu_count()} "
            f"cores during {len(OTHER_LOAD)} measured runs: those figures are lower than on an idle machine"
        )
    print_summary()
    if failed:
        raise SystemExit("parts that did not finish: " + ", ".join(f.split(":", 1)[0] for f in failed))


if __name__ == "__main__":
    main()
