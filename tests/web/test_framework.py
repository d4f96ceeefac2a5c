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


def test_an_untouched_empty_session_writes_nothing_and_a_touched_one_what_flask_writes():
    app = small_app()

    @app.get("/plain")
    def plain():
        return "plain"

    @app.get("/clear")
    def clear():
        session.clear()
        return "cleared"

    c = app.test_client()
    untouched = c.get("/plain")
    assert "Set-Cookie" not in untouched.headers and "Vary" not in untouched.headers
    read = c.get("/get")  # read, still empty: Flask's Vary: Cookie, no cookie
    assert "Set-Cookie" not in read.headers and read.headers["Vary"] == "Cookie"
    assert "session=" in c.get("/set").headers["Set-Cookie"]
    cleared = c.get("/clear")  # emptied: the cookie is deleted
    assert (
        cleared.headers["Set-Cookie"].startswith("session=;")
        and "Expires=Thu, 01 Jan 1970" in cleared.headers["Set-Cookie"]
    )
