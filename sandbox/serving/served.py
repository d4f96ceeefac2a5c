"""What the main process learns while starting and every serving process must know."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Served:
    """Where the sandbox listens (the base of notifications when no public URL is set) and the demo
    app's notification URL, if it runs (notified even beyond loopback, kept through resets)."""

    listen_url: str
    demo_notify_uri: str | None = None

    def apply(self, app: Any) -> None:
        sb = app.extensions["sandbox"]
        sb.listen_url = self.listen_url
        # each private sandbox's notifications are delivered by the processes that serve it (web.private)
        app.extensions["private_sandboxes"].notify = True
        if self.demo_notify_uri:
            notifier = app.extensions["notifications"]
            sb.demo_notify_uri = self.demo_notify_uri
            notifier.policy = dataclasses.replace(
                notifier.policy, allow_urls=notifier.policy.allow_urls | {self.demo_notify_uri}
            )
