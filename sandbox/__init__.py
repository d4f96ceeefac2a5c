"""Green Button Sandbox: a fake utility (ESPI Data Custodian) for developers and CI.

`flask --app sandbox ...` finds `create_app` here; the app factory itself lives in
`sandbox.web.app`, so that importing a lower layer (espi, synth, core, services) never
imports Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from sandbox.version import __version__

if TYPE_CHECKING:
    from flask import Flask

    from sandbox.core.clock import Clock


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the Flask app (see `sandbox.web.app.create_app`)."""
    from sandbox.web.app import create_app as factory

    return factory(config, clock=clock)


__all__ = ["create_app", "__version__"]
