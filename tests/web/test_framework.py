"""Flask as the sandbox runs it (web.framework): what it keeps between requests changes no answer."""

from __future__ import annotations

from flask import session

from sandbox.web.framework import SandboxFlask


def small_app() -> SandboxFlask:
    app = SandboxFlask(__name__)
    app.secret_key = "one"

    @app.get("/set")
    def set_():
        session["who"] = "demo"
        return "set"

    @app.get("/get")
    def get():
        return session.get("who", "nobody")

    return app


def test_a_signed_session_survives_and_a_new_key_refuses_the_old_cookie():
    app = small_app()
    c = app.test_client()
    assert c.get("/get").get_data(as_text=True) == "nobody"  # no cookie: an empty session
    c.get("/set")
    assert c.get("/get").get_data(as_text=True) == "demo"
    app.secret_key = "two"  # the kept serializer follows the key
    assert c.get("/get").get_data(as_text=True) == "nobody"
    app.config["SECRET_KEY_FALLBACKS"] = ["one"]
    assert c.get("/get").get_data(as_text=True) == "demo"


def test_plain_functions_are_run_as_they_are():
    app = small_app()

    def hook():
        return None

    assert app.ensure_sync(hook) is hook and app.ensure_sync(hook) is hook
    assert app.ensure_sync(app.make_response) == app.make_response  # a bound method: asked each time, not kept
