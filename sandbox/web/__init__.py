"""Flask blueprints: they parse requests, call the layers below and render."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from sandbox.web.admin import bp as admin
    from sandbox.web.portal import bp as portal
    from sandbox.web.site import bp as site

    app.register_blueprint(site)
    if app.extensions["sandbox"].config.get("SANDBOX_ID") is None:  # the deployment's own pages
        from sandbox.web.signup import bp as signup

        app.register_blueprint(signup)
    app.register_blueprint(portal)
    app.register_blueprint(admin)

    from sandbox.web.developer import bp as developer
    from sandbox.web.registration import bp as registration

    app.register_blueprint(developer)
    app.register_blueprint(registration)

    from sandbox.web.oauth.views import register_oauth

    register_oauth(app)

    from sandbox.web import espi_http
    from sandbox.web.resources import bp as resources

    app.register_blueprint(resources)
    espi_http.init_app(app)

    from sandbox.web.control import bp as control

    app.register_blueprint(control)
