"""One exception hierarchy (sandbox/core/errors.py): every exception class of the package is a
SandboxError, defined there, carrying what its HTTP answer says; the old names still import."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

from sandbox.core import errors
from sandbox.core.errors import SandboxError, describe

PACKAGE = Path(errors.__file__).resolve().parent.parent
# the clients' own exceptions: the demo third party's and the pytest plugin's client (they describe
# what a utility answered them, not a refusal of the sandbox's)
CLIENT_SIDE = ("demo", "testing")
# the one class that must stay beside Werkzeug (web may import it; core may not)
BESIDE_WERKZEUG = {("sandbox/web/input_guards.py", "InputRefused")}


def _exception_classes() -> set[tuple[str, str]]:
    """(module path, class name) of every class of the package that derives from an exception, read
    from the source (a base named like a built-in exception, Werkzeug's, or another such class)."""
    trees = {p: ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}
    known = {
        n
        for n in dir(builtins)
        if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)
    } | {"BadRequest", "HTTPException"}
    found: set[tuple[str, str]] = set()
    while True:
        before = len(found)
        for path, tree in trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).rsplit(".", 1)[-1] in known for b in node.bases
                ):
                    known.add(node.name)
                    found.add((str(path.relative_to(PACKAGE.parent)), node.name))
        if len(found) == before:
            return found


def test_every_exception_class_of_the_package_is_defined_in_the_one_module():
    found = {(p, n) for p, n in _exception_classes() if p.split("/")[1] not in CLIENT_SIDE}
    elsewhere = found - {(p, n) for p, n in found if p == "sandbox/core/errors.py"} - BESIDE_WERKZEUG
    assert elsewhere == set()
    assert len(found) >= 16  # the reader saw them: the 15 of the package (the issue counts the demo's 2 too), the base


def test_every_exception_class_is_a_sandbox_error_with_status_error_and_reason():
    from sandbox.web.input_guards import InputRefused

    classes = [getattr(errors, n) for p, n in _exception_classes() if p == "sandbox/core/errors.py"]
    for cls in [*classes, InputRefused]:
        assert issubclass(cls, SandboxError), cls
        assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} says when it is raised"
        assert isinstance(cls.status, int) and 400 <= cls.status <= 599 and cls.error and cls.reason, cls


OLD_HOMES = [
    ("sandbox.espi.query", "QueryError"),
    ("sandbox.espi.xmlio", "XmlRefused"),
    ("sandbox.espi.scopes", "ScopeError"),
    ("sandbox.services.dmd", "ImportRefused"),
    ("sandbox.services.notifications.delivery", "Busy"),
    ("sandbox.web.control.views", "ControlError"),
    ("sandbox.synth.world", "SeedDataError"),
    ("sandbox.synth.quality", "QualityError"),
    ("sandbox.core.config", "ConfigError"),
    ("sandbox.core.db", "SchemaError"),
]


@pytest.mark.parametrize("module, name", OLD_HOMES)
def test_the_old_names_import_the_same_class(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_the_built_in_bases_stay_so_that_old_excepts_still_catch():
    assert issubclass(errors.Refused, ValueError) and issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.SchemaError, RuntimeError) and issubclass(errors.NoWorldError, RuntimeError)
    for name in (
        "QueryError",
        "XmlRefused",
        "ScopeError",
        "ImportRefused",
        "QualityError",
        "SeedDataError",
        "ConfigError",
    ):
        assert issubclass(getattr(errors, name), ValueError), name


def test_describe_gives_the_answers_the_apis_give():
    assert describe(errors.Refused("name: too long", "name")) == (
        400,
        "invalid_request",
        "name: too long",
        "bad_request",
    )
    # the registration API's own code stays on the exception (RFC 7591)
    assert errors.Refused("x", "redirect_uris", "invalid_redirect_uri").error == "invalid_redirect_uri"
    assert describe(errors.NotFound("abc"))[::3] == (404, "not_found") and str(errors.NotFound("abc")) == "abc"
    assert describe(errors.QueryError("max-results", "is not a whole number")) == (
        400,
        "invalid_request",
        "query parameter max-results: is not a whole number",
        "bad_query_parameter",
    )
    assert describe(errors.TokenRefused(403, "insufficient_scope", "not in your scope", "scope_lacks_block")) == (
        403,
        "insufficient_scope",
        "not in your scope",
        "scope_lacks_block",
    )
    assert describe(errors.TokenRefused(401, "invalid_token", "expired")) == (
        401,
        "invalid_token",
        "expired",
        "invalid_token",
    )
    assert describe(errors.ScopeError("FB=99", "unknown"))[:2] == (400, "invalid_scope")
    assert describe(errors.ControlError(409, "conflict", "busy now", "date")) == (
        409,
        "conflict",
        "busy now",
        "conflict",
    )
    assert describe(errors.Busy(7))[:3] == (
        409,
        "conflict",
        "notification 7 is being delivered right now; try again in a moment",
    )
    assert describe(errors.ImportRefused("not XML"))[3] == "bad_upload"


def test_a_field_names_the_parameter_at_fault():
    assert errors.QueryError("depth", "too deep").field == "depth"
    assert errors.Refused("bad", "notify_uri").field == "notify_uri"
    assert errors.QualityError("outage_days[2]", "not a date").field == "outage_days[2]"
    assert errors.ScopeError("HistoryLength=1", "too short").field == "scope"


def test_input_refused_is_a_werkzeug_bad_request_and_a_sandbox_error():
    from werkzeug.exceptions import BadRequest

    from sandbox.web.input_guards import InputRefused

    exc = InputRefused("name", "holds a NUL character")
    assert isinstance(exc, BadRequest) and exc.code == 400 and exc.field == "name"
    assert describe(exc) == (
        400,
        "invalid_request",
        "name: holds a NUL character; the sandbox stores no such text.",
        "unstorable_input",
    )
