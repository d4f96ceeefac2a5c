"""The request log: every call to a utility's ESPI API is kept with its time (sandbox clock),
method, path, token kind, status and refusal reason, and shown to the third party whose token
made it (the developer portal, the control API), never to another one."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading

from conftest import ADMIN_KEY as KEY
from sqlalchemy import func, select
from web.helpers import text
from web.test_developer import SECRET, register, sign_up, the_app

from sandbox.core.db import SCHEMA_VERSION
from sandbox.core.models import RequestRecord
from sandbox.services import request_log

H = {"Authorization": f"Bearer {KEY}"}
R = "/dc/bayview/espi/1_1/resource"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


def requests_of(client, **query) -> list[dict]:
    r = client.get("/sandbox-api/requests", query_string=query, headers=H)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["requests"]


def test_calls_are_logged_with_their_answer_and_reason(client, clock):
    t = client.post(
        "/sandbox-api/authorizations",
        headers=H,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
    ).get_json()
    sid = t["authorization_id"]
    bearer = {"Authorization": f"Bearer {t['access_token']}"}
    assert client.get(f"{R}/Subscription/{sid}/UsagePoint?depth=2", headers=bearer).status_code == 200
    clock.advance(dt.timedelta(hours=2))
    assert client.get(f"{R}/Batch/Subscription/{sid}", headers=bearer).status_code == 401
    assert client.get(f"{R}/ReadServiceStatus", headers={"Authorization": "Bearer nobody"}).status_code == 401
    calls = requests_of(client, utility="bayview")
    assert [(c["method"], c["path"], c["status"], c["reason"], c["token_kind"], c["client_id"]) for c in calls[:3]] == [
        ("GET", f"{R}/ReadServiceStatus", 401, "unknown_token", None, None),
        ("GET", f"{R}/Batch/Subscription/{sid}", 401, "token_expired", "customer", "demo-third-party"),
        ("GET", f"{R}/Subscription/{sid}/UsagePoint?depth=2", 200, None, "customer", "demo-third-party"),
    ]
    assert calls[1]["at"] == "2025-07-15T20:30:00Z" and calls[2]["at"] == "2025-07-15T18:30:00Z"  # the sandbox clock
    assert [c["path"] for c in requests_of(client, client_id="demo-third-party", utility="bayview")] == [
        calls[1]["path"],
        calls[2]["path"],
    ]
    assert requests_of(client, client_id="nobody") == []
    assert len(requests_of(client, utility="bayview", limit=1)) == 1
    for bad in ({"limit": "0"}, {"limit": "many"}, {"limit": "1001"}):
        r = client.get("/sandbox-api/requests", query_string=bad, headers=H)
        assert r.status_code == 400 and r.get_json()["field"] == "limit"
    r = client.get("/sandbox-api/requests", query_string={"utility": "nowhere"}, headers=H)
    assert r.status_code == 404 and r.get_json()["field"] == "utility"


def test_a_utility_keeps_its_latest_calls(app, monkeypatch):
    monkeypatch.setattr(request_log, "KEEP", 30)
    writer = app.extensions["request_log"]
    now = app.extensions["sandbox"].clock.now()
    for batch in range(3):
        for n in range(batch * 25, batch * 25 + 25):
            request_log.record(writer, 1, None, now, "GET", f"/call/{n}", None, 200, None, 1.0)
        writer.flush()
    kept = request_log.recent(writer, 1, limit=1000)
    assert [c.path for c in kept] == [f"/call/{n}" for n in range(74, 44, -1)]  # the latest 30, newest first


def test_older_calls_are_dropped_every_prune_every_calls_and_always_before_a_read(app, monkeypatch):
    """The writer does not look for a utility's KEEP-th newest call at every batch, only once
    PRUNE_EVERY more were written; a reader drops the older ones first, so it never sees more than KEEP."""
    monkeypatch.setattr(request_log, "KEEP", 10)
    monkeypatch.setattr(request_log, "PRUNE_EVERY", 20)
    writer = app.extensions["request_log"]
    now = app.extensions["sandbox"].clock.now()
    db = app.extensions["sandbox"].db

    def write(first: int, n: int) -> int:
        for k in range(first, first + n):
            request_log.record(writer, 1, None, now, "GET", f"/call/{k}", None, 200, None, 1.0)
        writer.flush()
        with db.log_engine.connect() as c:
            return c.scalar(select(func.count()).select_from(RequestRecord).where(RequestRecord.utility_id == 1))

    before = len(request_log.recent(writer, 1, limit=1000))  # the world's calls so far, dropped to KEEP
    assert before <= 10
    assert write(0, 15) == before + 15  # 15 since the read: none dropped yet
    assert write(15, 10) == 10  # 25 since the read (>= PRUNE_EVERY): the latest KEEP left
    assert write(25, 5) == 15
    kept = request_log.recent(writer, 1, limit=1000)
    assert [c.path for c in kept] == [f"/call/{k}" for k in range(29, 19, -1)]  # the reader saw KEEP


def test_calls_made_together_are_all_kept(app):
    writer = app.extensions["request_log"]
    now = app.extensions["sandbox"].clock.now()
    go = threading.Barrier(8)

    def calls(k: int) -> None:
        go.wait()
        for n in range(50):
            request_log.record(writer, 1, None, now, "GET", f"/t{k}/{n}", None, 200, None, 1.0)

    threads = [threading.Thread(target=calls, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(request_log.recent(writer, 1, limit=1000)) == 400


def test_the_developer_portal_shows_only_its_own_calls(app, client):
    sign_up(client)
    page = text(register(client, app))
    secret = SECRET.search(page).group(1)
    mine = the_app(app)
    r = client.post("/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, auth=(mine.client_id, secret))
    assert r.status_code == 200
    own = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
    assert client.get(f"{R}/ReadServiceStatus", headers=own).status_code == 200
    assert client.get(f"{R}/Batch/Subscription/x", headers=own).status_code == 403
    demo = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-third-party", "demo-secret")
    ).get_json()
    client.get(f"{R}/Authorization?secret-of-another=1", headers={"Authorization": f"Bearer {demo['access_token']}"})
    html = text(client.get(f"/dc/bayview/developer/apps/{mine.id}"))
    log = html[html.index('id="request-log"') :]
    log = log[: log.index("</section>")]  # the request log's section only
    rows = re.findall(r"<code>(GET [^<]+)</code>", log[log.index("<table") :])
    assert rows == ["GET /Batch/Subscription/x", "GET /ReadServiceStatus"]
    assert "wrong_token_kind" in log and "secret-of-another" not in log


def test_a_call_of_an_application_gone_is_kept_and_a_reset_forgets_calls_not_written(app, client):
    writer = app.extensions["request_log"]
    now = app.extensions["sandbox"].clock.now()
    request_log.record(writer, 1, 987654, now, "DELETE", "/registration/gone", "registration", 204, None, 1.0)
    assert [c.path for c in request_log.recent(writer, 1)] == ["/registration/gone"]
    request_log.record(writer, 1, None, now, "GET", "/before-the-reset", None, 200, None, 1.0)
    assert client.post("/sandbox-api/reset", headers=H).status_code == 200
    assert request_log.recent(writer, 1) == []


def test_a_sqlite_worlds_calls_are_written_to_a_file_of_their_own(app):
    """Writing the log is no change of the world: another process's kept token and clock stay kept
    (core.changes looks at the world's file only), and the calls are in the file beside it."""
    from sandbox.core.changes import changes_of
    from sandbox.core.db import own_log_file

    writer, db = app.extensions["request_log"], app.extensions["sandbox"].db
    log_file = own_log_file(db.engine)
    assert log_file == f"{db.engine.url.database}.request-log" and db.log_engine is not db.engine
    changes = changes_of(db.engine)
    before = changes.mark()
    request_log.record(writer, 1, None, app.extensions["sandbox"].clock.now(), "GET", "/own-file", None, 200, None, 1.0)
    writer.flush()
    assert changes.mark() == before
    with sqlite3.connect(log_file) as c:
        assert c.execute("SELECT path FROM request_record").fetchall() == [("/own-file",)]
    with sqlite3.connect(db.engine.url.database) as c:  # the world's file holds no call
        assert "request_record" not in {n for (n,) in c.execute("SELECT name FROM sqlite_master")}
    assert [c.path for c in request_log.recent(writer, 1)] == ["/own-file"]


def test_a_log_file_of_another_schema_is_made_again(app):
    """A log file left by another version of the sandbox is made anew, never read as it is."""
    db = app.extensions["sandbox"].db
    with db.log_engine.begin() as c:
        c.exec_driver_sql("PRAGMA user_version = 1")
    db.log_ready()
    with db.log_engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
        assert c.scalar(select(func.count()).select_from(RequestRecord)) == 0
