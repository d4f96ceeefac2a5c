"""Shared fixtures: the world from seed_data/, and a fresh app and database per test.

Seeding a world (and hashing its demo passwords) costs about a second; it is deterministic, so each
session (each xdist worker) seeds a world once into a template SQLite file and every test gets a
copy of that file. The session also fails if a process it started outlives it (`no_process_left`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
from leftovers import MARK, left_behind

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.synth.world import load_world

ROOT = Path(__file__).resolve().parent.parent
FIXED_NOW = dt.datetime(2025, 7, 15, 18, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def world():
    return load_world(ROOT / "seed_data")


@pytest.fixture(scope="session")
def exact_world(world):
    """The world with no missing or estimated readings, for counting intervals."""
    return dataclasses.replace(world, missing_share=0.0, estimated_share=0.0)


def frozen_clock() -> Clock:
    c = Clock()
    c.freeze(FIXED_NOW)
    return c


@pytest.fixture
def clock():
    return frozen_clock()


ADMIN_KEY = "test-admin-key"  # the control API's key in the `app` fixture
# the `app` fixture's configuration: the test client's requests come to http://localhost/, and the app's
# public URL says so, as run.py's listening address would, for the URLs written without a request
# (notifications)
APP_CONFIG = {"CUSTOMERS": 3, "TESTING": True, "ADMIN_KEY": ADMIN_KEY, "PUBLIC_URL": "http://localhost/"}


class SeededWorlds:
    """SQLite files of worlds seeded once per session (one per count of generated customers), copied for
    each test that wants one. A copy is the world a fresh seed would make, random keys aside (each
    template has its own, as each seed does). Seeded at FIXED_NOW on a frozen clock, or (`real_time`)
    in real time for the live servers, whose clock runs."""

    def __init__(self, folder: Path, real_time: bool = False):
        self.folder = folder
        self.real_time = real_time
        self._templates: dict[int, Path] = {}

    def template(self, customers: int) -> Path:
        """The template file of a world with `customers` generated customers a utility, seeded when first asked for."""
        template = self._templates.get(customers)
        if template is None:
            template = self.folder / f"world-{customers}.db"
            made = create_app(
                {**APP_CONFIG, "DATABASE_URL": f"sqlite:///{template}", "CUSTOMERS": customers},
                clock=None if self.real_time else frozen_clock(),
            )
            made.extensions["sandbox"].db.dispose()  # closes the WAL: the file alone is the world
            self._templates[customers] = template
        return template

    def copy(self, to: Path, customers: int = 3) -> str:
        """A copy of the seeded world with `customers` generated customers a utility at `to`; its URL."""
        shutil.copyfile(self.template(customers), to)
        return f"sqlite:///{to}"


@pytest.fixture(scope="session")
def seeded_worlds(tmp_path_factory) -> SeededWorlds:
    """Seeds the worlds the tests use at once, before any test's monkeypatching can reach them."""
    worlds = SeededWorlds(tmp_path_factory.mktemp("seeded"))
    for customers in (APP_CONFIG["CUSTOMERS"], 1):
        worlds.template(customers)
    return worlds


@pytest.fixture(scope="session")
def real_time_worlds(tmp_path_factory) -> SeededWorlds:
    """Worlds seeded in real time, for the live servers (tests/live, tests/browser) to start on a copy."""
    return SeededWorlds(tmp_path_factory.mktemp("seeded-real-time"), real_time=True)


@pytest.fixture
def app(tmp_path, clock, seeded_worlds):
    """A fresh database with a small world (3 generated customers per utility), a frozen clock and
    the control API's key ADMIN_KEY."""
    url = seeded_worlds.copy(tmp_path / "test.db", customers=APP_CONFIG["CUSTOMERS"])
    application = create_app({**APP_CONFIG, "DATABASE_URL": url}, clock=clock)
    yield application
    application.extensions["private_sandboxes"].close_all()  # the private sandboxes a test made and used
    application.extensions["sandbox"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


# --- no process outlives the session ------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def no_process_left():
    """Fails the session (an error at the last test's teardown) if a process a test started still runs
    once every other fixture has ended: set up first, so torn down last. The processes found are then
    killed, so that a failed run leaves nothing behind either."""
    if not os.path.isdir("/proc"):  # the check reads /proc (Linux, where the suite runs)
        yield
        return
    mark = uuid.uuid4().hex
    os.environ[MARK] = mark  # each xdist worker sets its own, so workers do not see each other's
    yield
    deadline = time.monotonic() + 10  # a process told to stop may take a moment to end
    left = left_behind(mark)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for processes to end, not waiting for a result
        left = left_behind(mark)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, "processes the tests started are still running:\n" + "\n".join(
        f"  {pid}: {cmd}" for pid, cmd in sorted(left.items())
    )
