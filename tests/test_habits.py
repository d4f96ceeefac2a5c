"""Lint, format and type checks are part of the suite: `ruff check`, `ruff format --check` and `mypy` as
pyproject.toml configures them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's own ruff and mypy, the versions pinned in the test extra


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: pip install -e '.[test]'", pytrace=False)
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_check_passes():
    proc = _run(
        _tool("ruff"), "check", "--no-cache", "--output-format", "concise", "sandbox", "tests", "bench", "run.py"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_tree_is_ruff_formatted():
    proc = _run(_tool("ruff"), "format", "--check", "--no-cache", "sandbox", "tests", "bench", "run.py")
    assert proc.returncode == 0, "run `ruff format sandbox tests bench run.py`:\n" + proc.stdout + proc.stderr


def test_mypy_passes():
    # the packages to check come from [tool.mypy] in pyproject.toml
    proc = _run(_tool("mypy"), "--no-incremental", "--cache-dir", "/dev/null")
    assert proc.returncode == 0, proc.stdout + proc.stderr
