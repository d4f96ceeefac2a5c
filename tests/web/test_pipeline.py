"""One pipeline for an ESPI call (web.espi_http.answer): the call is a typed value (web.call.Call)
handed to its view, nothing of it is left in flask.g, every refusal is mapped in one place
(web.errors), a call that fails is still in the request log, and a customer's token is issued by one
path (services.grants) whether the token endpoint or the control API asks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ADMIN_KEY
from flask import g, request_tearing_down
from web.helpers import demo_consent
from web.oauth_steps import CALLBACK, get_code, sign_in, token

from sandbox.services import grants
from sandbox.web import resources
from sandbox.web.call import Call

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
R = "/dc/bayview/espi/1_1/resource"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
OLD_KEYS = {
    "presented",
    "profile",
    "utility",
    "utility_id",
    "slug",
    "document_faults",
    "faults_applied",
    "provisioning",
    "espi_started",
    "db_session",
}


def consent_token(client) -> dict:
    return demo_consent(client, ADMIN_KEY, SCOPE)


def requests_of(client) -> list[dict]:
    r = client.get("/sandbox-api/requests", query_string={"utility": "bayview"}, headers=H)
    assert r.status_code == 200
    return r.get_json()["requests"]


def test_an_espi_call_leaves_nothing_in_flask_g(app, client):
    t = consent_token(client)
    left: list[set[str]] = []

    def note(sender, **extra):
        left.append(set(vars(g)))

    request_tearing_down.connect(note, app)
    bearer = {"Authorization": f"Bearer {t['access_token']}"}
    for path, status in (
        (f"/Subscription/{t['subscription_id']}/UsagePoint", 200),
        ("/ReadServiceStatus", 403),
        (f"/Batch/Subscription/{t['subscription_id']}", 200),
        ("/Nothing", 404),
    ):
        assert client.get(R + path, headers=bearer).status_code == status, path
    request_tearing_down.disconnect(note, app)
    assert len(left) >= 4 and all(not (keys & OLD_KEYS) for keys in left), left


def test_the_view_gets_the_call_made_once(client, monkeypatch):
    t = consent_token(client)
    seen: list[Call] = []
    real = resources._place

    def spy(call: Call):
        seen.append(call)
        return real(call)

    monkeypatch.setattr(resources, "_place", spy)
    r = client.get(
        f"{R}/Subscription/{t['subscription_id']}/UsagePoint", headers={"Authorization": f"Bearer {t['access_token']}"}
    )
    assert r.status_code == 200
    (call,) = seen
    # who, where, when and with which profile, on the one value the view was handed
    assert (call.resource, call.method, call.slug, call.utility.slug) == (
        "SubscriptionUsagePoints",
        "GET",
        "bayview",
        "bayview",
    )
    assert call.caller.kind == "customer" and call.caller.application.id is not None
    assert call.profile is not None and call.faults == () and call.host_url == "http://localhost/"
    assert call.now == client.application.extensions["sandbox"].clock.now()


def test_a_call_that_fails_in_its_view_is_logged_with_its_caller(app, client, monkeypatch):
    t = consent_token(client)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a view")

    monkeypatch.setattr(resources.docs, "usage_entries", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answered as a 500, as a server does
    r = client.get(
        f"{R}/Subscription/{t['subscription_id']}/UsagePoint", headers={"Authorization": f"Bearer {t['access_token']}"}
    )
    assert r.status_code == 500
    last = requests_of(client)[0]
    assert (last["status"], last["token_kind"], last["client_id"]) == (500, "customer", "demo-third-party")
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # CORS on every answer under the resource root


def test_a_refused_call_is_answered_and_logged_once(client):
    t = consent_token(client)
    r = client.get(
        f"{R}/Subscription/{t['subscription_id']}/UsagePoint?published-min=yesterday",
        headers={"Authorization": f"Bearer {t['access_token']}"},
    )
    assert r.status_code == 400 and r.get_json()["reason"] == "bad_query_parameter"
    assert r.headers["X-Sandbox-Reason"] == "bad_query_parameter"
    calls = [c for c in requests_of(client) if "published-min" in c["path"]]
    assert [(c["status"], c["reason"], c["token_kind"]) for c in calls] == [(400, "bad_query_parameter", "customer")]


def test_an_unknown_utility_under_espi_is_a_json_404(client):
    r = client.get("/dc/nowhere/espi/1_1/resource/ReadServiceStatus", headers={"Authorization": "Bearer x"})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert "nowhere" in r.get_json()["error_description"]


def test_fault_answers_name_the_utility_in_their_challenge(client):
    t = consent_token(client)
    r = client.get(
        f"{R}/Subscription/{t['subscription_id']}/UsagePoint",
        headers={"Authorization": f"Bearer {t['access_token']}", "X-Sandbox-Fault": "token-expired-early"},
    )
    assert r.status_code == 401 and r.headers["X-Sandbox-Fault-Applied"] == "token-expired-early"
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="Bayview')


@pytest.mark.parametrize("via", ["token endpoint", "control API"])
def test_a_customer_token_is_issued_by_one_path(client, monkeypatch, via):
    issued: list[str] = []
    real = grants.issue_customer_token

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        issued.append(found[0]["access_token"])
        return found

    monkeypatch.setattr(grants, "issue_customer_token", spy)
    if via == "control API":
        t = consent_token(client)
    else:
        sign_in(client)
        r = token(client, grant_type="authorization_code", code=get_code(client, scope=SCOPE), redirect_uri=CALLBACK)
        assert r.status_code == 200, r.get_json()
        t = r.get_json()
    assert issued == [t["access_token"]]
    assert t["resourceURI"].endswith(f"/Batch/Subscription/{t['resourceURI'].rsplit('/', 1)[1]}")
    ok = client.get(
        t["resourceURI"].removeprefix("http://localhost"), headers={"Authorization": f"Bearer {t['access_token']}"}
    )
    assert ok.status_code == 200


def test_faults_and_the_pipeline_import_no_cycle():
    """web.faults answers refusals through web.errors: importing it does not pull the pipeline in."""
    code = (
        "import sys, sandbox.web.faults, sandbox.web.errors, sandbox.web.call; "
        "assert 'sandbox.web.espi_http' not in sys.modules, 'web.faults imports the pipeline'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def mapping_app():
    """A bare Flask app with the one mapping of sandbox exceptions (web.errors.init_app)."""
    from flask import Flask

    from sandbox.core.errors import ControlError, FaultAnswer, NotFound, QueryError, Refused
    from sandbox.web import errors

    app = Flask(__name__)
    errors.init_app(app)
    raised = {
        "refused": Refused("name: too long", "name"),
        "query": QueryError("depth", "must be 1 or 2"),
        "busy": FaultAnswer(503, "temporarily_unavailable", "down on purpose", "fault:server-error", 2),
        "control": ControlError(409, "conflict", "the world says no", "slug"),
        "missing": NotFound("x"),
    }

    @app.route("/sandbox-api/<what>")
    @app.route("/dc/bayview/espi/1_1/resource/<what>")
    @app.route("/page/<what>")
    def boom(what):
        raise raised[what]

    return app


def test_every_sandbox_exception_is_answered_by_what_it_carries():
    c = mapping_app().test_client()
    r = c.get("/sandbox-api/refused")  # an unconverted service refusal is a 400 naming the field, not a 500
    assert r.status_code == 400 and r.get_json() == {
        "error": "invalid_request",
        "error_description": "name: too long",
        "field": "name",
    }
    r = c.get("/sandbox-api/control")
    assert r.status_code == 409 and r.get_json()["field"] == "slug" and r.headers["Cache-Control"] == "no-store"
    r = c.get("/dc/bayview/espi/1_1/resource/query")
    assert r.status_code == 400 and r.headers["X-Sandbox-Reason"] == "bad_query_parameter"
    assert r.get_json()["error_description"] == "query parameter depth: must be 1 or 2"
    r = c.get("/dc/bayview/espi/1_1/resource/busy")
    assert (r.status_code, r.headers["Retry-After"], r.get_json()["reason"]) == (503, "2", "fault:server-error")
    r = c.get("/dc/bayview/espi/1_1/resource/missing")  # the path, never what was looked for
    assert r.status_code == 404 and r.get_json()["error_description"].endswith("/resource/missing")


def test_a_sandbox_exception_on_a_page_is_still_a_bug():
    app = mapping_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/page/refused").status_code == 500


def test_a_feed_that_opens_its_session_as_it_streams_gives_it_back(app, client):
    """The data custodian's collections find their trees while the document streams: the session the
    stream opened is closed when the stream ends (else the pool runs dry after a few calls)."""
    import base64

    basic = "Basic " + base64.b64encode(b"data-custodian:data-custodian-secret").decode()
    r = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
    )
    bearer = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
    pool = app.extensions["sandbox"].db.engine.pool
    for name in ("UsagePoint", "MeterReading", "ReadingType"):
        r = client.get(f"{R}/{name}", headers=bearer)
        assert r.status_code == 200 and b"<entry" in r.get_data(), name
        assert pool.checkedout() == 0, name
