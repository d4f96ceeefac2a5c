"""Notifications end to end in one process: what a clock move, an upload and a new authorization
announce (and to whom never), the BatchList the third party receives, what its URIs return with
the third party's own token, and the outbox's delivery rules (retry schedule, failure, Send
again, one worker per notification)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ADMIN_KEY, FIXED_NOW
from espi.checks import ATOM, ESPI, SAMPLES, assert_valid, parse
from live.third_party import ThirdParty
from sqlalchemy import select, update

from sandbox.core.models import Application, Customer, DeliveryAttempt, Notification
from sandbox.services.dmd import import_green_button
from sandbox.services.notifications import delivery, outbox
from sandbox.services.notifications.outbox import Schedule
from sandbox.services.notifications.posting import TargetPolicy
from sandbox.synth.calendar import local_midnight

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
LA = "America/Los_Angeles"  # bayview's time zone
UTC = dt.timezone.utc


@pytest.fixture
def receiver():
    with ThirdParty() as tp:
        yield tp


def control(client, method: str, path: str, **kw):
    r = client.open("/sandbox-api" + path, method=method, headers=H, **kw)
    assert r.status_code == 200, (path, r.status_code, r.data[:300])
    return r.get_json()


def notify_to(client, url: str | None, client_id: str = "demo-third-party", slug: str = "bayview") -> None:
    control(client, "PUT", f"/utilities/{slug}/third-parties/{client_id}/notify-uri", json={"notify_uri": url})


def authorize(client, customer: str = "demo", scope: str = SCOPE, **extra) -> dict:
    return control(
        client,
        "POST",
        "/authorizations",
        json={"utility": "bayview", "customer": customer, "client_id": "demo-third-party", "scope": scope, **extra},
    )


def advance(client, duration: str = "P1D") -> list[int]:
    return control(client, "POST", "/clock", json={"advance": duration})["notifications"]


def listed(client, **query) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return control(client, "GET", "/notifications" + ("?" + q if q else ""))["notifications"]


def refreshed(client, tokens: dict) -> str:
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("demo-third-party", "demo-secret"),
    )
    assert r.status_code == 200, r.data
    return r.get_json()["access_token"]


def local(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.path + ("?" + parts.query if parts.query else "")


def blocks(client, uri: str, token: str) -> dict[str, tuple]:
    """IntervalBlocks of a feed by id: (start, duration, readings as (start, value))."""
    r = client.get(local(uri), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, (uri, r.status_code, r.data[:300])
    out = {}
    for e in parse(r.data).iter(ATOM + "entry"):
        block = e.find(f"{ATOM}content/{ESPI}IntervalBlock")
        if block is not None:
            readings = tuple(
                (int(x.findtext(f"{ESPI}timePeriod/{ESPI}start")), int(x.findtext(f"{ESPI}value")))
                for x in block.iter(ESPI + "IntervalReading")
            )
            out[e.findtext(ATOM + "id")] = (
                int(block.findtext(f"{ESPI}interval/{ESPI}start")),
                int(block.findtext(f"{ESPI}interval/{ESPI}duration")),
                readings,
            )
    return out


def bounds(uri: str) -> tuple[dt.datetime, dt.datetime] | None:
    q = parse_qs(urlsplit(uri).query)
    if not q:
        return None
    return tuple(
        dt.datetime.fromisoformat(q[k][0].replace("Z", "+00:00"))  # type: ignore[return-value]
        for k in ("published-min", "published-max")
    )


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.fromtimestamp(local_midnight(LA, day), UTC)


def resources(body: bytes) -> list[str]:
    root = parse(body)
    assert_valid(root)  # a BatchList of espi.xsd
    assert root.tag == ESPI + "BatchList"
    return [r.text for r in root.iter(ESPI + "resources")]


def worker(app):
    return app.extensions["notifications"]


def test_a_day_later_that_day_is_published_and_announced_once(app, client, receiver):
    notify_to(client, receiver.url)
    tokens = authorize(client)
    sub = tokens["resourceURI"]
    before = blocks(client, sub, tokens["access_token"])
    made = advance(client)
    fresh = refreshed(client, tokens)  # the hour-long access token expired meanwhile
    after = blocks(client, sub, fresh)
    new = {k: v for k, v in after.items() if before.get(k) != v}
    day = (FIXED_NOW.astimezone(dt.timezone(dt.timedelta(hours=-7)))).date()  # 15 July, the day that ended
    assert new and all(start == midnight(day).timestamp() and duration == 86400 for start, duration, _ in new.values())
    assert all(len(readings) == 24 for _, _, readings in new.values())  # hourly, a whole day each
    kept = {k: v for k, v in before.items() if k in after}
    assert all(after[k] == v for k, v in kept.items())  # nothing published before changed
    gone = [v[0] for k, v in before.items() if k not in after]  # HistoryLength: the oldest day left the window
    assert len(gone) <= 1 and all(start < min(v[0] for v in kept.values()) for start in gone)

    # one BatchList for the third party at this utility, naming each of its subscriptions with new data
    ours = [n for n in listed(client, utility="bayview", client_id="demo-third-party") if n["id"] in made]
    assert len(ours) == 1 and ours[0]["event"] == "published" and ours[0]["state"] == "pending"
    note = ours[0]
    assert any(uri.startswith(sub + "?") for uri in note["uris"])
    assert all(bounds(uri) == (midnight(day), midnight(day + dt.timedelta(days=1))) for uri in note["uris"])

    worker(app).step()
    bodies = [p["body"] for p in receiver.received if b"/dc/bayview/" in p["body"]]
    assert len(bodies) == 2  # the authorization's own notification, then the day's
    assert resources(bodies[-1]) == note["uris"]
    assert receiver.received[-1]["headers"]["Content-Type"] == "application/xml"
    # fetched with the third party's token, the URI gives exactly the new day, nothing older
    uri = next(u for u in note["uris"] if u.startswith(sub + "?"))
    assert blocks(client, uri, fresh) == new
    delivered = listed(client, client_id="demo-third-party", utility="bayview", state="delivered")
    assert {n["id"] for n in delivered} >= {note["id"]}
    assert [d["status"] for d in next(n for n in delivered if n["id"] == note["id"])["deliveries"]] == [200]


def test_a_new_authorization_is_announced_without_bounds(app, client, receiver):
    notify_to(client, receiver.url)
    tokens = authorize(client)
    (note,) = listed(client, utility="bayview")
    assert note["event"] == "authorized" and note["uris"] == [tokens["resourceURI"]]


def test_never_for_ended_access_nor_suspended_third_parties(app, client, receiver):
    notify_to(client, receiver.url)
    with app.extensions["sandbox"].db.sessions() as s:
        other = s.scalars(
            select(Customer.username)
            .join(Customer.utility)
            .where(Customer.number == 1, Customer.utility.has(slug="bayview"))
        ).one()
    kept, revoked, expired = authorize(client), authorize(client, other), authorize(client)
    control(client, "POST", f"/authorizations/{revoked['authorization_id']}/revoke")
    control(client, "POST", f"/authorizations/{expired['authorization_id']}/expire")
    made = advance(client)
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    named = {urlsplit(u).path for u in note["uris"]}
    assert urlsplit(kept["resourceURI"]).path in named
    assert not named & {urlsplit(revoked["resourceURI"]).path, urlsplit(expired["resourceURI"]).path}
    for status in ("on_hold", "blocked"):
        control(client, "POST", "/utilities/bayview/third-parties/demo-third-party/status", json={"status": status})
        made = advance(client)
        assert not [n for n in listed(client, utility="bayview") if n["id"] in made], status
    control(client, "POST", "/utilities/bayview/third-parties/demo-third-party/status", json={"status": "production"})
    notify_to(client, None)  # nowhere to send: nothing is kept either
    made = advance(client)
    assert not [n for n in listed(client, utility="bayview") if n["id"] in made]


def test_a_moved_out_customer_has_no_new_data_to_announce(app, client, receiver):
    notify_to(client, receiver.url)
    tokens = authorize(client)
    control(client, "POST", "/utilities/bayview/customers/demo/move-out", json={"date": "2025-07-20"})
    made = advance(client, "P3D")  # published through 17 July: still served
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    assert any(urlsplit(u).path == urlsplit(tokens["resourceURI"]).path for u in note["uris"])
    made = advance(client, "P10D")  # the move took effect on the 20th: the authorization ended with it
    assert not [n for n in listed(client, utility="bayview") if n["id"] in made]


def test_several_days_at_once_are_one_notification_and_a_clock_moved_back_announces_again(app, client, receiver):
    notify_to(client, receiver.url)
    tokens = authorize(client)
    day = dt.date(2025, 7, 15)
    made = advance(client, "P3D")
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    uri = next(u for u in note["uris"] if u.startswith(tokens["resourceURI"]))
    assert bounds(uri) == (midnight(day), midnight(day + dt.timedelta(days=3)))
    back = control(client, "POST", "/clock", json={"set": (FIXED_NOW + dt.timedelta(days=1)).isoformat()})
    assert back["notifications"] == []  # unpublished again; nothing to say
    made = advance(client, "P1D")
    (again,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    uri = next(u for u in again["uris"] if u.startswith(tokens["resourceURI"]))
    assert bounds(uri) == (midnight(day + dt.timedelta(days=1)), midnight(day + dt.timedelta(days=2)))


def _offer(app, *scopes: str) -> None:
    with app.extensions["sandbox"].db.transaction() as s:
        app_row = s.scalars(
            select(Application).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug="bayview")
            )
        ).one()
        app_row.scopes = [*app_row.scopes, *scopes]


def test_a_bulk_scope_is_announced_once_as_its_bulk(app, client, receiver):
    bulk = SCOPE + ";BR=nightly"
    _offer(app, bulk)
    notify_to(client, receiver.url)
    first, second = authorize(client, scope=bulk), authorize(client, scope=bulk)
    made = advance(client)
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    bulks = [u for u in note["uris"] if "/Batch/Bulk/" in u]
    assert len(bulks) == 1 and urlsplit(bulks[0]).path.endswith("/Batch/Bulk/nightly")
    assert not any(first["authorization_id"] in u or second["authorization_id"] in u for u in note["uris"])
    # the client token reads it, and the bulk holds the new day of both subscriptions only
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials", "scope": "FB=34_35"},
        auth=("demo-third-party", "demo-secret"),
    )
    got = blocks(client, bulks[0], r.get_json()["access_token"])
    assert got and {start for start, _, _ in got.values()} == {midnight(dt.date(2025, 7, 15)).timestamp()}


def test_a_weekly_block_is_announced_from_the_week_start(app, client, receiver):
    weekly = SCOPE.replace("BlockDuration=daily", "BlockDuration=weekly")
    _offer(app, weekly)
    notify_to(client, receiver.url)
    tokens = authorize(client, scope=weekly)
    made = advance(client)
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    uri = next(u for u in note["uris"] if u.startswith(tokens["resourceURI"]))
    monday = dt.date(2025, 7, 14)  # 15 July 2025 is a Tuesday; its readings are in the week's block
    assert bounds(uri) == (midnight(monday), midnight(dt.date(2025, 7, 16)))
    got = blocks(client, uri, refreshed(client, tokens))
    assert len(got) == 1 and next(iter(got.values()))[0] == midnight(monday).timestamp()


def test_an_upload_is_announced_to_the_subscriptions_sharing_it(app, client, receiver):
    sb = app.extensions["sandbox"]
    data = (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes()
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        import_green_button(sb, demo, data)
    with sb.db.sessions() as s:
        demo = s.get(Customer, demo.id)
        imported = [up.uuid for up in demo.usage_points if up.imported]
    everything_ever = "FB=1_3_4_5_7_8_10_11_13_14_32_39;BlockDuration=daily"  # the sample's old gas readings
    _offer(app, everything_ever)
    notify_to(client, receiver.url)
    tokens = authorize(client, scope=everything_ever, usage_points=imported)
    with sb.db.sessions() as s:
        import_green_button(sb, s.get(Customer, demo.id), data)  # the same file again: its readings replaced
    (note,) = [n for n in listed(client, utility="bayview") if n["event"] == "uploaded"]
    (uri,) = note["uris"]
    low, high = bounds(uri)
    assert urlsplit(uri).path == urlsplit(tokens["resourceURI"]).path
    got = blocks(client, uri, tokens["access_token"])
    everything = blocks(client, tokens["resourceURI"], tokens["access_token"])
    assert got == everything and got  # the upload is all this subscription holds
    starts = [start for _, _, readings in got.values() for start, _ in readings]
    assert low.timestamp() == min(starts) and high.timestamp() > max(starts)


# --- delivery --------------------------------------------------------------------------------


def _one_pending(app, client, receiver) -> int:
    notify_to(client, receiver.url)
    authorize(client)
    (note,) = listed(client, utility="bayview")
    return note["id"]


def test_retries_follow_the_schedule_then_fail_and_send_again_delivers(app, client, receiver):
    db = app.extensions["sandbox"].db
    receiver.status = 503
    nid = _one_pending(app, client, receiver)
    schedule, policy = Schedule(base=1.0, cap=3.0, attempts=4), TargetPolicy()
    now = dt.datetime(2030, 1, 1)
    waits = []
    for _ in range(4):
        assert delivery.claim_due(db, "w", now) == [nid]
        done = delivery.attempt(db, nid, "w", schedule, policy, real=lambda at=now: at)
        n = outbox.one(db, nid)
        if n.state == outbox.PENDING:
            wait = (n.next_attempt_at - now).total_seconds()
            waits.append(wait)
            assert delivery.claim_due(db, "w", now + dt.timedelta(seconds=wait - 0.5)) == []  # not before it is due
            now += dt.timedelta(seconds=wait)
    assert waits == [1.0, 2.0, 3.0]  # doubling, capped
    assert done.state == outbox.FAILED and n.attempts == 4 and n.next_attempt_at is None
    assert delivery.claim_due(db, "w", now + dt.timedelta(days=1)) == []  # failed is never tried again by itself
    assert len(receiver.received) == 4
    receiver.status = 200
    again = control(client, "POST", f"/notifications/{nid}/send")
    assert again["state"] == "delivered" and again["attempts"] == 5
    assert [(d["status"], d["manual"]) for d in again["deliveries"]] == [(503, False)] * 4 + [(200, True)]
    assert len(receiver.received) == 5


def test_an_unreachable_or_refused_uri_is_a_failed_attempt(app, client, receiver):
    db = app.extensions["sandbox"].db
    nid = _one_pending(app, client, receiver)
    notify_to(client, "http://127.0.0.1:1/nothing-listens")
    delivery.claim_due(db, "w", outbox.real_now())
    done = delivery.attempt(db, nid, "w", Schedule(), TargetPolicy())
    assert done.result.status == 0 and done.state == outbox.PENDING and "no answer" in done.result.body
    closed = TargetPolicy(open=False)  # listening beyond loopback: loopback targets are refused
    delivery.claim_due(db, "w", outbox.real_now() + dt.timedelta(hours=1))
    done = delivery.attempt(db, nid, "w", Schedule(), closed)
    assert done.result.status == 0 and "loopback" in done.result.body
    assert receiver.received == []


def test_a_notification_is_claimed_by_one_worker(app, client, receiver, tmp_path):
    from web.helpers import overlapping

    db = app.extensions["sandbox"].db
    notify_to(client, receiver.url)
    for _ in range(12):
        authorize(client)
    now = outbox.real_now()
    got = overlapping(lambda i: delivery.claim_due(db, f"worker-{i}", now, limit=100), 4)
    claimed = [n for ids in got for n in ids]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 12
    with pytest.raises(delivery.Busy):  # Send again waits for the worker that has it
        delivery.send_now(db, claimed[0], Schedule(), TargetPolicy())
    r = client.post(f"/sandbox-api/notifications/{claimed[0]}/send", headers=H)
    assert r.status_code == 409 and r.get_json()["error"] == "conflict"
    for i in range(4):
        delivery.release(db, f"worker-{i}")
    assert len(delivery.claim_due(db, "after", now, limit=100)) == 12


def test_the_worker_delivers_in_the_background_and_stops_cleanly(app, client, receiver):
    notify_to(client, receiver.url)
    w = worker(app)
    w.start()
    try:
        authorize(client)
        receiver.wait_for(1, timeout=10)
    finally:
        w.stop()
    assert not w.running
    (note,) = listed(client, utility="bayview")
    assert note["state"] == "delivered" and len(note["deliveries"]) == 1
    with app.extensions["sandbox"].db.sessions() as s:
        assert s.scalar(select(Notification.id).where(Notification.lease_owner.is_not(None))) is None


def test_a_reset_forgets_notifications(app, client, receiver):
    _one_pending(app, client, receiver)
    control(client, "POST", "/reset")
    assert listed(client) == []
    with app.extensions["sandbox"].db.sessions() as s:
        assert s.scalar(select(DeliveryAttempt.id)) is None
        assert s.scalar(select(Application.notify_uri).where(Application.client_id == "demo-third-party")) is None


def test_the_real_time_roll_over_is_announced_by_the_worker(app, client, receiver, clock):
    notify_to(client, receiver.url)
    tokens = authorize(client)
    clock.advance(dt.timedelta(days=1))  # the day ends with no control call: the worker notices
    made = worker(app).publish()
    (note,) = [n for n in listed(client, utility="bayview") if n["id"] in made]
    assert any(u.startswith(tokens["resourceURI"] + "?") for u in note["uris"])
    assert worker(app).publish() == []  # announced once


def test_a_bad_retry_schedule_is_refused_at_start(tmp_path):
    from sandbox import create_app
    from sandbox.core.config import ConfigError

    with pytest.raises(ConfigError, match="NOTIFY_RETRY_BASE"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "CUSTOMERS": 0, "NOTIFY_RETRY_BASE": 0})


def test_no_lease_is_left_when_a_notification_vanishes_mid_attempt(app, client, receiver):
    db = app.extensions["sandbox"].db
    nid = _one_pending(app, client, receiver)
    delivery.claim_due(db, "w", outbox.real_now())
    with db.transaction() as s:
        s.execute(update(Notification).where(Notification.id == nid).values(lease_owner="someone-else"))
    done = delivery.attempt(db, nid, "w", Schedule(), TargetPolicy())
    assert done.state == "" and receiver.received == []  # not ours any more: not sent, nothing recorded


def test_a_reply_that_is_not_http_is_a_failed_attempt_not_a_dead_worker(app, client):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_garbage():
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"garbage\r\n\r\n")
            conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    notify_to(client, f"http://127.0.0.1:{server.getsockname()[1]}/notify")
    authorize(client)
    w = worker(app)
    assert w.step() == 1  # the step returns: the failure is an attempt, not an exception
    (note,) = listed(client, utility="bayview")
    assert note["state"] == "pending" and note["deliveries"][0]["status"] == 0
    assert "BadStatusLine" in note["deliveries"][0]["answer"]
    again = control(client, "POST", f"/notifications/{note['id']}/send")  # Send again: an answer, not a 500
    assert again["deliveries"][-1]["status"] == 0
    server.close()


def test_a_third_party_suspended_after_the_event_is_not_sent_to(app, client, receiver):
    nid = _one_pending(app, client, receiver)
    control(client, "POST", "/utilities/bayview/third-parties/demo-third-party/status", json={"status": "blocked"})
    db = app.extensions["sandbox"].db
    delivery.claim_due(db, "w", outbox.real_now())
    done = delivery.attempt(db, nid, "w", Schedule(), TargetPolicy())
    assert done.result.status == 0 and "blocked" in done.result.body and receiver.received == []


def test_an_id_that_is_no_number_is_404(client):
    for odd in ("%C2%B2", "1" * 25, "-1"):
        r = client.post(f"/sandbox-api/notifications/{odd}/send", headers=H)
        assert r.status_code == 404 and r.get_json()["field"] == "notification_id", odd
