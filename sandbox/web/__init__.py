"""Flask blueprints: they parse requests, call the layers below and render."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin
    from .portal import bp as portal
    from .site import bp as site

    app.register_blueprint(site)
    app.register_blueprint(portal)
    app.register_blueprint(admin)

    from .developer import bp as developer
    from .registration import bp as registration

    app.register_blueprint(developer)
    app.register_blueprint(registration)

    from .oauth import register_oauth

    register_oauth(app)
