"""The clock, configuration layering and the seed/reset commands."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.core.config import ConfigError, load_config
from sandbox.core.models import Customer

UTC = dt.timezone.utc


def test_clock_freeze_advance_unfreeze():
    real = [1_000_000.0]
    c = Clock(source=lambda: real[0])
    assert c.timestamp() == 1_000_000.0
    c.advance(60)
    assert c.timestamp() == 1_000_060.0
    c.freeze(dt.datetime(2025, 3, 9, 9, 59, tzinfo=UTC))
    real[0] += 500
    assert c.now() == dt.datetime(2025, 3, 9, 9, 59, tzinfo=UTC)
    c.advance(dt.timedelta(hours=1))
    assert c.now().hour == 10
    c.unfreeze()
    real[0] += 5
    assert c.now() == dt.datetime(2025, 3, 9, 10, 59, 5, tzinfo=UTC)
    c.reset()
    assert c.timestamp() == real[0]
    with pytest.raises(ValueError):
        c.freeze(dt.datetime(2025, 1, 1))


def test_published_end_is_local_today():
    c = Clock()
    c.freeze(dt.datetime(2025, 1, 1, 3, 0, tzinfo=UTC))  # still 31 December in California
    assert c.published_end("America/Los_Angeles") == dt.date(2024, 12, 31)
    assert c.published_end("America/New_York") == dt.date(2024, 12, 31)
    c.advance(dt.timedelta(hours=3))
    assert c.published_end("America/New_York") == dt.date(2025, 1, 1)


def test_config_layers_in_order():
    env = {"SANDBOX_PORT": "9000", "SANDBOX_SEED": "7", "SANDBOX_HOST": "0.0.0.0"}
    cfg = load_config({"PORT": 9100, "SEED": None}, {"PORT": 9200}, environ=env)
    assert cfg["HOST"] == "0.0.0.0" and cfg["SEED"] == 7 and cfg["PORT"] == 9200
    assert load_config(environ={})["PORT"] == 8080
    with pytest.raises(ConfigError, match="SANDBOX_PORT"):
        load_config(environ={"SANDBOX_PORT": "eighty"})


def test_seed_command_replaces_the_world(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--customers", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "seed 5" in result.output
    with app.extensions["sandbox"].db.sessions() as s:
        assert s.scalar(select(func.count(Customer.id)).where(Customer.number >= 0)) == len(
            app.extensions["sandbox"].world.utilities
        ) * (2 + 1)
    assert app.extensions["sandbox"].world.seed == 5


def test_seed_command_rejects_bad_arguments(app):
    result = app.test_cli_runner().invoke(args=["seed", "--customers", "-4"])
    assert result.exit_code == 2 and "--customers" in result.output


def test_reset_then_start_seeds_again(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    app = create_app({"DATABASE_URL": url, "CUSTOMERS": 1}, clock=clock)
    result = app.test_cli_runner().invoke(args=["reset", "--yes"])
    assert result.exit_code == 0
    assert app.test_client().get("/healthz").status_code == 503
    again = create_app({"DATABASE_URL": url, "CUSTOMERS": 1}, clock=clock)
    assert again.test_client().get("/healthz").status_code == 200
