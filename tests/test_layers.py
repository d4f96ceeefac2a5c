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

HTTP = ("flask", "flask_wtf", "authlib.integrations", "sandbox.web", "sandbox.cli", "sandbox.server", "sandbox.serving")
# layer folder -> import prefixes it must not use
FORBIDDEN = {
    "espi": HTTP + ("sqlalchemy", "sandbox.core", "sandbox.services", "sandbox.feeds", "sandbox.synth"),
    "synth": HTTP + ("sqlalchemy", "sandbox.services", "sandbox.feeds", "sandbox.espi"),
    "core": HTTP + ("sandbox.services", "sandbox.feeds"),
    "services": HTTP,
    "feeds": HTTP,
}
# the modules of the core that lower layers may use: plain values with no dependencies (the fake world's
# profile; the one exception hierarchy, which every layer raises)
ERRORS = "sandbox.core.errors"
ALLOWED = {"synth": ("sandbox.core.profile", ERRORS), "espi": (ERRORS,)}


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
    assert violations("services") == [
        "sandbox/services/bad.py imports flask",
        "sandbox/services/bad.py imports flask.request",
    ]


BLUEPRINTS = ("site", "portal", "admin", "developer", "oauth.views", "registration")  # web/oauth/ also holds the
# Authlib glue (server, bearer) every ESPI blueprint shares


def test_blueprints_do_not_import_each_other():
    """Shared request helpers live in web.context and web.utility, not in another blueprint."""
    found = []
    for name in BLUEPRINTS:
        others = [f"sandbox.web.{o}" for o in BLUEPRINTS if o != name]
        found += [
            f"{name} imports {i}"
            for i in imports(PACKAGE / "web" / (name.replace(".", "/") + ".py"))
            if any(_under(i, o) for o in others)
        ]
    assert found == []


def test_the_espi_page_documents_the_url_table():
    from sandbox.espi import urls

    assert urls.document() in (PACKAGE.parent / "docs" / "espi.md").read_text()


def test_the_espi_page_documents_the_token_matrix():
    from sandbox.services import access

    assert access.matrix_document() in (PACKAGE.parent / "docs" / "espi.md").read_text()


def _code_strings(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_only_the_url_table_spells_espi_paths():
    """The sandbox builds every ESPI URL from one table. The demo third-party app is a client of the
    utilities, not part of them: like any third party it knows the standard's paths itself."""
    found = [
        f"{p.relative_to(PACKAGE.parent)}: {s!r}"
        for p in sorted(PACKAGE.rglob("*.py"))
        if p != PACKAGE / "espi" / "urls.py" and PACKAGE / "demo" not in p.parents
        for s in _code_strings(p)
        if "espi/1_1" in s or "/resource" in s or "Batch/" in s
    ]
    assert found == []


def test_the_exception_hierarchy_imports_nothing_of_the_package():
    """Every layer may import core.errors (ALLOWED): it must stay at the bottom, importing no layer itself."""
    assert [n for n in imports(PACKAGE / "core" / "errors.py") if _under(n, "sandbox")] == []


# --- import cycles ---------------------------------------------------------------------------------


def _modules(package: Path) -> dict[str, Path]:
    out = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_imports(path: Path) -> list[str]:
    """Every import a module makes when it runs (function-level ones too), leaving out those under
    `if TYPE_CHECKING:`, which never run."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{a.name}" for a in node.names] + [node.module]
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a package's own ancestors, which Python imports
    first in any case, left out: `from sandbox.web.control import views` is an edge to `views`)."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        parts = name.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}
        edges = set()
        for imported in _runtime_imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported not in ancestors:
                edges.add(imported)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    """No import cycle between modules of the package, lazy (function-level) imports included."""
    assert cycles(import_graph(PACKAGE)) == []


def test_the_cycle_check_sees_a_lazy_cycle(tmp_path):
    fake = tmp_path / "sandbox"
    (fake / "web").mkdir(parents=True)
    for init in (fake / "__init__.py", fake / "web" / "__init__.py"):
        init.write_text("")
    (fake / "web" / "a.py").write_text("from sandbox.web import b\n")
    (fake / "web" / "b.py").write_text("def f():\n    from sandbox.web.a import x\n")
    (fake / "web" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sandbox.web import a\n"
    )
    assert cycles(import_graph(fake)) == [["sandbox.web.a", "sandbox.web.b"]]


# --- the demo third party ---------------------------------------------------------------------------

DEMO_MAY_IMPORT = ("sandbox.demo", "sandbox.version", "sandbox.core.config", ERRORS)


def test_the_demo_app_imports_nothing_of_the_sandbox_but_its_version_and_settings():
    """The demo third party stands for an app somebody else wrote: of the sandbox it may use its own
    code, the version and where the settings and templates are (sandbox.core.config, which raises the
    one error hierarchy)."""
    bad = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / "demo").rglob("*.py"))
        for name in imports(path)
        if _under(name, "sandbox") and name != "sandbox" and not any(_under(name, a) for a in DEMO_MAY_IMPORT)
    ]
    assert bad == []
