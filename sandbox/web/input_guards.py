"""Well-formed extremes answered with a 4xx naming the field, never a 5xx."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the guards on `app` (before its blueprints: URL converters are bound at registration)."""
