"""The layering of DESIGN.md, enforced: each layer imports only what lies below it.

Every import statement of every module is read (function-level imports too), so a shortcut
taken in a hurry fails here rather than in a review.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sandbox"

HTTP = ("flask", "flask_wtf", "authlib.integrations", "sandbox.web", "sandbox.oauth", "sandbox.cli", "sandbox.server")
# layer folder -> import prefixes it must not use
FORBIDDEN = {
    "espi": HTTP + ("sqlalchemy", "sandbox.core", "sandbox.services", "sandbox.feeds", "sandbox.synth"),
    "synth": HTTP + ("sqlalchemy", "sandbox.services", "sandbox.feeds", "sandbox.espi"),
    "core": HTTP + ("sandbox.services", "sandbox.feeds"),
    "services": HTTP,
    "feeds": HTTP,
}
# the one module of the core that the fake world may use: a plain value with no dependencies
ALLOWED = {"synth": ("sandbox.core.profile",)}


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute sandbox.... imports)")
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(layer: str) -> list[str]:
    out = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imports(path):
            if any(_under(name, a) for a in ALLOWED.get(layer, ())):
                continue
            bad = [p for p in FORBIDDEN[layer] if _under(name, p)]
            if bad:
                out.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer):
    assert violations(layer) == []


def test_the_package_root_imports_no_framework_at_import_time():
    """`import sandbox.services.x` runs sandbox/__init__.py: it must not pull Flask in."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [n.module if isinstance(n, ast.ImportFrom) else n.names[0].name for n in top_level]
    assert not [n for n in names if n and any(_under(n, p) for p in HTTP)]


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The test above would pass vacuously if imports were not read: show it catches one."""
    fake = tmp_path / "sandbox" / "services"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from flask import request\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "sandbox")
    assert violations("services") == ["sandbox/services/bad.py imports flask", "sandbox/services/bad.py imports flask.request"]


BLUEPRINTS = ("site", "portal", "admin", "developer", "oauth", "registration")


def test_blueprints_do_not_import_each_other():
    """Shared request helpers live in web.context and web.utility, not in another blueprint."""
    found = []
    for name in BLUEPRINTS:
        others = [f"sandbox.web.{o}" for o in BLUEPRINTS if o != name]
        found += [f"{name} imports {i}" for i in imports(PACKAGE / "web" / f"{name}.py")
                  if any(_under(i, o) for o in others)]
    assert found == []


def test_the_readme_documents_the_url_table():
    from sandbox.espi import urls

    readme = (PACKAGE.parent / "README.md").read_text()
    assert urls.document() in readme


def test_the_readme_documents_the_token_matrix():
    from sandbox.services import access

    assert access.matrix_document() in (PACKAGE.parent / "README.md").read_text()


def _code_strings(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def test_only_the_url_table_spells_espi_paths():
    """The sandbox builds every ESPI URL from one table. The demo third-party app is a client of the
    utilities, not part of them: like any third party it knows the standard's paths itself."""
    found = [f"{p.relative_to(PACKAGE.parent)}: {s!r}" for p in sorted(PACKAGE.rglob("*.py"))
             if p != PACKAGE / "espi" / "urls.py" and PACKAGE / "demo" not in p.parents
             for s in _code_strings(p) if "espi/1_1" in s or "/resource" in s or "Batch/" in s]
    assert found == []
