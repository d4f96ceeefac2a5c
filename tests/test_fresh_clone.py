"""The suite needs nothing beside the checkout: no test reads the reference folder ../shared."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# a path into a "shared" folder: ../shared, /shared/..., shared/samples, "shared" / "..." built with pathlib
_SHARED_PATH = re.compile(r"""(\.\./|/)shared\b|\bshared/|["']shared["']""")


def _code_strings_and_names(source: str) -> list[tuple[int, str]]:
    """Every string literal and name token with its line: what code can use, comments left out."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.STRING, tokenize.NAME) or getattr(tokenize, "FSTRING_MIDDLE", -1) == tok.type:
            out.append((tok.start[0], tok.string))
    return out


def test_no_test_reads_the_shared_folder():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        for line, text in _code_strings_and_names(path.read_text(encoding="utf-8")):
            if _SHARED_PATH.search(text):
                offenders.append(f"{path.relative_to(TESTS.parent)}:{line}: {text[:80]}")
    assert not offenders, "tests must read their data from tests/samples, not ../shared:\n" + "\n".join(offenders)


def test_the_pattern_finds_what_it_is_meant_to():
    source = 'X = ROOT.parent / "shared" / "samples"\nY = "../shared/espi-schema"\n# ../shared in a comment\n'
    hits = [text for _, text in _code_strings_and_names(source) if _SHARED_PATH.search(text)]
    assert hits == ['"shared"', '"../shared/espi-schema"']


def test_samples_are_in_the_checkout_with_their_sources():
    samples = TESTS / "samples"
    files = sorted(p.name for p in samples.glob("*.xml"))
    assert files, "tests/samples holds the published sample files"
    sources = (samples / "SOURCES.md").read_text(encoding="utf-8")
    assert [name for name in files if f"| {name} |" not in sources] == []
