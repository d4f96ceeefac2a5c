"""A live sandbox (the real run.py on a free loopback port, a fresh SQLite database and a small world)
for the resource-server tests of one module."""

from __future__ import annotations

import pytest

from .server import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_time_worlds):
    """The running sandbox's base URL, over a copy of a world seeded for the session. Tests that end
    access (revoke, move, block) do it to customers or authorizations of their own, so a module's
    tests can share one server."""
    db = tmp_path_factory.mktemp("live") / "world.db"
    real_time_worlds.copy(db, customers=4)
    with LiveServer("--database", str(db), "--customers", "4") as server:
        yield server.url
