"""A database made by another version of the sandbox is refused with a way out, never reused silently."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import create_app
from sandbox.core.db import SCHEMA_VERSION, Database, SchemaError
from sandbox.core.models import Customer, SchemaVersion

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def made(tmp_path, seeded_worlds):
    """A database the current version made (1 generated customer per utility)."""
    path = tmp_path / "old.db"
    seeded_worlds.copy(path, customers=1)
    return path


def _set_version(path: Path, version: int | None) -> None:
    with sqlite3.connect(path) as con:
        if version is None:  # made before versions were kept
            con.execute("DROP TABLE schema_version")
        else:
            con.execute("UPDATE schema_version SET version = ?", (version,))


def _customers(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM customer").fetchone()[0]


def test_a_database_of_this_version_is_reused(made, clock):
    assert Database(f"sqlite:///{made}").schema_version() == SCHEMA_VERSION
    app = create_app({"DATABASE_URL": f"sqlite:///{made}"}, clock=clock)
    assert app.extensions["sandbox"].world is not None


@pytest.mark.parametrize(
    "version, word", [(None, "older"), (SCHEMA_VERSION - 1, "older"), (SCHEMA_VERSION + 1, "newer")]
)
def test_another_versions_database_is_refused_and_left_as_it_was(made, clock, version, word):
    _set_version(made, version)
    before = _customers(made)
    with pytest.raises(SchemaError) as err:
        create_app({"DATABASE_URL": f"sqlite:///{made}"}, clock=clock)
    message = str(err.value)
    article = "an" if word == "older" else "a"
    assert f"made by {article} {word} version" in message and "--reset" in message and str(made) in message
    assert _customers(made) == before


def test_reset_rebuilds_it_at_this_version(made, clock):
    _set_version(made, None)
    app = create_app({"DATABASE_URL": f"sqlite:///{made}", "RESET": True, "CUSTOMERS": 2}, clock=clock)
    db = app.extensions["sandbox"].db
    assert db.schema_version() == SCHEMA_VERSION
    with db.sessions() as s:
        assert s.scalars(select(SchemaVersion.version)).all() == [SCHEMA_VERSION]
        generated = s.scalars(select(Customer).where(Customer.number >= 0)).all()  # the named identities aside
        assert len(generated) == len(app.extensions["sandbox"].world.utilities) * (2 + 1)


def test_the_seed_command_rebuilds_it_too(made, clock):
    _set_version(made, SCHEMA_VERSION - 1)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "sandbox", "seed", "--customers", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "SANDBOX_DATABASE_URL": str(made), "HOME": str(made.parent)},
    )
    assert result.returncode == 0, result.stderr
    assert Database(f"sqlite:///{made}").schema_version() == SCHEMA_VERSION


@pytest.mark.live
def test_run_py_stops_with_the_message(made):
    _set_version(made, None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--port", "0", "--database", str(made)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "older version of the sandbox" in proc.stderr and "--reset" in proc.stderr
    assert "running at" not in proc.stdout
