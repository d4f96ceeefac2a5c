"""What the app factory makes of its configuration: the session secret (random per app unless
configured or kept with a world) and the testing flag."""

from __future__ import annotations

from sandbox import create_app


def test_without_auto_seed_the_secret_key_is_random_per_app(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDBOX_SECRET_KEY", raising=False)
    a = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "AUTO_SEED": False})
    b = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "AUTO_SEED": False})
    same_db = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "AUTO_SEED": False})
    keys = [x.config["SECRET_KEY"] for x in (a, b, same_db)]
    assert all(isinstance(k, str) and len(k) >= 32 for k in keys), keys
    assert len(set(keys)) == 3
    assert "unseeded" not in keys and not any("unseeded" in k for k in keys)
    configured = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "AUTO_SEED": False, "SECRET_KEY": "configured-secret-value"}
    )
    assert configured.config["SECRET_KEY"] == "configured-secret-value"
    for x in (a, b, same_db, configured):
        x.extensions["sandbox"].db.engine.dispose()


def test_testing_flag_reaches_flask_and_is_off_by_default(tmp_path, app):
    assert app.testing is True and app.config["TESTING"] is True
    plain = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}", "AUTO_SEED": False})
    assert plain.testing is False and plain.config["TESTING"] is False
    plain.extensions["sandbox"].db.engine.dispose()
