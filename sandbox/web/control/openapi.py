"""The control API's OpenAPI 3.1 document, built from the one table of operations (given by the
table's module, which serves this document: nothing here imports it back)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Sequence

from sandbox.services import faults
from sandbox.version import __version__

if TYPE_CHECKING:
    from sandbox.web.control.operations import Operation

ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "field": {"type": "string", "description": "the body field or parameter at fault"},
    },
}
_STANDARD = {
    400: "a malformed body or parameter: `field` names it; nothing changed",
    401: "no admin key, or not the sandbox's",
    413: "the body is too large",
}


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, text in sorted({**({} if op.open else _STANDARD), **op.answers}.items()):
        if op.open and status in (400, 401, 413):
            continue
        if 200 <= status < 300:
            schema = op.response or {"type": "object"}
        else:
            schema = {"$ref": "#/components/schemas/Error"}
        out[str(status)] = {"description": text, "content": {"application/json": {"schema": schema}}}
    return out


# Sample values by name, for the examples the document and the page show (path parameters and body
# properties alike); an id no sample has is left as its {placeholder}.
SAMPLES: dict[str, Any] = {
    "slug": "bayview",
    "utility": "bayview",
    "username": "demo",
    "customer": "demo",
    "client_id": "demo-third-party",
    "scope": "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000",
    "customers": 2,
    "date": "2026-12-31",
    "status": "blocked",
    "notify_uri": "http://127.0.0.1:9000/notify",
    "faults": [faults.RATE_LIMITED],
    "profile": "ontario",
    "advance": "P1D",
    "missing_share": 0.05,
    "label": "my laptop",
    "ttl": "P1D",
}


def example_body(op: Operation) -> dict[str, Any] | None:
    """A body this operation takes: its required properties (or its first one) with sample values."""
    if op.body is None:
        return None
    if op.example is not None:
        return op.example
    props = op.body.get("properties", {})
    names = op.body.get("required") or list(props)[:1]
    return {n: SAMPLES.get(n, f"<{n}>") for n in names}


def example_path(op: Operation, prefix: str) -> str:
    """The operation's path with sample values where there are some."""
    return prefix + re.sub(r"{(\w+)}", lambda m: str(SAMPLES.get(m.group(1), m.group(0))), op.path)


def example_curl(op: Operation, base_url: str, prefix: str) -> str:
    """A curl command line that makes the call (the admin key in $KEY)."""
    line = ["curl -s"]
    if not op.open:
        line.append('-H "Authorization: Bearer $KEY"')
    if op.method != "GET":
        line.append(f"-X {op.method}")
    line.append(base_url + example_path(op, prefix))
    body = example_body(op)
    if body is not None:
        line.append("\\\n  -H 'Content-Type: application/json' -d '" + json.dumps(body) + "'")
    return " ".join(line)


def _operation(op: Operation) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    params += [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description, "schema": p.schema}
        for p in op.query
    ]
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op),
    }
    if params:
        doc["parameters"] = params
    if op.body is not None:
        body = {"schema": op.body, "example": example_body(op)}
        doc["requestBody"] = {"required": True, "content": {"application/json": body}}
    if op.open:
        doc["security"] = []
    elif op.check is not None:  # a key other than the sandbox's admin key: said in words
        doc["description"] = f"Authorization: {op.auth}."
    return doc


def document(base_url: str, operations: Sequence[Operation], prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Green Button Sandbox control API",
            "version": __version__,
            "description": "Drive the sandbox from a test suite: reset the world, move the clock, authorize "
            "without a browser, end access the ways real customers and utilities do. Every "
            "call but this document needs the admin key as a bearer token.",
        },
        "servers": [{"url": base_url + prefix}],
        "components": {
            "securitySchemes": {
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SANDBOX_ADMIN_KEY, or the key printed at start-up",
                }
            },
            "schemas": {"Error": ERROR},
        },
        "security": [{"adminKey": []}],
        "paths": paths,
    }
