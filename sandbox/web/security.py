"""Browser-facing defences: security headers, cookie flags, server-side sessions, the CORS policy."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the headers, cookie and session policy on `app`."""
