#!/usr/bin/env python3
"""Foundation benchmarks (issue targets in brackets):

1. start-up: empty database to /healthz 200 with the default world          [<= 3 s]
2. seeding 100,000 customers: time, database size, first usage served       [<= 60 s, <= 300 MB]
   baseline: Faker alone making the same number of names and street names
3. one usage point's year of hourly readings with costs                       [<= 50 ms]

Usage: python bench/bench_foundation.py [--customers 100000] [--skip-seed]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def startup(runs: int = 3) -> None:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--port", "0", "--database", f"{tmp}/b.db"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
            line = proc.stdout.readline().strip()
            if not line.startswith("Green Button Sandbox running at "):
                proc.kill()
                raise SystemExit(f"run.py did not start (exit {proc.wait()}): {line!r}")
            url = line.rsplit(" ", 1)[-1]
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(url + "/healthz", timeout=5).status == 200:
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        proc.kill()
                        raise SystemExit(f"{url}/healthz did not answer 200 within 60 s") from None
                    time.sleep(0.01)  # polling a server that is starting, not waiting for a result
            times.append(time.perf_counter() - t0)
            proc.terminate()
            proc.wait()
    med = statistics.median(times)
    print(f"start-up, empty database to /healthz 200: median {med:.2f} s of {runs} "
          f"({', '.join(f'{t:.2f}' for t in times)}); budget 3.00 s -> ratio {med / 3.0:.2f}")


def faker_alone(n: int) -> float:
    from faker import Faker

    f = Faker("en_US", use_weighting=False)
    f.seed_instance(1)
    t0 = time.perf_counter()
    for _ in range(n):
        f.first_name(), f.last_name(), f.street_name()
    return time.perf_counter() - t0


def seeding(total: int) -> None:
    from sqlalchemy import func, select

    import sandbox.web.app  # noqa: F401  (the web stack is imported before the clock starts, as it always was)
    from sandbox import create_app
    from sandbox.core.clock import Clock
    from sandbox.core.db import Database
    from sandbox.core.models import Customer, UsagePoint
    from sandbox.services.world import seed_world
    from sandbox.synth.archetypes import UsagePointParams
    from sandbox.synth.usage import UsageModel
    from sandbox.synth.world import read_seed_dir

    files = read_seed_dir(ROOT / "seed_data")
    per_utility = total // 3
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.db"
        db = Database(f"sqlite:///{path}")
        t0 = time.perf_counter()
        seed_world(db, files, Clock(), customers=per_utility)
        took = time.perf_counter() - t0
        db.engine.dispose()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        with Database(f"sqlite:///{path}").sessions() as s:
            count = s.scalar(select(func.count(Customer.id)))
            ups = s.scalar(select(func.count(UsagePoint.id)))
        base = faker_alone(count)
        print(f"seeding {count:,} customers ({ups:,} usage points): {took:.1f} s; budget 60 s -> ratio {took / 60:.2f}; "
              f"Faker alone for as many names: {base:.1f} s -> ratio {took / base:.2f}")
        print(f"database size: {size:.0f} MB; budget 300 MB -> ratio {size / 300:.2f}")
        t0 = time.perf_counter()
        app = create_app({"DATABASE_URL": f"sqlite:///{path}"})
        sb = app.extensions["sandbox"]
        with sb.db.sessions() as s:
            last = s.scalars(select(Customer).order_by(Customer.id.desc()).limit(1)).one()
            up = last.usage_points[0]
            u = sb.world.utility(last.utility.slug)
            model = UsageModel(sb.world, u, UsagePointParams.from_json(up.params))
            series = model.series(next(iter(model.streams)), dt.date(2024, 1, 1), dt.date(2025, 1, 1))
        print(f"last seeded customer's first usage point, app start and a year of readings ({len(series):,}): "
              f"{time.perf_counter() - t0:.2f} s")


def one_year() -> None:
    from sandbox.synth.people import PeopleFactory
    from sandbox.synth.usage import UsageModel
    from sandbox.synth.world import load_world

    world = load_world(ROOT / "seed_data")
    u = world.utility("bayview")
    demo = PeopleFactory(world, u, world.seed).customer(0)
    model = UsageModel(world, u, demo.usage_points[0])
    year = (dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    t0 = time.perf_counter()
    model.series("electricity", *year)
    cold = time.perf_counter() - t0
    times = []
    for i in range(30):
        # a new usage point each run: nothing of its own is cached
        other = UsageModel(world, u, PeopleFactory(world, u, world.seed + 1 + i).customer(0).usage_points[0])
        t0 = time.perf_counter()
        s = other.series("electricity", *year)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times) * 1000
    print(f"one usage point, a year of hourly readings with cost ({len(s):,} readings, solar home): "
          f"median {med:.1f} ms, first in the process (sun path and weather computed) {cold * 1000:.0f} ms; "
          f"budget 50 ms -> ratio {med / 50:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--skip-seed", action="store_true")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    one_year()
    startup()
    if not args.skip_seed:
        seeding(args.customers)


if __name__ == "__main__":
    main()
