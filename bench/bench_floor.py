#!/usr/bin/env python3
"""The sandbox's small ESPI GET against its framework's floor, in the same run.

The floor is a minimal Flask app that answers the same path with the same entry bytes (fetched from
the sandbox first) after a dictionary token check: what Flask and the HTTP server cost on their own.
Both are served by the same set-ups (granian with W workers; Waitress with run.py's settings) and
driven by wrk with the same connections, in alternating rounds (sandbox, floor, sandbox, floor...),
so a busy machine slows both alike. Printed: each round's requests/s, the medians, and the
sandbox's ratio to the floor (issue "One request pipeline at the framework's speed": >= 0.5 under
granian with 2 workers; the default `python run.py` server >= 0.8 of the sandbox's granian figure).

The entry: `Subscription/{id}/UsagePoint/{id}` with a customer token of the demo third party (about
1.6 KB). Needs Linux and wrk (Debian: apt-get install wrk).

With --profile N, each app (the sandbox's WSGI callable, the floor's) is first called N times in this
process with a prepared environ, no HTTP server: the CPU per call of each, and cProfile's view of
where the sandbox's goes (what bench numbers cannot say).

Usage: python bench/bench_floor.py [--rounds 3] [--duration 8] [--connections 16] [--workers 2]
           [--threads 8] [--skip-waitress] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import runpy
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import (  # noqa: E402
    HISTORY_13_MONTHS,
    SLUG,
    Meter,
    Server,
    first_usage_point_uuid,
    free_port,
    get,
    history_scope,
    print_table,
    run_wrk,
    seed,
)
from bench_api import customer_token as consent_token  # noqa: E402

FLOOR_APP = textwrap.dedent('''
    """The floor: the same bytes after a dictionary token check, nothing else."""
    import os
    import sys

    from flask import Flask, Response, request

    BODY = open(os.environ["FLOOR_BODY"], "rb").read()
    TOKENS = {os.environ["FLOOR_TOKEN"]: True}
    app = Flask(__name__)


    @app.get("/healthz")
    def healthz():
        return "ok"


    @app.get("/<path:path>")
    def entry(path):
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not TOKENS.get(token):
            return Response(status=401)
        return Response(BODY, content_type="application/atom+xml; charset=utf-8")


    if __name__ == "__main__":  # Waitress with run.py's settings
        from waitress import serve
        serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), connection_limit=400,
              channel_timeout=30, cleanup_interval=10)
''')

GRANIAN_RATIO = 0.5  # sandbox / floor under granian
WAITRESS_OF_GRANIAN = 0.8  # run.py's server / the sandbox under granian


def floor_granian(folder: Path, env: dict[str, str], workers: int) -> Server:
    return Server.granian(
        None, workers, target="floor_app:app", env=env, label=f"floor, granian --workers {workers}", working_dir=folder
    )


def floor_waitress(folder: Path, env: dict[str, str], threads: int) -> Server:
    port = free_port()
    argv = [sys.executable, str(folder / "floor_app.py"), str(port), str(threads)]
    return Server(f"floor, Waitress --threads {threads}", argv, env, url=f"http://127.0.0.1:{port}")


def rounds(pair: list[tuple[str, Server]], path: str, token: str, args, folder: Path) -> dict[str, list]:
    """Alternating wrk rounds over the servers of `pair` (already started): requests/s and CPU/request."""
    out: dict[str, list] = {name: [] for name, _ in pair}
    for _, server in pair:
        run_wrk(server.url + path, token, 2, args.connections, folder)  # warm: imports, caches, pools
    for i in range(args.rounds):
        for name, server in pair:
            with Meter(server) as m:
                w = run_wrk(server.url + path, token, args.duration, args.connections, folder)
            if w.non2xx or w.socket_errors:
                raise SystemExit(f"{server.label}: {w.non2xx} non-2xx, {w.socket_errors} socket errors")
            cpu = (m.cpu + m.db_cpu) / max(1, w.requests) * 1000
            out[name].append((w.rps, cpu, w.p99))
            print(
                f"   round {i + 1} {server.label}: {w.rps:,.0f}/s, p99 {w.p99:.1f} ms, {cpu:.2f} ms CPU/request",
                flush=True,
            )
    return out


def _environ(path: str, token: str) -> dict:
    """A GET of `path` as an HTTP server hands it to a WSGI app."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "*/*",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _caller(app, path: str, token: str):
    """One call of `app` (its whole answer read), refused unless it is a 200."""

    def start_response(status: str, headers: list, exc_info=None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"profile: GET {path}: {status}")

    def call() -> None:
        answer = app(_environ(path, token), start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()

    return call


def _cpu_per_call(call, n: int) -> float:
    """Microseconds of this process's CPU per call (the best of three runs of n)."""
    for _ in range(min(n, 300)):  # warm: imports, caches, pools
        call()
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(n):
            call()
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def profile_calls(db_url: str, folder: Path, env: dict[str, str], path: str, token: str, n: int) -> None:
    """The sandbox's and the floor's CPU per call in this process, and where the sandbox's goes."""
    os.environ.update(env)
    floor = runpy.run_path(str(folder / "floor_app.py"), run_name="floor_app")["app"]
    os.environ["SANDBOX_DATABASE_URL"] = db_url
    from sandbox.wsgi import build_app

    sandbox = build_app()
    own, base = _caller(sandbox, path, token), _caller(floor, path, token)
    cpu = {"sandbox": _cpu_per_call(own, n), "floor": _cpu_per_call(base, n)}
    print(
        f"in-process CPU per call ({n} calls, best of 3): sandbox {cpu['sandbox']:.0f} us, floor "
        f"{cpu['floor']:.0f} us, ratio {cpu['floor'] / cpu['sandbox']:.2f}",
        flush=True,
    )
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        own()
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    sandbox.extensions["notifications"].stop()  # started by the first call (sandbox.wsgi)
    sandbox.extensions["request_log"].flush()
    sandbox.extensions["sandbox"].db.engine.dispose()


def median(values: list) -> tuple[float, float, float]:
    return tuple(statistics.median(v[k] for v in values) for k in range(3))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="granian workers (both apps)")
    ap.add_argument("--threads", type=int, default=8, help="Waitress threads (both apps; run.py's default is 8)")
    ap.add_argument("--skip-waitress", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="first profile N calls of each app in-process")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        folder = Path(tmp)
        db_file = folder / "world.db"
        db_url = f"sqlite:///{db_file}"
        seed(db_url, 4)
        with Server.run_py(str(db_file)) as first:
            token = consent_token(first.url, history_scope(first.url, HISTORY_13_MONTHS))
            up = first_usage_point_uuid(first, token)
            sid = urlsplit(token["resourceURI"]).path.rsplit("/", 1)[1]
            path = f"/dc/{SLUG}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{up}"
            status, body, _ = get(first.port, path, token["access_token"])
            if status != 200:
                raise SystemExit(f"GET {path}: {status}")
        (folder / "entry.xml").write_bytes(body)
        (folder / "floor_app.py").write_text(FLOOR_APP)
        env = {"FLOOR_BODY": str(folder / "entry.xml"), "FLOOR_TOKEN": token["access_token"]}
        print(
            f"entry: {path} ({len(body):,} bytes); wrk {args.connections} connections, {args.duration:g} s a "
            f"round, {args.rounds} rounds alternating",
            flush=True,
        )
        if args.profile:
            profile_calls(db_url, folder, env, path, token["access_token"], args.profile)

        results: dict[str, tuple[float, float, float]] = {}
        with Server.granian(db_url, args.workers) as sandbox, floor_granian(folder, env, args.workers) as floor:
            got = rounds(
                [("sandbox granian", sandbox), ("floor granian", floor)], path, token["access_token"], args, folder
            )
        results.update({k: median(v) for k, v in got.items()})
        if not args.skip_waitress:
            with (
                Server.run_py(str(db_file), args.threads) as sandbox,
                floor_waitress(folder, env, args.threads) as floor,
            ):
                got = rounds(
                    [("sandbox run.py", sandbox), ("floor Waitress", floor)], path, token["access_token"], args, folder
                )
            results.update({k: median(v) for k, v in got.items()})

    rows = [[name, f"{rps:,.0f}/s", f"{p99:.1f} ms", f"{cpu:.2f} ms"] for name, (rps, cpu, p99) in results.items()]
    print_table("Medians", [["set-up", "requests/s", "p99", "CPU/request"], *rows])
    g_ratio = results["sandbox granian"][0] / results["floor granian"][0]
    print(
        f"sandbox / floor under granian --workers {args.workers}: {g_ratio:.2f} (target >= {GRANIAN_RATIO}) -> "
        f"{'met' if g_ratio >= GRANIAN_RATIO else 'MISSED'}"
    )
    if not args.skip_waitress:
        w_ratio = results["sandbox run.py"][0] / results["sandbox granian"][0]
        print(
            f"sandbox run.py / sandbox granian: {w_ratio:.2f} (target >= {WAITRESS_OF_GRANIAN}) -> "
            f"{'met' if w_ratio >= WAITRESS_OF_GRANIAN else 'MISSED'}; floor Waitress / floor granian: "
            f"{results['floor Waitress'][0] / results['floor granian'][0]:.2f}"
        )


if __name__ == "__main__":
    main()
