"""Flask blueprints: they parse requests, call the layers below and render."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .site import bp as site

    app.register_blueprint(site)
