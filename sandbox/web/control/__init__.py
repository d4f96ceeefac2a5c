"""The control API under /sandbox-api/ (DESIGN.md's contract): JSON in and out, for tests and CI
that drive the sandbox without a browser. Every route comes from the one table in `operations`;
each call is checked before its view runs: the admin key (401), the body against the operation's
JSON Schema (400 naming the field), then the view (404 for unknown things, 409 when the world's
state refuses; a ControlError, as every sandbox exception, is answered by web.errors). A refused call
changes nothing: each view's change is one service transaction.
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Blueprint, json, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from sandbox.web.context import sandbox
from sandbox.web.control import openapi
from sandbox.web.control.operations import OPERATIONS, PREFIX, Operation
from sandbox.web.control.views import Call, ControlError
from sandbox.web.errors import control_refusal as refusal
from sandbox.web.input_guards import InputRefused

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

bp = Blueprint("control", __name__, url_prefix=PREFIX)
MAX_BODY = 64 * 1024


def admin_key() -> str:
    """The key the world was prepared with (under `flask run` the world is prepared on first use)."""
    sb = sandbox()
    sb.require_world()
    return sb.admin_key or ""


def _check_key() -> None:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ControlError(
            401,
            "unauthorized",
            "the control API needs the admin key: Authorization: Bearer <key> "
            "(SANDBOX_ADMIN_KEY, or the key run.py prints at start-up)",
        )
    if not admin_key() or not hmac.compare_digest(value.strip().encode(), admin_key().encode()):
        raise ControlError(401, "invalid_token", "this is not the sandbox's admin key")


def _field(err: ValidationError) -> str:
    """The body field a schema error is about (a missing or unexpected one included)."""
    path = ".".join(str(p) for p in err.absolute_path)
    wanted = err.validator_value
    if err.validator == "required" and isinstance(err.instance, dict) and isinstance(wanted, list):
        missing = next((p for p in wanted if p not in err.instance), "")
        return f"{path}.{missing}" if path else missing
    if err.validator == "additionalProperties" and isinstance(err.instance, dict) and isinstance(err.schema, dict):
        known = set(err.schema.get("properties", {}))
        extra = next((p for p in err.instance if p not in known), "")
        return f"{path}.{extra}" if path else extra
    if err.validator in ("minProperties", "maxProperties") and not path:
        return "body"
    return path or "body"


@cache
def _formats() -> FormatChecker:
    """date and date-time are checked, not only described (jsonschema is imported by the first call
    with a body or a query to check, not when the app is built)."""
    from jsonschema import FormatChecker

    return FormatChecker()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, format_checker=_formats())


_VALIDATORS: dict[str, Draft202012Validator] = {}


def _body(op: Operation) -> dict[str, Any]:
    if op.body is None:
        return {}
    if request.content_length and request.content_length > MAX_BODY:
        raise ControlError(413, "request_too_large", f"the body may be at most {MAX_BODY} bytes")
    request.max_content_length = MAX_BODY  # a chunked body is cut off there too (413)
    raw = request.get_data(cache=False)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ControlError(400, "invalid_request", f"body: not JSON ({exc})", "body") from None
    validator = _VALIDATORS.get(op.operation_id)
    if validator is None:
        validator = _VALIDATORS[op.operation_id] = _validator(op.body)
    err = next(iter(sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.path))), None)
    if err is not None:
        name = _field(err)
        said = err.schema.get("description") if isinstance(err.schema, dict) else None
        why = said if err.validator in ("minProperties", "maxProperties") and said else err.message
        raise ControlError(400, "invalid_request", f"{name}: {why}", name)
    return data


def _query(op: Operation) -> dict[str, Any]:
    """The operation's query parameters, checked against their schemas (an integer one converted)."""
    out: dict[str, Any] = {}
    for p in op.query:
        value: Any = request.args.get(p.name)
        if value is None or value == "":
            if p.required:
                raise ControlError(400, "invalid_request", f"{p.name}: this query parameter is required", p.name)
            continue
        if p.schema.get("type") == "integer":
            try:
                value = int(value)
            except ValueError:
                raise ControlError(
                    400, "invalid_request", f"{p.name}: {value!r} is not a whole number", p.name
                ) from None
        err = next(iter(_validator(p.schema).iter_errors(value)), None)
        if err is not None:
            raise ControlError(400, "invalid_request", f"{p.name}: {err.message}", p.name)
        out[p.name] = value
    return out


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _route(rule: str, ops: dict[str, Operation]) -> None:
    """One URL rule for every method, so that a method the path lacks is a JSON 405 too."""

    def view(**ids):
        op = ops.get("GET" if request.method == "HEAD" else request.method)
        if op is None:
            resp = refusal(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; {PREFIX}{rule} answers {', '.join(sorted(ops))}",
            )
            resp.headers["Allow"] = ", ".join(sorted(ops))
            return resp
        if op.check is not None:
            op.check(**ids)
        elif not op.open:
            _check_key()
        return op.view(Call(_body(op), _query(op)), **ids)

    view.__name__ = "control_" + "_".join(o.operation_id for o in ops.values())
    bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=ALL_METHODS)


_BY_RULE: dict[str, dict[str, Operation]] = {}
for _op in OPERATIONS:
    _BY_RULE.setdefault(_op.rule, {})[_op.method] = _op
for _rule, _ops in _BY_RULE.items():
    _route(_rule, _ops)


@bp.route("/<path:rest>", methods=ALL_METHODS)
def _unknown(rest: str):
    return refusal(404, "not_found", f"no control-API operation at {PREFIX}/{rest} (see {PREFIX}/openapi.json)")


@bp.get("/")
def index():
    """The readable page beside the OpenAPI document: each call by its tag, with its parameters, body,
    answers and an example to copy."""
    base = request.url_root.rstrip("/")
    doc = openapi.document(base, OPERATIONS, PREFIX)
    sections: dict[str, list[dict]] = {}
    for op in OPERATIONS:
        described = doc["paths"][op.path][op.method.lower()]
        sections.setdefault(op.tag, []).append(
            {
                "op": op,
                "path_parts": (PREFIX + op.path).split("/")[1:],
                "params": [p for p in described.get("parameters", []) if p["in"] == "query"],
                "body": (op.body or {}).get("properties", {}),
                "required": set((op.body or {}).get("required", [])),
                "answers": described["responses"],
                "curl": openapi.example_curl(op, base, PREFIX),
            }
        )
    return render_template("control/index.html", doc=doc, prefix=PREFIX, sections=sections)


@bp.app_template_filter("ticks")
def _ticks(text: str) -> Markup:
    """Text written with `backticks` for code, as the operations table writes it: escaped, code marked up."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


@bp.errorhandler(InputRefused)
def _unstorable(err: InputRefused):
    return refusal(400, "invalid_request", err.description or "", err.field)


@bp.errorhandler(HTTPException)
def _http(err: HTTPException):
    return refusal(err.code or 500, (err.name or "error").lower().replace(" ", "_"), err.description or "")
