"""The examples/ folder: a third party's CI tests, written against the installed pytest plugin,
pass (run by pytest in a process of its own, as the third party runs them)."""

from __future__ import annotations

from importlib.metadata import entry_points

from conftest import ROOT
from live.server import third_party_pytest


def test_the_plugin_is_registered_with_pytest():
    found = [e for e in entry_points(group="pytest11") if e.name == "green_button_sandbox"]
    assert found and found[0].value == "sandbox.testing.plugin"


def test_the_example_third_party_tests_pass(tmp_path):
    proc = third_party_pytest(tmp_path, str(ROOT / "examples"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "5 passed" in proc.stdout
