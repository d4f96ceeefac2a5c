"""Where the developer portal's test notification may go: listening beyond loopback, internal hosts
are refused (no connection is even tried) unless named in NOTIFY_ALLOW; on loopback a local
receiver is reached."""

from __future__ import annotations

import socket

import pytest
from live.third_party import ThirdParty
from oauth.demo_rows import utility_id
from sqlalchemy import select
from web.helpers import csrf, offered, sb_of, text

from sandbox import create_app
from sandbox.core import errors
from sandbox.core.models import Application
from sandbox.services import onboarding


@pytest.fixture
def no_network(monkeypatch):
    """Record, and refuse, every outbound connection the code under test tries."""
    attempts: list = []
    real_connect = socket.socket.connect

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("test: outbound connection attempted")

    def connect(self, address):
        if isinstance(address, tuple):
            attempts.append(address)
            raise OSError("test: outbound connection attempted")
        return real_connect(self, address)  # unix sockets (none expected)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def _dev_client_with_app(app, notify_uri):
    """A signed-in developer with one application whose notify URI is set directly (as if accepted)."""
    client = app.test_client()
    page = text(client.get("/dc/bayview/developer/"))
    r = client.post(
        "/dc/bayview/developer/signup",
        data={"csrf_token": csrf(page), "name": "Ann", "email": "ann@example.com", "password": "correct horse"},
    )
    assert r.status_code == 303, text(r)[:300]
    page = text(client.get("/dc/bayview/developer/apps/new"))
    r = client.post(
        "/dc/bayview/developer/apps/new",
        data={
            "csrf_token": csrf(page),
            "name": "Watt Watcher",
            "description": "",
            "contact_email": "ann@example.com",
            "redirect_uris": "https://ww.example.com/cb",
            "notify_uri": "https://ww.example.com/notify",
            "scope_selection_uri": "",
            "client_uri": "",
            "logo_uri": "",
            "scopes": offered(sb_of(app).world)[:1],
        },
    )
    assert r.status_code in (200, 201, 303), text(r)[:500]
    with sb_of(app).db.transaction() as s:
        row = s.scalars(select(Application).where(Application.name == "Watt Watcher")).one()
        row.notify_uri = notify_uri
        app_id = row.id
    return client, app_id


def _last_check(app, app_id):
    with sb_of(app).db.sessions() as s:
        row = s.get(Application, app_id)
        return row.notify_check_at, row.notify_check_status


@pytest.fixture
def open_app(tmp_path, clock, seeded_worlds):
    a = create_app(
        {"DATABASE_URL": seeded_worlds.copy(tmp_path / "open.db", customers=1), "TESTING": True, "HOST": "0.0.0.0"},
        clock=clock,
    )
    yield a
    a.extensions["sandbox"].db.engine.dispose()


REFUSED_TARGETS = [
    "http://169.254.169.254/latest",
    "http://10.0.0.1/x",
    "http://192.168.1.1/x",
    "http://127.0.0.1.nip.io/x",
    "http://localhost.evil.invalid/x",
    "http://127.0.0.1@10.0.0.1/x",
    "http://[::ffff:169.254.169.254]/latest",
    "http://0.0.0.0/x",
    "http://2130706433/x",
]


@pytest.mark.parametrize("uri", REFUSED_TARGETS)
def test_listening_beyond_loopback_the_notify_test_refuses_internal_hosts(open_app, no_network, monkeypatch, uri):
    sent = []
    monkeypatch.setattr(onboarding.notifications, "post_notification", lambda *a, **k: sent.append(a))
    client, app_id = _dev_client_with_app(open_app, uri)
    token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
    r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
    assert r.status_code == 400, (r.status_code, text(r)[:500])
    assert "notify_uri" in text(r) or "notification" in text(r).lower()
    assert sent == [] and [a for a in no_network if a[0] not in ("127.0.0.1", "::1")] == []
    assert _last_check(open_app, app_id) == (None, None)


@pytest.mark.parametrize("uri", REFUSED_TARGETS[:3])
def test_the_notify_service_refuses_internal_hosts_for_a_non_loopback_listener(open_app, no_network, uri):
    """Interface assumed: send_test_notification(..., policy=TargetPolicy.for_listener(HOST, NOTIFY_ALLOW))."""
    sb = sb_of(open_app)
    policy = onboarding.TargetPolicy.for_listener("0.0.0.0", None)
    with sb.db.transaction() as s:
        row = s.scalars(
            select(Application).where(
                Application.client_id == "demo-third-party", Application.utility_id == utility_id(open_app)
            )
        ).one()
        row.notify_uri, app_id = uri, row.id
    with pytest.raises(errors.Refused) as exc:
        onboarding.send_test_notification(
            sb.db,
            sb.clock,
            utility_id(open_app),
            app_id,
            "http://sandbox.test/r",
            sb.world.utility("bayview").profile,
            policy=policy,
        )
    assert exc.value.field == "notify_uri" and exc.value.message
    assert no_network == []


def test_on_loopback_the_notify_test_still_reaches_a_local_receiver(app):
    assert sb_of(app).config["HOST"] == "127.0.0.1"
    with ThirdParty(status=200) as tp:
        client, app_id = _dev_client_with_app(app, tp.url)
        token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
        r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
        assert r.status_code == 303, text(r)[:500]
        assert len(tp.received) == 1
    assert _last_check(app, app_id)[1] == 200


def test_beyond_loopback_a_host_named_in_notify_allow_is_notified(tmp_path, clock, seeded_worlds):
    with ThirdParty(status=200) as tp:
        a = create_app(
            {
                "DATABASE_URL": seeded_worlds.copy(tmp_path / "allow.db", customers=1),
                "TESTING": True,
                "HOST": "0.0.0.0",
                "NOTIFY_ALLOW": "127.0.0.1",
            },
            clock=clock,
        )
        try:
            client, app_id = _dev_client_with_app(a, tp.url)
            token = csrf(text(client.get(f"/dc/bayview/developer/apps/{app_id}")))
            r = client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": token})
            assert r.status_code == 303, text(r)[:500]
            assert len(tp.received) == 1
        finally:
            a.extensions["sandbox"].db.engine.dispose()
