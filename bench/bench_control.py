#!/usr/bin/env python3
"""Control-API benchmarks (issue targets in brackets), against a live run.py on a free port:

1. POST /sandbox-api/reset of the default world (seed_data/ as it is: 40 + 30 + 30 generated
   customers), over HTTP                                                        [<= 1 s]
   baseline: seeding the same world in-process (services.world.seed_world), which reset repeats
2. POST /sandbox-api/clock {"advance": "P1D"}, over HTTP (the shared clock's one UPDATE)

Usage: python bench/bench_control.py [--runs 10] [--customers N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.core.clock import Clock  # noqa: E402
from sandbox.core.db import Database  # noqa: E402
from sandbox.services.world import seed_world  # noqa: E402
from sandbox.synth.world import read_seed_dir  # noqa: E402
from sandbox.testing.process import SandboxProcess  # noqa: E402

KEY = "bench-control-key"


def post(url: str, body: dict | None = None) -> tuple[float, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    return time.perf_counter() - t0, answer


def in_process_seed(customers: int | None, runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/seed.db")
        files = read_seed_dir(ROOT / "seed_data")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            seed_world(db, files, Clock(), customers=customers)
            times.append(time.perf_counter() - t0)
        db.engine.dispose()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--customers", type=int, help="generated customers per utility (default: the seed files')")
    args = ap.parse_args()
    extra = ["--customers", str(args.customers)] if args.customers is not None else []
    baseline = in_process_seed(args.customers, max(3, args.runs // 2))
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess("--database", f"{tmp}/w.db", "--reset", *extra, env={"SANDBOX_ADMIN_KEY": KEY}) as server,
    ):
        base = f"{server.url}/sandbox-api"
        resets = [post(f"{base}/reset")[0] for _ in range(args.runs)]
        advances = [post(f"{base}/clock", {"advance": "P1D"})[0] for _ in range(args.runs * 10)]
    p50 = statistics.median(resets)
    print(
        f"1. POST /sandbox-api/reset, default world: p50 {p50 * 1000:.0f} ms, max {max(resets) * 1000:.0f} ms "
        f"of {len(resets)}; target <= 1 s -> ratio {p50 / 1.0:.2f}"
    )
    print(f"   baseline: seed_world in-process {baseline * 1000:.0f} ms -> reset/seed ratio {p50 / baseline:.2f}")
    print(f"2. POST /sandbox-api/clock advance P1D: p50 {statistics.median(advances) * 1000:.1f} ms of {len(advances)}")


if __name__ == "__main__":
    main()
