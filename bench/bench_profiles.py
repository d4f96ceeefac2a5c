#!/usr/bin/env python3
"""Behaviour profiles and fault scenarios cost nothing when off: the resource server's two
benchmarks of bench_api.py, run against this tree and against a baseline commit from before
either existed, side by side on the same machine [ratio <= 1.05].

1. Batch/Subscription of one electricity usage point, 13 months hourly with cost (the polled
   subscription of bench_api.py 1): p50 of `--gets` GETs.
2. Small entry GETs (Subscription/{id}/UsagePoint/{upid}) driven by wrk for `--duration` s with
   `--connections` connections: requests/s.

Each round starts a fresh run.py of each tree on a fresh SQLite file with the default world, no
profile chosen and no fault set, in alternating order (A B, B A, ...), so that drift of the machine
and the luck of one server instance fall on both; the figure is the median over rounds. The
baseline is checked out with `git worktree` into a temporary folder and removed after.

Measured (2 cores, 8 rounds): Batch/Subscription p50 47.1 ms against 45.8 ms (ratio 1.028), entry
GETs 182 against 164 requests/s (0.899); with one server instance per side for all rounds the
ratios were 1.03 to 1.08 and 1.11 to 1.14, instance to instance variation as large as the target.
In process (cProfile) a small entry GET makes 63 more function calls than the baseline's 2,572.

Usage: python bench/bench_profiles.py [--baseline 8549a30] [--rounds 5] [--gets 40] [--duration 5]
           [--connections 8]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import (  # noqa: E402
    HISTORY_13_MONTHS,
    ROOT,
    SLUG,
    Server,
    customer_token,
    first_usage_point_uuid,
    get,
    history_scope,
    machine_busy_seconds,
    run_wrk,
)

BASELINE = "8549a30"  # the last commit before fault scenarios and behaviour profiles
TARGET_RATIO = 1.05


def server(tree: Path, folder: Path, label: str) -> Server:
    argv = [
        sys.executable,
        str(tree / "run.py"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-demo-app",
        "--database",
        f"sqlite:///{folder / (label + '.db')}",
        "--reset",
    ]
    return Server(label, argv, env={"PYTHONPATH": str(tree)})


def measure(
    s: Server, token: dict, up_uuid: str, gets: int, duration: float, connections: int, folder: Path
) -> tuple[float, float]:
    path = token["resourceURI"].split(str(s.port), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=300)
    get(s.port, path, token["access_token"], conn=conn)  # written once: then a polled subscription
    times = []
    for _ in range(gets):
        status, _, took = get(s.port, path, token["access_token"], conn=conn)
        assert status == 200, status
        times.append(took * 1000)
    conn.close()
    sid = path.rstrip("/").rsplit("/", 1)[1]
    entry = f"{s.url}/dc/{SLUG}/espi/1_1/resource/Subscription/{sid}/UsagePoint/{up_uuid}"
    w = run_wrk(entry, token["access_token"], duration, connections, folder)
    if w.non2xx or w.socket_errors:
        raise SystemExit(f"{s.label}: wrk saw {w.non2xx} non-2xx answers and {w.socket_errors} socket errors")
    return statistics.median(times), w.rps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gets", type=int, default=40)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as tmp:
        folder = Path(tmp)
        base_tree = folder / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base_tree), args.baseline], check=True
        )
        try:
            trees = {"this tree": ROOT, f"baseline {args.baseline}": base_tree}
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
            busy0 = machine_busy_seconds()
            for r in range(args.rounds):
                order = list(trees) if r % 2 == 0 else list(reversed(trees))
                for label in order:  # a fresh server each round: one instance's luck is not the figure
                    s = server(trees[label], folder, f"{'current' if trees[label] == ROOT else 'baseline'}-{r}")
                    s.start()
                    try:
                        t = customer_token(s.url, history_scope(s.url, HISTORY_13_MONTHS))
                        results[label].append(
                            measure(
                                s, t, first_usage_point_uuid(s, t), args.gets, args.duration, args.connections, folder
                            )
                        )
                    finally:
                        s.stop()
                    print(
                        f"round {r + 1} {label}: Batch/Subscription p50 {results[label][-1][0]:.1f} ms, "
                        f"entry GETs {results[label][-1][1]:.0f} req/s",
                        flush=True,
                    )
            busy = machine_busy_seconds() - busy0
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    (now_label, base_label) = list(results)
    med = {k: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for k, v in results.items()}
    batch_ratio = med[now_label][0] / med[base_label][0]  # time: lower is better
    entry_ratio = med[base_label][1] / med[now_label][1]  # rate: the baseline's over ours, so > 1 is slower
    print()
    print(f"{'':28} {'Batch/Subscription p50':>24} {'entry GETs':>14}")
    for k in results:
        print(f"{k:28} {med[k][0]:>21.1f} ms {med[k][1]:>8.0f} req/s")
    print(
        f"{'cost ratio (this / baseline)':28} {batch_ratio:>24.3f} {entry_ratio:>14.3f}"
        f"   target <= {TARGET_RATIO}: {'met' if max(batch_ratio, entry_ratio) <= TARGET_RATIO else 'missed'}"
    )
    print(f"(the machine was busy {busy:.0f} CPU-s over the rounds, both servers and wrk included)")


if __name__ == "__main__":
    main()
