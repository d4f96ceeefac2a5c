"""Shared fixtures: the world from seed_data/, and a fresh app and database per test."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

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


@pytest.fixture
def clock():
    c = Clock()
    c.freeze(FIXED_NOW)
    return c


ADMIN_KEY = "test-admin-key"  # the control API's key in the `app` fixture


@pytest.fixture
def app(tmp_path, clock):
    """A fresh database with a small world (3 generated customers per utility), a frozen clock and
    the control API's key ADMIN_KEY."""
    # the test client's requests come to http://localhost/: the app's public URL says so, as run.py's
    # listening address would, for the URLs written without a request (notifications)
    application = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}", "CUSTOMERS": 3, "TESTING": True,
                              "ADMIN_KEY": ADMIN_KEY, "PUBLIC_URL": "http://localhost/"}, clock=clock)
    yield application
    application.extensions["sandbox"].db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()
