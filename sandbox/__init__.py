"""Green Button Sandbox: a fake utility (ESPI Data Custodian) for developers and CI.

`flask --app sandbox ...` finds `create_app` here; the app factory itself lives in
`sandbox.web.app`, so that importing a lower layer (espi, synth, core, services) never
imports Flask.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.version import __version__

# numpy's OpenBLAS starts a pool of threads as numpy is imported: about 50 ms of every start-up on two
# cores, and threads that forked workers would inherit. The sandbox does no linear algebra (its numpy
# work is element-wise), so it asks for one thread, unless the environment says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if TYPE_CHECKING:
    from flask import Flask

    from sandbox.core.clock import Clock


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the Flask app (see `sandbox.web.app.create_app`)."""
    from sandbox.web.app import create_app as factory

    return factory(config, clock=clock)


__all__ = ["create_app", "__version__"]
