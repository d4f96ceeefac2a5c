"""The control API's private-sandbox operations (`/sandbox-api/sandboxes`), at the deployment's root
only: make one, list, inspect, extend and delete them. Who may call which is decided here, as each
row of the operations table names its check: the operator key (the default sandbox's admin key) for
all of them, no key to make one when the deployment allows open sign-up, and a sandbox's own admin
key for its own inspection, extension and deletion. The rules and the storage are services.sandboxes'.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from sandbox.core.errors import ControlError
from sandbox.core.models import SandboxRecord
from sandbox.services import sandboxes
from sandbox.services.world import DEMO_CLIENT_ID, OWN_CLIENTS, describe
from sandbox.synth.people import DEMO_PASSWORD, DEMO_USERNAME
from sandbox.web.context import sandbox

BOUNDS = f"from {sandboxes.MIN_TTL:.0f} seconds to {sandboxes.MAX_TTL / 86400:.0f} days"


def _deployment() -> tuple[Flask, sandboxes.Registry]:
    """The deployment's app and registry; a private sandbox has none (404: sandboxes are made at the root)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    registry = app.extensions.get("sandboxes")
    if registry is None:
        raise ControlError(
            404,
            "not_found",
            "private sandboxes are made, listed and deleted at the deployment's root "
            "(/sandbox-api/sandboxes), not inside a sandbox",
        )
    return app, registry


def _bearer() -> str | None:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _is(key: str | None, wanted: str | None) -> bool:
    return bool(key and wanted) and hmac.compare_digest(key.encode(), wanted.encode())  # type: ignore[union-attr]


def _refused(key: str | None, needed: str) -> ControlError:
    """401: `unauthorized` with no key, `invalid_token` with a wrong one (as the rest of the control API)."""
    if key is None:
        return ControlError(401, "unauthorized", f"this needs {needed}: Authorization: Bearer <key>")
    return ControlError(401, "invalid_token", f"this key is not {needed}")


OPERATOR = "the deployment's operator key (the default sandbox's admin key, SANDBOX_ADMIN_KEY)"
OPERATOR_OR_OWN = f"{OPERATOR} or the sandbox's own admin key (the admin_key its creation answered)"


def check_operator(**_ids: str) -> None:
    _deployment()
    key = _bearer()
    if not _is(key, sandbox().admin_key):
        raise _refused(key, OPERATOR)


def check_signup(**_ids: str) -> None:
    """The operator key, or none at all when the deployment allows open sign-up (SANDBOX_OPEN_SIGNUP)."""
    _deployment()
    key = _bearer()
    if key is None and sandbox().config.get("OPEN_SIGNUP"):
        return
    if not _is(key, sandbox().admin_key):
        raise _refused(key, OPERATOR)


def check_operator_or_own(sandbox_id: str) -> None:
    """The operator key, or the sandbox's own admin key (a wrong one is told apart from no sandbox only
    for the operator: whoever has neither learns nothing of which ids exist)."""
    _, registry = _deployment()
    key = _bearer()
    if _is(key, sandbox().admin_key) or registry.owns(sandbox_id, key):
        return
    raise _refused(key, OPERATOR_OR_OWN)


def _ttl(value: Any) -> float:
    from sandbox.web.control.views import seconds_of

    try:
        seconds = seconds_of(value)
    except ValueError as exc:
        raise ControlError(400, "invalid_request", f"ttl: {exc}", "ttl") from None
    if not sandboxes.MIN_TTL <= seconds <= sandboxes.MAX_TTL:
        raise ControlError(400, "invalid_request", f"ttl: a sandbox lives {BOUNDS}", "ttl")
    return seconds


def _options(body: dict[str, Any]) -> sandboxes.Options:
    world = sandbox().require_world()
    known = [u.slug for u in world.utilities]
    chosen = body.get("utilities")
    if chosen is not None:
        unknown = [slug for slug in chosen if slug not in known]
        if unknown:
            raise ControlError(
                400,
                "invalid_request",
                f"utilities: no utility {unknown[0]!r} (there are {', '.join(known)})",
                "utilities",
            )
    profiles = body.get("profiles") or {}
    for slug, name in profiles.items():
        if slug not in (chosen or known):
            raise ControlError(
                400, "invalid_request", f"profiles.{slug}: the sandbox has no utility {slug!r}", f"profiles.{slug}"
            )
        if name not in world.profiles:
            raise ControlError(
                400,
                "invalid_request",
                f"profiles.{slug}: no behaviour profile {name!r} (there are {', '.join(sorted(world.profiles))})",
                f"profiles.{slug}",
            )
    return sandboxes.Options(
        label=body.get("label", ""),
        seed=body.get("seed"),
        customers=body.get("customers"),
        utilities=tuple(chosen) if chosen is not None else None,
        profiles=dict(profiles),
        ttl=_ttl(body["ttl"]) if "ttl" in body else sandboxes.DEFAULT_TTL,
    )


def _base_url(record: SandboxRecord) -> str:
    return f"{request.url_root.rstrip('/')}/s/{record.id}"


def _described(record: SandboxRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "label": record.label,
        "base_url": _base_url(record),
        "seed": record.seed,
        "utilities": list(record.utilities),
        "created_at": sandboxes.iso(record.created),
        "expires_at": sandboxes.iso(record.expires),
        "last_used_at": sandboxes.iso(record.last_used),
    }


def create_sandbox(call) -> Response:
    app, registry = _deployment()
    options = _options(call.body)
    if _bearer() is None and options.ttl > sandboxes.DEFAULT_TTL:  # open sign-up: the operator may give more
        raise ControlError(
            400, "invalid_request", "ttl: without the operator key a sandbox lives at most P7D (extend it later)", "ttl"
        )
    made = registry.create(options, int(sandbox().config["MAX_SANDBOXES"]))
    base = _base_url(made.record) + "/"
    secrets = made.client_secrets
    out = {
        **_described(made.record),
        "admin_key": made.admin_key,
        "control_api": f"{base}sandbox-api/",
        "utilities": [describe(u, base) for u in made.world.utilities],
        "demo": {
            "customer": {"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
            "third_party": {"client_id": DEMO_CLIENT_ID, "client_secret": secrets[DEMO_CLIENT_ID]},
            "own_clients": [
                {"client_id": c, "client_secret": secrets[c], "role": r.value} for c, _, r, _ in OWN_CLIENTS
            ],
        },
    }
    resp = jsonify(out)
    resp.status_code = 201
    resp.headers["Location"] = base
    return resp


def list_sandboxes(call) -> Response:
    _, registry = _deployment()
    return jsonify(sandboxes=[_described(r) for r in registry.live()])


def _no_such(sandbox_id: str) -> ControlError:
    return ControlError(404, "not_found", f"no sandbox {sandbox_id[:40]!r}: deleted, expired or never made")


def _found(registry: sandboxes.Registry, sandbox_id: str) -> SandboxRecord:
    record = registry.get(sandbox_id)
    if record is None:
        raise _no_such(sandbox_id)
    return record


def get_sandbox(call, sandbox_id: str) -> Response:
    _, registry = _deployment()
    return jsonify(_described(_found(registry, sandbox_id)))


def extend_sandbox(call, sandbox_id: str) -> Response:
    _, registry = _deployment()
    record = registry.extend(sandbox_id, _ttl(call.body["ttl"]))
    if record is None:
        raise _no_such(sandbox_id)
    return jsonify(_described(record))


def delete_sandbox(call, sandbox_id: str) -> Response:
    app, registry = _deployment()
    app.extensions["private_sandboxes"].close(sandbox_id)  # this process's connections closed first
    if not registry.delete(sandbox_id):
        raise _no_such(sandbox_id)
    return Response(status=204)
