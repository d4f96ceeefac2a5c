"""The session-end check (tests/conftest.py `no_process_left`) finds the processes a session started:
its children, and the orphans whose parent ended (as a server's worker outliving its master)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from leftovers import MARK, left_behind

# starts a process that waits a minute, prints its id and ends at once: the waiting one is an orphan
ORPHAN = (
    "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_an_orphan_carrying_the_sessions_mark_is_found_and_another_sessions_is_not():
    out = subprocess.run(
        [sys.executable, "-c", ORPHAN],
        env={**os.environ, MARK: "this-session"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    orphan = int(out.stdout)
    try:
        found = left_behind("this-session")
        assert orphan in found and "time.sleep(60)" in found[orphan]
        assert orphan not in left_behind("another-session")  # not a child of this process either
    finally:
        _kill(orphan)


def test_a_child_is_found_without_the_mark():
    env = {k: v for k, v in os.environ.items() if k != MARK}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        assert child.pid in left_behind("another-session")
    finally:
        child.kill()
        child.wait()
    assert child.pid not in left_behind("another-session")  # ended and reaped: nothing left
