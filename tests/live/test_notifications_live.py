"""Notifications delivered by real server processes: a receiver that is down and comes back gets
every notification exactly once, even with the sandbox restarted in between; two processes over
one database (SQLite, and PostgreSQL as deployments run it) deliver each notification once."""

from __future__ import annotations

from collections import Counter

import pytest
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox.testing.client import SandboxClient

from .server import LiveServer, free_port
from .third_party import ThirdParty

pytestmark = pytest.mark.live
KEY = "notifications-key"
QUICK = {
    "SANDBOX_ADMIN_KEY": KEY,
    "SANDBOX_NOTIFY_RETRY_BASE": "0.2",
    "SANDBOX_NOTIFY_RETRY_CAP": "0.4",
    "SANDBOX_NOTIFY_ATTEMPTS": "1000",
}
UTILITIES = ("bayview", "harbour", "lakeshore", "prairie", "trillium")


def _wait_until(c: SandboxClient, done, timeout: float = 30) -> list[dict]:
    """The notifications once `done(notifications)` holds (the server retries in the background)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = c.notifications(limit=1000)
        if done(found):
            return found
        assert time.monotonic() < deadline, [(n["id"], n["state"], n["attempts"]) for n in found]
        time.sleep(0.05)  # polling a server that retries in the background


def _delivered_once(notes: list[dict]) -> None:
    for n in notes:
        assert n["state"] == "delivered"
        assert [d["status"] for d in n["deliveries"] if 200 <= d["status"] < 300] == [200], n["deliveries"]


def test_a_receiver_down_then_up_gets_each_notification_once_across_a_restart(tmp_path):
    db = str(tmp_path / "world.db")
    port = free_port()  # where the receiver will listen; nothing does yet
    uri = f"http://127.0.0.1:{port}{ThirdParty.NOTIFICATION_PATH}"
    with LiveServer("--database", db, "--customers", "1", "--reset", env=QUICK) as first:
        c = SandboxClient(first.url, KEY)
        for slug in UTILITIES:
            c.set_notify_uri(uri, utility=slug)
        c.freeze()
        c.authorize("demo")
        made = c.advance(days=1)["notifications"]
        assert len(made) == 1  # one BatchList: only bayview's demo customer has granted (none is seeded)
        # the authorization announced, and its day published
        notes = _wait_until(c, lambda found: len(found) == 2 and all(n["attempts"] >= 2 for n in found))
        assert all(n["state"] == "pending" and n["deliveries"][0]["status"] == 0 for n in notes)
    # stopped mid-retries; the outbox is in the database, so a new process goes on with it
    with ThirdParty(port=port) as receiver, LiveServer("--database", db, env=QUICK) as second:
        c = SandboxClient(second.url, KEY)
        done = c.wait_for_notifications(len(notes), state="delivered", timeout=30)
        receiver.wait_for(len(notes))
        _delivered_once(done)
        assert Counter(p["body"] for p in receiver.received) == Counter(n["body"].encode() for n in notes)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_processes_deliver_each_notification_once(tmp_path, request, store):
    db = str(tmp_path / "world.db") if store == "sqlite" else request.getfixturevalue("postgres_url")
    with (
        ThirdParty() as receiver,
        LiveServer("--database", db, "--customers", "1", "--reset", env=QUICK) as a,
        LiveServer("--database", db, env=QUICK) as b,
    ):
        ca, cb = SandboxClient(a.url, KEY), SandboxClient(b.url, KEY)
        ca.set_notify_uri(receiver.url)
        ca.freeze()
        count = 30
        for i in range(count):  # each authorization announces itself, from either process
            (ca if i % 2 else cb).authorize("demo")
        done = cb.wait_for_notifications(count, state="delivered", timeout=60)
        receiver.wait_for(count)
        assert len(done) == count
        _delivered_once(done)
        bodies = Counter(p["body"] for p in receiver.received)
        assert len(receiver.received) == count and set(bodies.values()) == {1}
