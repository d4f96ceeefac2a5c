"""The ESPI fast path (web.fast_path) answers exactly as Flask does: the same requests sent with it on
and with it off (ESPI_FAST_PATH) get the same status, headers (in order), body and request-log record;
and it does answer the calls it is for (else the comparison would compare Flask with itself)."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections import Counter

import pytest
from conftest import ADMIN_KEY
from sqlalchemy.exc import OperationalError
from web.helpers import demo_consent

from sandbox.web import fast_path, resets, resources
from sandbox.web.resets import ResetGate

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
R = "/dc/bayview/espi/1_1/resource"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture
def token(client) -> dict:
    t = demo_consent(client, ADMIN_KEY, SCOPE)
    feed = client.get(f"{R}/Subscription/{t['subscription_id']}/UsagePoint", headers=_bearer(t)).get_data(True)
    t["usage_point"] = re.search(r'rel="self" href="[^"]*/UsagePoint/([0-9a-f-]{36})"', feed).group(1)  # type: ignore[union-attr]
    return t


def _bearer(t: dict, **more: str) -> dict:
    return {"Authorization": f"Bearer {t['access_token']}", **more}


def _requests(t: dict) -> list[tuple[str, str, dict]]:
    """(method, path, headers): 200s (an entry, a streamed feed, gzip, HEAD, a trailing slash, a query),
    each kind of refusal, faults, and requests the fast path leaves to Flask."""
    sub, up = t["subscription_id"], t["usage_point"]
    entry = f"{R}/Subscription/{sub}/UsagePoint/{up}"
    return [
        ("GET", entry, _bearer(t)),
        ("HEAD", entry, _bearer(t)),
        ("GET", entry + "/", _bearer(t)),
        ("GET", entry, _bearer(t, **{"Accept-Encoding": "gzip"})),
        ("GET", f"{R}/Subscription/{sub}/UsagePoint", _bearer(t)),
        ("GET", f"{R}/Subscription/{sub}/UsagePoint", _bearer(t, **{"Accept-Encoding": "gzip"})),
        ("GET", f"{R}/Subscription/{sub}/UsagePoint?published-min=2025-01-01T00:00:00Z", _bearer(t)),
        ("GET", f"{R}/Subscription/{sub}/UsagePoint?published-min=yesterday", _bearer(t)),  # 400
        ("GET", f"{R}/Subscription/{sub}/UsagePoint?depth=3", _bearer(t)),  # an unknown parameter
        ("GET", f"{R}/Batch/Subscription/{sub}", _bearer(t)),
        ("GET", entry, {}),  # 401, no token
        ("GET", entry, {"Authorization": "Bearer not-a-token"}),  # 401
        ("GET", f"{R}/ReadServiceStatus", _bearer(t)),  # 403: not this token's
        ("GET", f"{R}/Subscription/{sub}/UsagePoint/00000000-0000-0000-0000-000000000000", _bearer(t)),  # 404
        ("GET", f"{R}/Subscription/{sub}/UsagePoint/{up}/MeterReading", _bearer(t)),
        ("GET", f"{R}/Nothing", _bearer(t)),  # no such path (Flask's either way)
        ("GET", "/dc/nowhere/espi/1_1/resource/ReadServiceStatus", _bearer(t)),  # no such utility (Flask's)
        ("OPTIONS", entry, {"Origin": "https://app.example"}),  # a preflight (Flask's)
        ("DELETE", entry, _bearer(t)),  # a method the matrix refuses (Flask's)
        ("GET", entry, _bearer(t, **{"X-Sandbox-Fault": "rate-limited"})),
        ("GET", entry, _bearer(t, **{"X-Sandbox-Fault": "token-expired-early"})),
        ("GET", entry, _bearer(t, **{"X-Sandbox-Fault": "RemoveEntry:ReadingType"})),
        ("GET", entry, _bearer(t, **{"X-Sandbox-Fault": "truncated-body"})),
        ("GET", entry, _bearer(t, **{"X-Sandbox-Fault": "no-such-fault"})),  # 400 naming it
        ("GET", entry + "?x=%00", _bearer(t)),  # the input guard's (Flask's)
    ]


def _answer(client, method: str, path: str, headers: dict) -> tuple:
    r = client.open(path, method=method, headers=headers)
    return r.status_code, [(k, v) for k, v in r.headers.items() if k != "Date"], r.get_data()


def _log(client) -> Counter:
    """The request log's records (all but their time and milliseconds)."""
    r = client.get("/sandbox-api/requests", query_string={"utility": "bayview", "limit": 1000}, headers=H)
    assert r.status_code == 200
    return Counter(
        (x["method"], x["path"], x["status"], x["reason"], x["token_kind"], x["client_id"])
        for x in r.get_json()["requests"]
    )


def _both(
    app, client, requests: list[tuple[str, str, dict]], logged: bool = True
) -> tuple[list, list, Counter, Counter]:
    """The answers and new request-log records of `requests`, with the fast path on, then off."""
    fast = app.extensions["fast_path"]
    out: list = []
    for enabled in (True, False):
        fast.enabled = enabled
        before = _log(client) if logged else Counter()
        answers = [_answer(client, *req) for req in requests]
        out += [answers, (_log(client) - before) if logged else Counter()]
    fast.enabled = True
    return out[0], out[2], out[1], out[3]


def test_the_fast_path_answers_as_flask_does(app, client, token):
    requests = _requests(token)
    on, off, log_on, log_off = _both(app, client, requests)
    for req, a, b in zip(requests, on, off):
        assert a == b, req[:2]
    assert log_on == log_off
    statuses = {status for status, _, _ in on}
    assert {200, 400, 401, 403, 404, 429} <= statuses  # every kind of answer was compared


def test_the_fast_path_answers_the_calls_it_is_for(app, client, token, monkeypatch):
    """A resource GET never reaches Flask's request handling; a page, a POST and a path no route has do."""
    reached: list[str] = []
    flask_wsgi = app.extensions["fast_path"].flask

    def noting(environ, start_response):
        reached.append(environ["PATH_INFO"])
        return flask_wsgi(environ, start_response)

    monkeypatch.setattr(app.extensions["fast_path"], "flask", noting)
    assert isinstance(app.extensions["fast_path"], fast_path.FastPath)
    sub, up = token["subscription_id"], token["usage_point"]
    entry = f"{R}/Subscription/{sub}/UsagePoint/{up}"
    assert client.get(entry, headers=_bearer(token)).status_code == 200
    assert client.head(entry + "/", headers=_bearer(token)).status_code == 200
    assert client.get(entry, headers={}).status_code == 401
    assert reached == []
    assert client.get(f"{R}/Nothing", headers=_bearer(token)).status_code == 404
    assert client.get("/healthz").status_code == 200
    assert client.delete(entry, headers=_bearer(token)).status_code == 403  # the matrix, by Flask
    assert reached == [f"{R}/Nothing", "/healthz", entry]


def test_a_reset_under_way_is_answered_alike(app, client, token, monkeypatch):
    """A call that comes while this process resets the world: 503 with Retry-After, by either path."""
    monkeypatch.setattr(ResetGate.enter, "__defaults__", (0.01,))  # wait a moment, not RESET_WAIT
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    with app.extensions["reset_gate"].exclusive():
        on, off, _, _ = _both(app, client, [("GET", entry, _bearer(token))], logged=False)  # the log waits too
    assert on == off and on[0][0] == 503
    assert ("Retry-After", "1") in on[0][1]


def test_an_error_only_flasks_handlers_map_is_answered_alike(app, client, token, monkeypatch):
    """A database error a rebuild causes (raised in the view) is Flask's handler's 503 on both paths,
    and the request log holds the same record."""

    def rebuilt(call):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: usage_points"))

    monkeypatch.setattr(resources, "_place", rebuilt)
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    on, off, log_on, log_off = _both(app, client, [("GET", entry, _bearer(token))])
    assert on == off and on[0][0] == 503 and resets.busy().get_data() == on[0][2]
    assert log_on == log_off


def test_an_error_no_handler_maps_is_raised_alike(app, client, token, monkeypatch):
    """A bug in a view: raised to the test client (TESTING propagates it) by either path, and a 500 in
    the request log."""

    def broken(call):
        raise RuntimeError("a bug")

    monkeypatch.setattr(resources, "_place", broken)
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    fast = app.extensions["fast_path"]
    before = _log(client)
    for enabled in (True, False):
        fast.enabled = enabled
        with pytest.raises(RuntimeError, match="a bug"):
            client.get(entry, headers=_bearer(token))
    assert [status for _, _, status, *_ in (_log(client) - before).elements()] == [500, 500]
    monkeypatch.undo()
    assert client.get(entry, headers=_bearer(token)).status_code == 200  # and the next call is answered


def test_a_pipeline_view_wrapped_since_is_left_to_flask(app, client, token, monkeypatch):
    """A view wrapped after its route was made (as web.limits wraps a view in its limits) keeps the
    route's marks (functools.wraps copies them), yet only Flask may answer it: the wrapper must run."""
    endpoint = "resources.SubscriptionUsagePoint"
    inner = app.view_functions[endpoint]
    ran: list[str] = []

    @functools.wraps(inner)
    def wrapped(**ids):
        ran.append("wrapper")
        return inner(**ids)

    monkeypatch.setitem(app.view_functions, endpoint, wrapped)
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    assert client.get(entry, headers=_bearer(token)).status_code == 200
    assert ran == ["wrapper"]


def _wsgi_call(app, method: str, path: str, headers: dict) -> tuple[str, list, object]:
    """The app called as a WSGI server calls it: (status, headers, the iterable it returned)."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, method=method, headers=headers).get_environ()
    started: list = []
    body = app.wsgi_app(environ, lambda status, hs, exc_info=None: started.extend([status, hs]))
    return started[0], started[1], body


def test_a_whole_answer_is_returned_as_one_list_of_bytes(app, token):
    """A server writes a list at once (granian iterates anything else in Python); its Content-Length is
    its body's, and a HEAD's is the GET's with no body."""
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    status, headers, body = _wsgi_call(app, "GET", entry, _bearer(token))
    assert status == "200 OK" and isinstance(body, list) and len(body) == 1
    assert dict(headers)["Content-Length"] == str(len(body[0])) and body[0].startswith(b"<?xml")
    status, head_headers, head_body = _wsgi_call(app, "HEAD", entry, _bearer(token))
    assert status == "200 OK" and head_body == [b""]
    assert dict(head_headers)["Content-Length"] == str(len(body[0]))
    refused = _wsgi_call(app, "GET", entry, {})  # a refusal is whole too
    assert refused[0].startswith("401") and isinstance(refused[2], list)
    # a body shorter than its Content-Length (a fault's) is left to Werkzeug: a server writing a list would
    # send it whole, with its own length
    status, cut_headers, cut = _wsgi_call(app, "GET", entry, _bearer(token, **{"X-Sandbox-Fault": "truncated-body"}))
    assert not isinstance(cut, list) and int(dict(cut_headers)["Content-Length"]) > len(b"".join(cut))


def test_a_request_line_is_matched_once(app, client, token, monkeypatch):
    """The URL map's match of a path seen before is kept; a path the map refuses is matched every time."""
    entry = f"{R}/Subscription/{token['subscription_id']}/UsagePoint/{token['usage_point']}"
    matched: list[str] = []
    made = app.create_url_adapter

    def counting(req):
        if req is not None:  # None: an app context's
            matched.append(req.path)
        return made(req)

    monkeypatch.setattr(app, "create_url_adapter", counting)
    first = client.get(entry, headers=_bearer(token))
    again = client.get(entry, headers=_bearer(token))
    assert first.status_code == again.status_code == 200 and first.get_data() == again.get_data()
    assert matched.count(entry) == 1
    other = client.get(
        entry.replace(token["usage_point"], "00000000-0000-0000-0000-000000000000"), headers=_bearer(token)
    )
    assert other.status_code == 404  # another path: matched anew, answered by its own ids
    for _ in range(2):
        assert client.get(f"{R}/Nothing", headers=_bearer(token)).status_code == 404
    assert matched.count(f"{R}/Nothing") >= 2
