#!/usr/bin/env python3
"""Foundation benchmarks (issue targets in brackets):

1. start-up, `python run.py` (the sandbox and its demo app) to both answering /healthz 200:
   an empty database [<= 0.5 s], a restart on a seeded database [<= 0.3 s], and the very first
   start, with no template of the world kept yet (not a target: it seeds and keeps one); each
   beside the stack's floor measured in the same rounds: a minimal Flask + SQLAlchemy + Waitress app
   from an empty SQLite file to answering /healthz (what no app on this stack can start below)
2. `POST /sandbox-api/reset` through a running run.py [<= 0.1 s]
3. seeding 100,000 customers: time, database size, first usage served       [<= 60 s, <= 300 MB]
   baseline: Faker alone making the same number of names and street names
4. one usage point's year of hourly readings with costs                       [<= 50 ms]

Start-up and reset run in rounds that alternate between this checkout and a baseline checkout
(--baseline, e.g. `git archive <commit> | tar -x -C /tmp/base`), each against its own cache of
world templates (SANDBOX_WORLD_CACHE, in a temporary folder), and print each median, its target,
the ratio to the target and the ratio to the baseline's median of the same run.

Usage: python bench/bench_foundation.py [--baseline DIR] [--rounds 5] [--customers 100000] [--skip-seed]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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


class Running:
    """`python run.py` of a checkout on free ports, until stopped."""

    def __init__(self, checkout: Path, database: Path, cache: Path):
        # bytecode is written and read, as it is after `pip install` (PYTHONDONTWRITEBYTECODE would make every
        # start compile the package again)
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPATH": str(checkout),
            "SANDBOX_WORLD_CACHE": str(cache),
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(checkout / "run.py"), "--port", "0", "--demo-port", "0", "--database", str(database)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=checkout,
            env=env,
        )
        lines: list[str] = []
        while not lines or not lines[-1].startswith("  seed "):
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                self.stop()
                raise SystemExit(f"{checkout}/run.py did not start: {lines!r}")
            lines.append(line.rstrip("\n"))
        self.url = lines[0].rsplit(" ", 1)[-1]
        self.demo_url = next(x for x in lines if x.startswith("Demo third-party app running at ")).rsplit(" ", 1)[-1]
        self.admin_key = next(x for x in lines if "admin key: " in x).rsplit(" ", 1)[-1]

    def wait_healthy(self) -> None:
        for url in (self.url, self.demo_url):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(url + "/healthz", timeout=5).status == 200:
                        break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        self.stop()
                        raise SystemExit(f"{url}/healthz did not answer 200 within 60 s") from None
                    time.sleep(0.005)  # polling a server that is starting, not waiting for a result

    def reset(self) -> float:
        req = urllib.request.Request(
            self.url + "/sandbox-api/reset",
            method="POST",
            data=b"",
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200 and json.load(r)["seed"] == 42
        return time.perf_counter() - t0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


FLOOR_APP = """
import sys
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
import logging
from waitress.server import create_server
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

class Base(DeclarativeBase):
    pass

class Row(Base):
    __tablename__ = "row"
    id: Mapped[int] = mapped_column(primary_key=True)

engine = create_engine(f"sqlite:///{sys.argv[1]}")
Base.metadata.create_all(engine)
sessions = sessionmaker(engine)
app = Flask(__name__)

@app.get("/healthz")
def healthz():
    with sessions() as s:
        s.execute(text("SELECT 1"))
    return "ok"

server = create_server(app, host="127.0.0.1", port=0)
print(f"http://127.0.0.1:{server.effective_port}", flush=True)
server.run()
"""


def floor_start(folder: Path) -> float:
    """The stack's own floor: a fresh Python process importing Flask, SQLAlchemy (its ORM) and Waitress,
    making one table in a SQLite file and answering /healthz through a session, until it answers (what
    any start of an app on this stack costs before its own code runs)."""
    script = folder / "floor_app.py"
    script.write_text(FLOOR_APP)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder / "floor.db")], stdout=subprocess.PIPE, text=True, cwd=folder
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        while True:
            try:
                if urllib.request.urlopen(url + "/healthz", timeout=5).status == 200:
                    return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit("the floor app did not start") from None
                time.sleep(0.005)  # polling a server that is starting
    finally:
        proc.terminate()
        proc.wait()


def _start(checkout: Path, database: Path, cache: Path) -> tuple[float, float, Running]:
    """(wall seconds, CPU seconds of the server process) until both apps answer, and the server."""
    t0 = time.perf_counter()
    run = Running(checkout, database, cache)
    run.wait_healthy()
    return time.perf_counter() - t0, cpu_seconds(run.proc.pid), run


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used, user and system (Linux: /proc; elsewhere NaN): less moved by other
    load on the machine than wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(checkout: Path, folder: Path, resets: int) -> dict[str, list[float]]:
    """One round: a very first start (no template), a start on an empty database (template kept), a
    restart on the seeded database, and resets through the last."""
    cache = folder / "cache"
    out: dict[str, list[float]] = {}
    for key, db in (("first", "first.db"), ("empty", "empty.db"), ("restart", "empty.db")):
        took, cpu, run = _start(checkout, folder / db, cache)
        out[key], out[f"{key} cpu"] = [took], [cpu]
        if key != "restart":
            run.stop()
    try:
        run.reset()  # the first reset of a process (the one a CI job pays)
        out["reset"] = [run.reset() for _ in range(resets)]
    finally:
        run.stop()
    return out


TARGETS = {
    "empty": ("start-up, empty database to both apps answering /healthz", 0.5),
    "restart": ("start-up, restart on a seeded database", 0.3),
    "reset": ("POST /sandbox-api/reset", 0.1),
    "first": ("start-up, first ever (no world template kept yet)", None),
}


def startup_and_reset(baseline: Path | None, rounds: int, resets: int = 5) -> None:
    checkouts = {"this": ROOT, **({"baseline": baseline} if baseline else {})}
    got: dict[str, dict[str, list[float]]] = {name: {} for name in checkouts}
    for checkout in checkouts.values():  # a start that writes the bytecode, not measured
        with tempfile.TemporaryDirectory() as tmp:
            _start(checkout, Path(tmp) / "warm.db", Path(tmp))[2].stop()
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        floor_start(Path(tmp))  # its bytecode written, not measured
    for _ in range(rounds):
        for name, checkout in checkouts.items():  # alternating: both see the same load
            with tempfile.TemporaryDirectory() as tmp:
                for key, values in measure(checkout, Path(tmp), resets).items():
                    got[name].setdefault(key, []).extend(values)
        with tempfile.TemporaryDirectory() as tmp:
            floors.append(floor_start(Path(tmp)))
    floor = statistics.median(floors)
    print(
        f"the stack's floor (a minimal Flask + SQLAlchemy + Waitress app, empty SQLite file to /healthz): median "
        f"{floor:.3f} s of {len(floors)}",
        flush=True,
    )
    for key, (what, target) in TARGETS.items():
        med = statistics.median(got["this"][key])
        line = f"{what}: median {med:.3f} s of {len(got['this'][key])}"
        if target is not None:
            line += f"; target {target:.2f} s -> ratio {med / target:.2f}"
        if key in ("empty", "restart"):
            line += f"; {med / floor:.1f}x the stack's floor"
        if baseline:
            base = statistics.median(got["baseline"][key])
            line += f"; baseline {baseline} {base:.3f} s -> ratio {med / base:.2f}"
        if f"{key} cpu" in got["this"]:
            line += f"; CPU {statistics.median(got['this'][key + ' cpu']):.3f} s"
            if baseline:
                line += f" (baseline {statistics.median(got['baseline'][key + ' cpu']):.3f} s)"
        print(line, flush=True)


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
            count = s.scalar(select(func.count(Customer.id))) or 0
            ups = s.scalar(select(func.count(UsagePoint.id)))
        base = faker_alone(count)
        print(
            f"seeding {count:,} customers ({ups:,} usage points): {took:.1f} s; budget 60 s -> ratio {took / 60:.2f}; "
            f"Faker alone for as many names: {base:.1f} s -> ratio {took / base:.2f}"
        )
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
        print(
            f"last seeded customer's first usage point, app start and a year of readings ({len(series):,}): "
            f"{time.perf_counter() - t0:.2f} s"
        )


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
    print(
        f"one usage point, a year of hourly readings with cost ({len(s):,} readings, solar home): "
        f"median {med:.1f} ms, first in the process (sun path and weather computed) {cold * 1000:.0f} ms; "
        f"budget 50 ms -> ratio {med / 50:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--baseline", type=Path, help="a checkout to compare start-up and reset with, round by round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    startup_and_reset(args.baseline, args.rounds)
    one_year()
    if not args.skip_seed:
        seeding(args.customers)


if __name__ == "__main__":
    main()
