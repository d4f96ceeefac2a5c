"""The processes a test session started that still run (Linux, from /proc): the session-end check of
tests/conftest.py, which fails a run that leaves a server or a worker behind."""

from __future__ import annotations

import os
from pathlib import Path

MARK = "SANDBOX_TEST_SESSION"  # in the environment of every process the session starts


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, the value of MARK in its environment or ""), from /proc (Linux)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":  # ended, waiting to be reaped: nothing runs
            continue
        mark = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(MARK.encode() + b"=")), "")
        found[int(entry.name)] = (int(fields[1]), mark)
    return found


def left_behind(mark: str) -> dict[int, str]:
    """The processes this session started that still run: descendants of this process, and any process
    carrying this session's mark (a worker whose parent ended is adopted by init, but keeps its environment)."""
    procs = processes()
    me = os.getpid()
    ours = {pid for pid, (_, m) in procs.items() if m == mark and pid != me}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo = [me]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in ours:
                ours.add(child)
                todo.append(child)
    left = {}
    for pid in ours:
        try:
            left[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return left
