"""What a running sandbox holds besides the web framework: configuration, database, clock, world."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sandbox.core.clock import Clock
from sandbox.core.config import is_wildcard
from sandbox.core.db import Database
from sandbox.core.world_templates import WorldTemplates
from sandbox.espi.atom import RenderedRuns
from sandbox.synth.world import WorldDef


@dataclass
class Sandbox:
    config: dict[str, Any]
    db: Database
    clock: Clock
    world: WorldDef | None = None
    seeded_at: str | None = None  # ISO time the database's world was built
    admin_key: str | None = None  # the control API's key (SANDBOX_ADMIN_KEY, else the world's)
    templates: WorldTemplates | None = None  # where seeded worlds are kept for the next seed or reset (WORLD_CACHE)
    # under the flask command: reads (or seeds) the world when a command first needs it
    prepare: Callable[[], WorldDef | None] | None = None
    # the text of synthetic block runs written lately (valid for `world` only: see RenderedRuns)
    rendered: RenderedRuns = field(default_factory=RenderedRuns)
    # whole usage documents written lately (feeds.documents.usage_feed), by what their bytes are made of
    documents: RenderedRuns = field(default_factory=lambda: RenderedRuns(64 * 1024 * 1024))

    # where this process listens, for the URLs of notifications when no public URL is configured (set by run.py)
    listen_url: str | None = None
    demo_notify_uri: str | None = None  # run.py's demo app's notification URI, set again after a reset

    _preparing: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def base_url(self) -> str:
        """The base of URLs made without a request to take them from (notifications): PUBLIC_URL,
        else the address this process listens at (run.py's), else the configured host and port, and
        a private sandbox's /s/{id}/ after it. Never a request's Host: that is the caller's to choose."""
        if self.config.get("PUBLIC_URL"):
            base = self.config["PUBLIC_URL"]
        elif self.listen_url:
            base = self.listen_url
        else:
            host = self.config["HOST"]
            host = "127.0.0.1" if is_wildcard(host) else host
            base = f"http://{host if ':' not in host else f'[{host}]'}:{self.config['PORT']}/"
        sandbox_id = self.config.get("SANDBOX_ID")
        return f"{base.rstrip('/')}/s/{sandbox_id}/" if sandbox_id else base

    def require_world(self) -> WorldDef:
        if self.world is None and self.prepare is not None:
            with self._preparing:  # `flask run` answers in threads: two first requests must not both seed
                if self.world is None and self.prepare is not None:
                    self.world, self.prepare = self.prepare(), None
        if self.world is None:
            raise RuntimeError("the database holds no world yet: run `flask --app sandbox seed`")
        return self.world


def database_url(value: str | None, instance_path: str) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (None: the instance folder's sandbox.db)."""
    if not value:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'sandbox.db'}"
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).resolve()}"
