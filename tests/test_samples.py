"""The published sample files the tests read are in the checkout, each with its origin noted.
(That the suite needs nothing beside a clone is shown by .ci/run, which runs it from a fresh copy.)"""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "samples"


def test_samples_are_in_the_checkout_with_their_sources():
    files = sorted(p.name for p in SAMPLES.glob("*.xml"))
    assert files, "tests/samples holds the published sample files"
    sources = (SAMPLES / "SOURCES.md").read_text(encoding="utf-8")
    assert [name for name in files if f"| {name} |" not in sources] == []
