#!/usr/bin/env python3
"""Private sandboxes over HTTP, through `python run.py` (granian, its default workers), on SQLite and on a
throw-away PostgreSQL cluster (issue "Private sandboxes on one shared deployment", targets in brackets):

1. making a sandbox of the default world, POST /sandbox-api/sandboxes: p50 and p90 [p50 <= 50 ms], asked
   one at a time with --gap seconds between (a developer or a CI job asking for one: what the deployment
   makes ahead is ready), then in a burst (the rest of --live, back to back: the deployment's rate of
   making them); the baseline beside it is the default sandbox's own reset (POST /sandbox-api/reset)
2. a sandbox's reset, POST /s/{id}/sandbox-api/reset: p50 [<= 50 ms]
3. the small entry GET (Subscription/{id}/UsagePoint/{id}, wrk) and Batch/Subscription (13 months
   hourly, p50 of repeated GETs) in one sandbox: alone, then with --live sandboxes in the database,
   then alone again (the others deleted) [with many: >= 0.9 of alone]
4. the database's size per sandbox (SQLite: the files of `<database>.sandboxes/`; PostgreSQL: the
   growth of pg_database_size)

Usage: python bench/bench_sandboxes.py [--engines sqlite,postgres] [--live 1000] [--makes 30] [--gap 0.5] [--duration 5]
Needs Linux, wrk and (for postgres) Debian's postgresql package.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import HISTORY_13_MONTHS, Postgres, Server, get, run_wrk  # noqa: E402

KEY = "bench-sandboxes-operator-key-0123456789"
MAKE_P50_MS = 50.0
RESET_P50_MS = 50.0
MANY_RATIO = 0.9


def call(url: str, key: str, method: str = "POST", body: dict | None = None) -> tuple[float, dict | None]:
    """(seconds, JSON answer) of a control-API call."""
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(
        url, data=data if method != "GET" else None, method=method, headers={"Authorization": f"Bearer {key}"}
    )
    req.add_header("Content-Type", "application/json")
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
    took = time.perf_counter() - t0
    return took, (json.loads(raw) if raw else None)


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def scope() -> str:
    return f"FB=1_3_4_5_13_14_15_16_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength={HISTORY_13_MONTHS}"


def consent(made: dict) -> dict:
    body = {"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": scope()}
    return call(f"{made['base_url']}/sandbox-api/authorizations", made["admin_key"], body=body)[1] or {}


def entry_path(server: Server, token: dict) -> str:
    """The path of the demo customer's first usage point entry of the token's subscription."""
    sub = urlsplit(token["resourceURI"]).path.rsplit("/", 1)[1]
    root = urlsplit(token["resourceURI"]).path.split("/Batch/")[0]
    _, body, _ = get(server.port, f"{root}/Subscription/{sub}/UsagePoint", token["access_token"])
    up = body.split(b"/UsagePoint/", 1)[1][:36].decode()
    return f"{root}/Subscription/{sub}/UsagePoint/{up}"


def speed(server: Server, token: dict, path: str, folder: Path, duration: float) -> tuple[float, float]:
    """(small entry GETs a second, Batch/Subscription p50 in ms) in one sandbox. The Batch documents
    first: measured after wrk, they met the request log still writing and pruning wrk's calls."""
    batch = urlsplit(token["resourceURI"]).path
    times = [get(server.port, batch, token["access_token"])[2] for _ in range(41)][1:]
    run_wrk(server.url + path, token["access_token"], 1, 16, folder)  # warm
    w = run_wrk(server.url + path, token["access_token"], duration, 16, folder)
    if w.non2xx or w.socket_errors:
        raise SystemExit(f"wrk: {w.non2xx} non-2xx, {w.socket_errors} socket errors")
    return w.rps, statistics.median(times) * 1000


def settle(engine: str, where: str, limit: float = 300) -> None:
    """Wait until PostgreSQL has no autovacuum worker at work (after a thousand sandboxes made or
    dropped it vacuums and analyzes its catalogs for a while, on the same 2 cores): speeds are
    measured in a steady state, not against that."""
    if engine != "postgresql" and engine != "postgres":
        return
    from sqlalchemy import create_engine, text

    e = create_engine(where)
    t0, quiet = time.monotonic(), 0
    try:
        while quiet < 3 and time.monotonic() - t0 < limit:
            with e.connect() as c:
                busy = c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"))
            quiet = 0 if busy else quiet + 1
            time.sleep(1)  # polling the database's own background work
    finally:
        e.dispose()
    print(f"   {engine}: settled after {time.monotonic() - t0:.0f} s", flush=True)


def size_mb(engine: str, where: str) -> float:
    if engine == "sqlite":
        folder = Path(f"{where}.sandboxes")
        return sum(f.stat().st_size for f in folder.glob("*") if f.is_file()) / 1e6
    from sqlalchemy import create_engine, text

    e = create_engine(where)
    try:
        with e.connect() as c:
            return c.scalar(text("SELECT pg_database_size(current_database())")) / 1e6
    finally:
        e.dispose()


def bench(engine: str, database: str, url_for_size: str, args, folder: Path) -> dict[str, float]:
    os.environ["SANDBOX_ADMIN_KEY"] = KEY
    os.environ["SANDBOX_MAX_SANDBOXES"] = str(args.live + 10)  # the limits are not what is measured
    os.environ["SANDBOX_QUOTA_REQUESTS_PER_MINUTE"] = "0" if not args.quota else str(10**9)
    with Server.run_py(database, extra=("--no-demo-app", "--reset")) as server:
        try:
            return measure(engine, url_for_size, args, folder, server)
        except urllib.error.HTTPError as exc:  # the server's side of it
            raise SystemExit(f"{exc}: {exc.read()[:300]!r}\n" + "\n".join(server.out[-60:])) from None


def measure(engine: str, url_for_size: str, args, folder: Path, server: Server) -> dict[str, float]:
    out: dict[str, float] = {}
    base = server.url
    resets = [call(f"{base}/sandbox-api/reset", KEY)[0] for _ in range(6)][1:]
    out["default reset"] = statistics.median(resets) * 1000
    first = call(f"{base}/sandbox-api/sandboxes", KEY, body={"label": "measured"})[1] or {}
    token = consent(first)
    path = entry_path(server, token)
    settle(engine, url_for_size)
    out["alone rps"], out["alone batch"] = speed(server, token, path, folder, args.duration)
    size0 = size_mb(engine, url_for_size)
    makes, burst, ids = [], [], []
    for i in range(args.live - 1):
        if i < args.makes:
            time.sleep(args.gap)
        took, made = call(f"{base}/sandbox-api/sandboxes", KEY, body={})
        ids.append((made or {})["id"])
        (makes if i < args.makes else burst).append(took)
        if (i + 1) % 100 == 0:
            print(f"   {engine}: {i + 2} sandboxes", flush=True)
    out["make p50"], out["make p90"] = p(makes, 0.5) * 1000, p(makes, 0.9) * 1000
    out["burst p50"], out["burst rate"] = p(burst or [0.0], 0.5) * 1000, len(burst) / max(sum(burst), 1e-9)
    out["size per sandbox"] = (size_mb(engine, url_for_size) - size0) / max(1, len(ids))
    time.sleep(3)  # the schemas the burst left to be made ahead, made
    own = [call(f"{first['base_url']}/sandbox-api/reset", first["admin_key"])[0] for _ in range(11)][1:]
    out["sandbox reset p50"] = statistics.median(own) * 1000
    token = consent(first)  # the reset forgot the old one
    path = entry_path(server, token)
    settle(engine, url_for_size)
    out["many rps"], out["many batch"] = speed(server, token, path, folder, args.duration)
    for sandbox_id in ids:
        call(f"{base}/sandbox-api/sandboxes/{sandbox_id}", KEY, method="DELETE")
    settle(engine, url_for_size)
    out["alone again rps"], out["alone again batch"] = speed(server, token, path, folder, args.duration)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="sqlite,postgres")
    ap.add_argument("--live", type=int, default=1000, help="sandboxes live at once in the second measure")
    ap.add_argument("--makes", type=int, default=30, help="of them, the first N are made one at a time")
    ap.add_argument("--gap", type=float, default=0.5, help="seconds between two of those N makings")
    ap.add_argument("--duration", type=float, default=5, help="seconds of wrk a measure")
    ap.add_argument(
        "--quota", action="store_true", help="count each request against a (never reached) quota of requests a minute"
    )
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.live} sandboxes live at most")
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-sandboxes-") as tmp:
            folder = Path(tmp)
            pg = None
            if engine == "postgres":
                pg = Postgres()
                database = url = pg.start()
            else:
                database = url = str(folder / "world.db")
            try:
                got = bench(engine, database, url, args, folder)
            finally:
                if pg is not None:
                    pg.stop()
        many, again = got["many rps"] / got["alone rps"], got["many rps"] / got["alone again rps"]
        batch = got["alone batch"] / got["many batch"]
        print(f"\n{engine}:")
        print(
            f"  making a sandbox: p50 {got['make p50']:.0f} ms, p90 {got['make p90']:.0f} ms (target p50 <= "
            f"{MAKE_P50_MS:.0f} ms -> ratio {got['make p50'] / MAKE_P50_MS:.2f}); the default sandbox's reset "
            f"{got['default reset']:.0f} ms (x{got['make p50'] / got['default reset']:.2f}); in a burst p50 "
            f"{got['burst p50']:.0f} ms, {got['burst rate']:.1f} a second"
        )
        print(
            f"  a sandbox's reset: p50 {got['sandbox reset p50']:.0f} ms (target <= {RESET_P50_MS:.0f} ms -> ratio "
            f"{got['sandbox reset p50'] / RESET_P50_MS:.2f})"
        )
        print(
            f"  small entry GET in one sandbox: alone {got['alone rps']:,.0f}/s, with {args.live} live "
            f"{got['many rps']:,.0f}/s, alone again {got['alone again rps']:,.0f}/s -> ratio {many:.2f} / {again:.2f} "
            f"(target >= {MANY_RATIO})"
        )
        print(
            f"  Batch/Subscription p50: alone {got['alone batch']:.1f} ms, with {args.live} live "
            f"{got['many batch']:.1f} ms, alone again {got['alone again batch']:.1f} ms -> speed ratio {batch:.2f}"
        )
        print(f"  database size per sandbox: {got['size per sandbox'] * 1000:.0f} kB")


if __name__ == "__main__":
    main()
