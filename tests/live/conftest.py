"""A live sandbox (the real run.py on a free loopback port, a fresh SQLite database and a small world)
for the resource-server tests of one module."""
from __future__ import annotations

import pytest

from .server import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The running sandbox's base URL. Tests that end access (revoke, move, block) do it to customers
    or authorizations of their own, so a module's tests can share one server."""
    db = tmp_path_factory.mktemp("live") / "world.db"
    with LiveServer("--database", str(db), "--customers", "4", "--reset") as server:
        yield server.url
