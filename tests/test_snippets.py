"""Every snippet the README and docs/ say runs is run, as it is written there: a fenced block whose
info string is `python run` (tests for the pytest plugin, run by pytest in a process of their own,
as a third party runs them) or `sh run` (shell against a live sandbox: `localhost:8080` is that
sandbox's address, `KEY` its admin key, and each curl must succeed). The blocks are read from the
Markdown at test time, so a snippet and its test cannot drift apart."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT
from live.server import small_world, third_party_pytest

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w+) run\n(.*?)^```$", re.M | re.S)
KEY = "snippet-admin-key"


def snippets(language: str) -> list[tuple[str, str]]:
    """(where, code) of each runnable block of that language."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in BLOCK.finditer(text):
            if m.group(1) == language:
                line = text[: m.start()].count("\n") + 1
                out.append((f"{page.relative_to(ROOT)}:{line}", m.group(2)))
    return out


def test_the_readme_has_runnable_snippets_of_both_kinds():
    assert [w for w, _ in snippets("python") if w.startswith("README")]
    assert [w for w, _ in snippets("sh") if w.startswith("README")]
    unknown = [m.group(1) for p in PAGES for m in BLOCK.finditer(p.read_text()) if m.group(1) not in ("python", "sh")]
    assert not unknown, f"runnable blocks of a language no test runs: {unknown}"


@pytest.mark.live
def test_every_python_snippet_passes_with_the_plugin(tmp_path):
    found = snippets("python")
    for i, (where, code) in enumerate(found):
        (tmp_path / f"test_snippet_{i}.py").write_text(f"# {where}\n{code}")
    proc = third_party_pytest(tmp_path, "--green-button-customers", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(rf"\b{len(found)} passed\b", proc.stdout), proc.stdout


@pytest.mark.live
@pytest.mark.parametrize(("where", "code"), snippets("sh"), ids=[w for w, _ in snippets("sh")])
def test_every_shell_snippet_succeeds_against_a_live_sandbox(tmp_path, where, code):
    with small_world(tmp_path, KEY) as server:
        host = server.url.split("//", 1)[1]
        script = "\n".join(line for line in code.splitlines() if not line.startswith("KEY=..."))  # the placeholder
        script = (
            script.replace("localhost:8080", host).replace("127.0.0.1:8080", host).replace("curl -s ", "curl -sSf ")
        )
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "KEY": KEY},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, f"{where}:\n{script}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "error" not in proc.stdout.lower(), proc.stdout[-2000:]
