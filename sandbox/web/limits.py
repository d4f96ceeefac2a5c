"""Abuse limits (Flask-Limiter): failed sign-ins, failed client authentication, open registration."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wrap the limited views of `app` (after its blueprints are registered)."""
