"""The control API through the test client: every operation of its table does what it says,
and every refusal (no key, a bad body, an unknown thing, a state that forbids it) names its
cause and changes nothing. The OpenAPI document is valid and lists exactly the routes served."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import ADMIN_KEY as KEY
from conftest import FIXED_NOW
from jsonschema import Draft202012Validator
from markupsafe import escape
from openapi_spec_validator import validate
from sqlalchemy import func, select
from web.helpers import utility_count

from sandbox import create_app
from sandbox.core.models import Application, Authorization, Customer, OAuthToken
from sandbox.web.control import openapi
from sandbox.web.control.operations import OPERATIONS

H = {"Authorization": f"Bearer {KEY}"}
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
EXERCISED: set[str] = set()


BY_ID = {op.operation_id: op for op in OPERATIONS}


def call(client, method: str, path: str, operation: str, **kw):
    """A control-API call; a 2xx answer is checked against the response schema its document gives."""
    EXERCISED.add(operation)
    r = client.open("/sandbox-api" + path, method=method, headers=kw.pop("headers", H), **kw)
    schema = BY_ID[operation].response
    if 200 <= r.status_code < 300 and schema is not None:
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(r.get_json())]
        assert not errors, (operation, errors)
    return r


def refused(r, status: int, error: str, field: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.data[:300])
    body = r.get_json()
    assert body["error"] == error and body["error_description"]
    assert body.get("field") == field, body


def counts(app) -> tuple[int, ...]:
    with app.extensions["sandbox"].db.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Customer, Authorization, OAuthToken))


def authorize(client, **over) -> dict:
    body = {"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE, **over}
    r = call(client, "POST", "/authorizations", "create_authorization", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def local(uri: str) -> str:
    return uri.split("localhost", 1)[1]


def test_every_call_needs_the_key_but_the_document(client):
    for op in OPERATIONS:
        path = (
            op.path.replace("{authorization_id}", "x")
            .replace("{slug}", "bayview")
            .replace("{username}", "demo")
            .replace("{client_id}", "demo-third-party")
            .replace("{run_id}", "no-such-run")
        )
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + KEY}):
            r = client.open("/sandbox-api" + path, method=op.method, headers=headers, json={})
            if op.open:  # a run's id is its key: an unknown one is not found (a bad body refused first), whoever asks
                assert r.status_code == ((400 if op.body else 404) if "{run_id}" in op.path else 200)
            else:
                refused(
                    r, 401, "invalid_token" if headers.get("Authorization", "").startswith("Bearer") else "unauthorized"
                )
                assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_document_is_valid_and_matches_the_routes(app, client):
    r = call(client, "GET", "/openapi.json", "openapi", headers={})
    doc = r.get_json()
    validate(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(op.method, op.path) for op in OPERATIONS}
    served = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/sandbox-api/")}
    assert {"/sandbox-api" + op.rule for op in OPERATIONS} <= served
    page = client.get("/sandbox-api/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "`" not in html  # the table's `code` is marked up on the page, never shown with its backticks
    for op in OPERATIONS:
        assert f'id="{op.operation_id}"' in html
        body = openapi.example_body(op)
        if body is not None:  # each example a body the call takes, shown as a curl line to copy
            assert not list(Draft202012Validator(op.body).iter_errors(body)), op.operation_id
            assert escape(json.dumps(body)) in html, op.operation_id


def test_the_clock(client, clock):
    r = call(client, "GET", "/clock", "get_clock")
    assert r.get_json() == {"now": "2025-07-15T18:30:00Z", "frozen": True, "offset_seconds": 0.0}
    r = call(client, "POST", "/clock", "set_clock", json={"advance": "P1DT2H"})
    assert r.get_json()["now"] == "2025-07-16T20:30:00Z" and clock.now() == FIXED_NOW + dt.timedelta(hours=26)
    assert call(client, "POST", "/clock", "set_clock", json={"advance": 60}).get_json()["now"] == "2025-07-16T20:31:00Z"
    assert (
        call(client, "POST", "/clock", "set_clock", json={"set": "2025-08-01T00:00:00+02:00"}).get_json()["now"]
        == "2025-07-31T22:00:00Z"
    )
    r = call(client, "POST", "/clock", "set_clock", json={"resume": True}).get_json()
    assert r["frozen"] is False
    assert call(client, "POST", "/clock", "set_clock", json={"freeze": True}).get_json()["frozen"] is True


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body"),
        ({"advance": "P1D", "freeze": True}, "body"),
        ({"advance": "P1M"}, "advance"),
        ({"advance": "soon"}, "advance"),
        ({"advance": -5}, "advance"),
        ({"advance": True}, "advance"),
        ({"set": "2025-08-01T00:00:00"}, "set"),
        ({"set": "tomorrow"}, "set"),
        ({"freeze": False}, "freeze"),
        ({"stop": True}, "stop"),
        ({"advance": 1e300}, "advance"),
        ({"advance": "P999999999999D"}, "advance"),
        ({"set": "9999-12-31T23:00:00-05:00"}, "set"),
        ({"set": "1900-01-01T00:00:00Z"}, "set"),
    ],
)
def test_a_bad_clock_change_names_the_field_and_moves_nothing(client, clock, body, field):
    r = call(client, "POST", "/clock", "set_clock", json=body)
    refused(r, 400, "invalid_request", field)
    assert clock.now() == FIXED_NOW


@pytest.mark.parametrize("raw", ['{"advance": NaN}', '{"advance": Infinity}', '{"advance": -Infinity}'])
def test_a_number_that_is_not_finite_moves_nothing(client, clock, raw):
    r = call(client, "POST", "/clock", "set_clock", data=raw, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] in ("advance", "body")
    assert clock.now() == FIXED_NOW and call(client, "GET", "/clock", "get_clock").status_code == 200


def test_not_json_is_400(client):
    refused(
        call(client, "POST", "/clock", "set_clock", data="{advance", content_type="application/json"),
        400,
        "invalid_request",
        "body",
    )


def test_authorize_without_the_browser_gives_what_the_token_endpoint_gives(app, client):
    t = authorize(client)
    assert set(t) >= {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "scope",
        "resourceURI",
        "authorizationURI",
        "authorization_id",
    }
    assert t["resourceURI"].endswith(f"/Batch/Subscription/{t['authorization_id']}")
    r = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert r.status_code == 200 and b"<feed" in r.data[:400]
    # the refresh token works at the real token endpoint
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": t["refresh_token"]},
        auth=("demo-third-party", "demo-secret"),
    )
    assert r.status_code == 200 and r.get_json()["resourceURI"] == t["resourceURI"]


def test_authorize_some_usage_points(app, client):
    with app.extensions["sandbox"].db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        first = demo.usage_points[0].uuid
    t = authorize(client, usage_points=[first])
    tree = local(t["resourceURI"]).replace("Batch/Subscription", "Subscription")
    r = client.get(tree + "/UsagePoint", headers={"Authorization": f"Bearer {t['access_token']}"})
    assert r.data.count(b"<entry") == 1 and first.encode() in r.data


def test_authorize_shares_what_the_consent_page_offers(app, client):
    """By default the usage points of the scope's commodities, as the consent page lists them; another
    commodity's usage point is refused by name, and a customer with none of them has nothing to share."""
    with app.extensions["sandbox"].db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        kinds = {up.uuid: up.commodity for up in demo.usage_points}
        gas = next(uuid for uuid, kind in kinds.items() if kind == "gas")
        others = s.scalars(select(Customer).where(Customer.utility.has(slug="bayview"), Customer.number > 0)).all()
        no_gas = next(c.username for c in others if {up.commodity for up in c.usage_points} == {"electricity"})
    t = authorize(client)  # SCOPE is electricity (FB 4)
    tree = local(t["resourceURI"]).replace("Batch/Subscription", "Subscription")
    r = client.get(tree + "/UsagePoint", headers={"Authorization": f"Bearer {t['access_token']}"})
    shared = {uuid for uuid in kinds if uuid.encode() in r.data}
    assert shared == {uuid for uuid, kind in kinds.items() if kind == "electricity"} and gas not in shared
    before = counts(app)
    body = {"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE}
    refused(
        call(client, "POST", "/authorizations", "create_authorization", json={**body, "usage_points": [gas]}),
        400,
        "invalid_request",
        "usage_points",
    )
    gas_only = SCOPE.replace("FB=1_3_4_5_", "FB=1_3_4_10_")
    refused(
        call(
            client,
            "POST",
            "/authorizations",
            "create_authorization",
            json={**body, "customer": no_gas, "scope": gas_only},
        ),
        409,
        "nothing_to_share",
        "scope",
    )
    assert counts(app) == before


@pytest.mark.parametrize(
    "over, status, error, field",
    [
        ({"utility": "nowhere"}, 404, "not_found", "utility"),
        ({"customer": "nobody"}, 404, "not_found", "customer"),
        ({"client_id": "nobody"}, 404, "not_found", "client_id"),
        ({"client_id": "upload-client"}, 404, "not_found", "client_id"),  # not a third party
        ({"scope": "FB=99"}, 400, "invalid_scope", "scope"),
        ({"usage_points": ["not-one-of-hers"]}, 400, "invalid_request", "usage_points"),
        ({"usage_points": []}, 400, "invalid_request", "usage_points"),
        ({"extra": 1}, 400, "invalid_request", "extra"),
        ({"scope": None}, 400, "invalid_request", "scope"),
    ],
)
def test_a_refused_authorization_names_its_cause_and_makes_nothing(app, client, over, status, error, field):
    before = counts(app)
    body = {"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE, **over}
    refused(call(client, "POST", "/authorizations", "create_authorization", json=body), status, error, field)
    assert counts(app) == before


def test_a_blocked_third_party_cannot_be_authorized(app, client):
    r = call(
        client,
        "POST",
        "/utilities/bayview/third-parties/demo-third-party/status",
        "set_third_party_status",
        json={"status": "blocked"},
    )
    assert r.get_json() == {"client_id": "demo-third-party", "status": "blocked"}
    before = counts(app)
    refused(
        call(
            client,
            "POST",
            "/authorizations",
            "create_authorization",
            json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": SCOPE},
        ),
        409,
        "blocked",
    )
    assert counts(app) == before
    refused(
        call(
            client,
            "POST",
            "/utilities/bayview/third-parties/demo-third-party/status",
            "set_third_party_status",
            json={"status": "blocked"},
        ),
        409,
        "conflict",
    )
    refused(
        call(
            client,
            "POST",
            "/utilities/bayview/third-parties/demo-third-party/status",
            "set_third_party_status",
            json={"status": "gone"},
        ),
        400,
        "invalid_request",
        "status",
    )
    refused(
        call(
            client,
            "POST",
            "/utilities/bayview/third-parties/nobody/status",
            "set_third_party_status",
            json={"status": "blocked"},
        ),
        404,
        "not_found",
        "client_id",
    )


def test_status_change_stops_tokens_and_is_recorded_as_staff_changes_are(app, client):
    t = authorize(client)
    call(
        client,
        "POST",
        "/utilities/bayview/third-parties/demo-third-party/status",
        "set_third_party_status",
        json={"status": "on_hold"},
    )
    r = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert r.status_code == 401 and r.headers["X-Sandbox-Reason"] == "third_party_on_hold"
    call(
        client,
        "POST",
        "/utilities/bayview/third-parties/demo-third-party/status",
        "set_third_party_status",
        json={"status": "production"},
    )
    r = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert r.status_code == 200
    with app.extensions["sandbox"].db.sessions() as s:
        app_row = s.scalars(
            select(Application).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug="bayview")
            )
        ).one()
        assert app_row.status == "production"


def test_revoke_and_expire_end_access_with_their_reasons(client):
    a, b = authorize(client), authorize(client)
    r = call(client, "POST", f"/authorizations/{a['authorization_id']}/revoke", "revoke_authorization")
    assert r.get_json()["state"] == "revoked" and r.get_json()["status_reason"] == "revoked by the customer"
    got = client.get(local(a["resourceURI"]), headers={"Authorization": f"Bearer {a['access_token']}"})
    assert got.headers["X-Sandbox-Reason"] == "authorization_revoked_by_customer"
    r = call(client, "POST", f"/authorizations/{b['authorization_id']}/expire", "expire_authorization")
    assert r.get_json()["state"] == "expired"
    got = client.get(local(b["resourceURI"]), headers={"Authorization": f"Bearer {b['access_token']}"})
    assert got.headers["X-Sandbox-Reason"] == "authorization_expired"
    for op, name in (("revoke", "revoke_authorization"), ("expire", "expire_authorization")):
        refused(call(client, "POST", f"/authorizations/{a['authorization_id']}/{op}", name), 409, "conflict")
        refused(call(client, "POST", f"/authorizations/no-such/{op}", name), 404, "not_found", "authorization_id")


def test_expiring_an_authorization_with_a_move_ahead_says_expired(client, clock):
    t = authorize(client)
    day = clock.today("America/Los_Angeles") + dt.timedelta(days=3)
    call(client, "POST", "/utilities/bayview/customers/demo/move-out", "move_out", json={"date": day.isoformat()})
    call(client, "POST", f"/authorizations/{t['authorization_id']}/expire", "expire_authorization")
    got = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert got.headers["X-Sandbox-Reason"] == "authorization_expired"


def test_move_out(client, clock):
    t = authorize(client)
    day = clock.today("America/Los_Angeles") + dt.timedelta(days=3)
    r = call(client, "POST", "/utilities/bayview/customers/demo/move-out", "move_out", json={"date": day.isoformat()})
    assert r.status_code == 200 and r.get_json()["authorizations_ended"] >= 1
    clock.advance(dt.timedelta(days=4))
    got = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert got.headers["X-Sandbox-Reason"] == "customer_moved_out"


@pytest.mark.parametrize(
    "path, body, status, field",
    [
        ("/utilities/bayview/customers/demo/move-out", {"date": "2020-01-01"}, 400, "date"),
        ("/utilities/bayview/customers/demo/move-out", {"date": "soon"}, 400, "date"),
        ("/utilities/bayview/customers/demo/move-out", {}, 400, "date"),
        ("/utilities/bayview/customers/nobody/move-out", {"date": "2025-07-20"}, 404, "username"),
        ("/utilities/nowhere/customers/demo/move-out", {"date": "2025-07-20"}, 404, "slug"),
    ],
)
def test_a_bad_move_changes_nothing(app, client, path, body, status, field):
    with app.extensions["sandbox"].db.sessions() as s:
        moves = dict(
            s.execute(select(Customer.id, Customer.service_end).where(Customer.service_end.is_not(None))).all()
        )
    assert len(moves) == 1  # the named identity moving.out's, scheduled at seed
    refused(
        call(client, "POST", path, "move_out", json=body),
        status,
        "not_found" if status == 404 else "invalid_request",
        field,
    )
    with app.extensions["sandbox"].db.sessions() as s:
        assert (
            dict(s.execute(select(Customer.id, Customer.service_end).where(Customer.service_end.is_not(None))).all())
            == moves
        )


def test_seed_more_customers_and_reset(app, client, clock):
    before = counts(app)
    r = call(client, "POST", "/seed", "seed", json={"utility": "bayview", "customers": 2})
    names = r.get_json()["usernames"]
    assert len(names) == 2 and counts(app)[0] == before[0] + 2
    # the new customers can sign in and be authorized like any other
    authorize(client, customer=names[0])
    refused(
        call(client, "POST", "/seed", "seed", json={"utility": "bayview", "customers": 0}),
        400,
        "invalid_request",
        "customers",
    )
    refused(
        call(client, "POST", "/seed", "seed", json={"utility": "nowhere", "customers": 1}), 404, "not_found", "utility"
    )
    call(client, "POST", "/clock", "set_clock", json={"advance": "P2D"})
    r = call(client, "POST", "/reset", "reset")
    assert r.status_code == 200 and r.get_json()["seed"] == 42
    assert counts(app) == before  # the seed's customers and its one demo authorization, nothing made since
    assert not clock.frozen and abs(clock.now() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    assert client.get("/dc/bayview/").status_code == 200


def test_seeding_gives_the_customers_a_larger_seed_would(tmp_path, clock):
    small = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "CUSTOMERS": 1, "ADMIN_KEY": KEY}, clock=clock
    )
    names = call(small.test_client(), "POST", "/seed", "seed", json={"utility": "bayview", "customers": 2}).get_json()[
        "usernames"
    ]
    large = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "CUSTOMERS": 3}, clock=clock)
    for a in (small, large):
        with a.extensions["sandbox"].db.sessions() as s:
            rows = s.execute(
                select(Customer.username, Customer.account_number, Customer.uuid)
                .where(Customer.utility.has(slug="bayview"))
                .order_by(Customer.number)
            ).all()
        a.extensions["rows"] = rows
        a.extensions["sandbox"].db.engine.dispose()
    assert small.extensions["rows"] == large.extensions["rows"]
    assert [r[0] for r in large.extensions["rows"][2:]] == names


def test_explain_scope(client):
    r = call(client, "GET", "/scope/explain?scope=FB=1_3_4_5_15;IntervalDuration=3600&utility=bayview", "explain_scope")
    body = r.get_json()
    assert body["valid"] is True and [b["id"] for b in body["function_blocks"]] == [1, 3, 4, 5, 15]
    assert body["function_blocks"][2]["name"] == "Interval Metering"
    assert "Monthly bill summaries" in body["plain"]
    r = call(client, "GET", "/scope/explain?scope=FB=1_3;IntervalDuration=soon", "explain_scope").get_json()
    assert (
        r["valid"] is False
        and r["error"]["error"] == "invalid_scope"
        and "IntervalDuration" in r["error"]["error_description"]
    )
    refused(call(client, "GET", "/scope/explain", "explain_scope"), 400, "invalid_request", "scope")
    refused(
        call(client, "GET", "/scope/explain?scope=FB=1&utility=nowhere", "explain_scope"), 404, "not_found", "utility"
    )


def test_the_request_log_lists_resource_calls(client):
    t = authorize(client)
    client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    calls = call(client, "GET", "/requests?client_id=demo-third-party", "list_requests").get_json()["requests"]
    assert calls[0]["path"] == local(t["resourceURI"]) and calls[0]["status"] == 200  # the test client's host


def test_unknown_paths_and_methods_are_json(client):
    refused(client.get("/sandbox-api/nothing", headers=H), 404, "not_found")
    r = client.put("/sandbox-api/clock", headers=H)
    refused(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"


def test_notifications_listed_filtered_and_sent_again(app, client):
    from live.third_party import ThirdParty

    with ThirdParty() as tp:
        r = call(
            client,
            "PUT",
            "/utilities/bayview/third-parties/demo-third-party/notify-uri",
            "set_third_party_notify_uri",
            json={"notify_uri": tp.url},
        )
        assert r.get_json() == {"client_id": "demo-third-party", "notify_uri": tp.url}
        authorize(client)
        (note,) = call(
            client,
            "GET",
            "/notifications?client_id=demo-third-party&utility=bayview&state=pending",
            "list_notifications",
        ).get_json()["notifications"]
        assert note["event"] == "authorized" and note["deliveries"] == [] and note["attempts"] == 0
        assert call(client, "GET", "/notifications?state=delivered", "list_notifications").get_json() == {
            "notifications": []
        }
        assert call(client, "GET", "/notifications?client_id=nobody", "list_notifications").get_json() == {
            "notifications": []
        }
        sent = call(client, "POST", f"/notifications/{note['id']}/send", "send_notification").get_json()
        assert sent["state"] == "delivered" and sent["deliveries"][0]["status"] == 200 and len(tp.received) == 1
    refused(call(client, "GET", "/notifications?utility=atlantis", "list_notifications"), 404, "not_found", "utility")
    refused(call(client, "GET", "/notifications?state=lost", "list_notifications"), 400, "invalid_request", "state")
    for missing in ("999999", "abc"):
        refused(
            call(client, "POST", f"/notifications/{missing}/send", "send_notification"),
            404,
            "not_found",
            "notification_id",
        )


def test_a_listener_takes_the_next_notifications_and_reports_what_it_forwarded(app, client):
    """The calls `green-button-sandbox listen` makes (tests/live/test_listen.py runs the command)."""
    quiet = call(client, "GET", "/notifications/next?wait=0", "next_notifications").get_json()
    assert quiet["notifications"] == []  # from now on: none made since
    call(
        client,
        "PUT",
        "/utilities/bayview/third-parties/demo-third-party/notify-uri",
        "set_third_party_notify_uri",
        json={"notify_uri": "http://127.0.0.1:9/closed"},
    )
    authorize(client)
    got = call(client, "GET", f"/notifications/next?after={quiet['after']}&wait=0", "next_notifications").get_json()
    (note,) = got["notifications"]
    assert note["event"] == "authorized" and got["after"] == note["id"]
    assert (
        call(client, "GET", f"/notifications/next?after={got['after']}&wait=0", "next_notifications").get_json()[
            "notifications"
        ]
        == []
    )
    report = {"to": "http://127.0.0.1:3000/notify", "status": 204, "milliseconds": 12, "answer": ""}
    done = call(client, "POST", f"/notifications/{note['id']}/forwarded", "forwarded_notification", json=report)
    assert done.get_json()["state"] == "delivered"
    assert done.get_json()["deliveries"][-1]["uri"] == "forwarded to http://127.0.0.1:3000/notify"
    refused(
        call(client, "POST", "/notifications/999999/forwarded", "forwarded_notification", json=report),
        404,
        "not_found",
        "notification_id",
    )
    bad = call(client, "POST", f"/notifications/{note['id']}/forwarded", "forwarded_notification", json={"to": "x"})
    refused(bad, 400, "invalid_request", "status")


def test_a_bad_notify_uri_is_refused_and_changes_nothing(app, client):
    path = "/utilities/bayview/third-parties/demo-third-party/notify-uri"
    for body, field in (
        ({"notify_uri": "ftp://example.com/x"}, "notify_uri"),
        ({"notify_uri": 5}, "notify_uri"),
        ({}, "notify_uri"),
    ):
        refused(call(client, "PUT", path, "set_third_party_notify_uri", json=body), 400, "invalid_request", field)
    refused(
        call(
            client,
            "PUT",
            "/utilities/bayview/third-parties/nobody/notify-uri",
            "set_third_party_notify_uri",
            json={"notify_uri": None},
        ),
        404,
        "not_found",
        "client_id",
    )
    with app.extensions["sandbox"].db.sessions() as s:
        assert s.scalars(select(Application.notify_uri).where(Application.client_id == "demo-third-party")).all() == [
            None
        ] * utility_count(app)


def test_behaviour_profiles_listed_chosen_and_refused(app, client):
    listed = call(client, "GET", "/profiles", "list_profiles").get_json()
    assert listed["utilities"]["trillium"] == "ontario" and "async-batch" in {p["name"] for p in listed["profiles"]}
    r = call(
        client,
        "PUT",
        "/utilities/bayview/third-parties/demo-third-party/profile",
        "set_third_party_profile",
        json={"profile": "picky-dates"},
    )
    body = r.get_json()
    assert body["profile"] == "picky-dates" and body["effective"]["knobs"]["filters"]["ignore_updated_min"] is True
    for bad in ({"profile": "nope"}, {"profile": 3}, {}):
        refused(
            call(
                client,
                "PUT",
                "/utilities/bayview/third-parties/demo-third-party/profile",
                "set_third_party_profile",
                json=bad,
            ),
            400,
            "invalid_request",
            "profile",
        )
    refused(
        call(
            client,
            "PUT",
            "/utilities/bayview/third-parties/nobody/profile",
            "set_third_party_profile",
            json={"profile": None},
        ),
        404,
        "not_found",
        "client_id",
    )

    def chosen():
        with app.extensions["sandbox"].db.sessions() as s:
            return dict(
                s.execute(
                    select(Application.utility_id, Application.profile).where(
                        Application.client_id == "demo-third-party"
                    )
                ).all()
            )

    assert sorted(chosen().values(), key=str) == [None] * (utility_count(app) - 1) + [
        "picky-dates"
    ]  # refused: nothing changed
    r = call(
        client,
        "PUT",
        "/utilities/bayview/third-parties/demo-third-party/profile",
        "set_third_party_profile",
        json={"profile": None},
    )
    assert r.get_json()["profile"] is None and r.get_json()["effective"]["name"] == "standard"
    assert set(chosen().values()) == {None}


def test_fault_scenarios_listed_set_and_refused(app, client):
    listed = call(client, "GET", "/faults", "list_faults").get_json()
    assert listed["header_allowed"] is True and {"server-error", "RemoveEntry", "late-revision"} <= {
        f["name"] for f in listed["faults"]
    }
    assert all(f["robust_client"] for f in listed["faults"])
    r = call(
        client,
        "PUT",
        "/utilities/bayview/third-parties/demo-third-party/faults",
        "set_third_party_faults",
        json={"faults": ["slow:0.1", "RemoveEntry:ReadingType"]},
    )
    assert r.get_json() == {"client_id": "demo-third-party", "faults": ["slow:0.1", "RemoveEntry:ReadingType"]}
    t = authorize(client)
    r = call(
        client,
        "PUT",
        f"/authorizations/{t['authorization_id']}/faults",
        "set_authorization_faults",
        json={"faults": ["rate-limited"]},
    )
    assert r.get_json() == {"authorization_id": t["authorization_id"], "faults": ["rate-limited"]}
    got = client.get(local(t["resourceURI"]), headers={"Authorization": f"Bearer {t['access_token']}"})
    assert (
        got.status_code == 429
        and got.headers["X-Sandbox-Fault-Applied"] == "slow:0.1, RemoveEntry:ReadingType, rate-limited"
    )
    for body in ({"faults": ["nope"]}, {"faults": ["slow:99"]}, {"faults": "slow"}, {}):
        refused(
            call(
                client,
                "PUT",
                "/utilities/bayview/third-parties/demo-third-party/faults",
                "set_third_party_faults",
                json=body,
            ),
            400,
            "invalid_request",
            "faults",
        )
    refused(
        call(client, "PUT", "/authorizations/nothing/faults", "set_authorization_faults", json={"faults": []}),
        404,
        "not_found",
        "authorization_id",
    )
    with app.extensions["sandbox"].db.sessions() as s:  # the refused calls changed nothing
        assert s.scalars(
            select(Application.faults).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug="bayview")
            )
        ).one() == ["slow:0.1", "RemoveEntry:ReadingType"]


def _introspect(client, token: str, credentials=("demo-third-party", "demo-secret"), **extra):
    r = client.post("/dc/bayview/oauth/introspect", data={"token": token, **extra}, auth=credentials)
    assert r.status_code == 200, r.data[:300]
    return r.get_json()


def test_introspection_follows_the_clock_and_the_owner(client, clock):
    t = authorize(client)
    active = _introspect(client, t["access_token"])
    assert active["active"] is True and active["client_id"] == "demo-third-party" and active["scope"] == SCOPE
    assert active["authorization_id"] == t["authorization_id"] and active["sub"]
    assert active["exp"] - active["iat"] == t["expires_in"]
    assert _introspect(client, t["refresh_token"], token_type_hint="refresh_token")["active"] is True
    # another client learns nothing of it
    assert _introspect(client, t["access_token"], ("data-custodian", "data-custodian-secret")) == {"active": False}
    assert _introspect(client, "no-such-token") == {"active": False}
    clock.advance(t["expires_in"] + 1)
    assert _introspect(client, t["access_token"]) == {"active": False}
    assert _introspect(client, t["refresh_token"])["active"] is True  # the refresh token lives on
    call(client, "POST", f"/authorizations/{t['authorization_id']}/revoke", "revoke_authorization")
    assert _introspect(client, t["refresh_token"]) == {"active": False}
    r = client.post("/dc/bayview/oauth/introspect", data={"token": t["access_token"]})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"


def test_data_quality_round_trip(client):
    """(tests/web/test_data_quality.py has the rest: the documents following, every refusal.)"""
    r = call(
        client,
        "PUT",
        "/utilities/bayview/customers/demo/data-quality",
        "set_data_quality",
        json={"zero_share": 0.1, "outage_days": ["2025-07-04"]},
    )
    assert r.status_code == 200 and r.get_json()["zero_share"] == 0.1
    r = call(client, "GET", "/utilities/bayview/customers/demo/data-quality", "get_data_quality")
    assert r.get_json()["outage_days"] == ["2025-07-04"]
    refused(
        call(
            client,
            "PUT",
            "/utilities/bayview/customers/demo/data-quality",
            "set_data_quality",
            json={"zero_share": 0.9},
        ),
        400,
        "invalid_request",
        "zero_share",
    )


def test_private_sandboxes_are_made_listed_inspected_extended_and_deleted(client):
    """Each sandbox operation once, its answer checked against the document (tests/web/test_sandboxes.py
    holds the rest)."""
    made = call(client, "POST", "/sandboxes", "create_sandbox", json={"label": "ci", "customers": 0})
    assert made.status_code == 201
    sandbox_id = made.get_json()["id"]
    listed = call(client, "GET", "/sandboxes", "list_sandboxes")
    assert [s["id"] for s in listed.get_json()["sandboxes"]] == [sandbox_id]
    assert call(client, "GET", f"/sandboxes/{sandbox_id}", "get_sandbox").get_json()["label"] == "ci"
    extended = call(client, "POST", f"/sandboxes/{sandbox_id}/extend", "extend_sandbox", json={"ttl": "P1D"})
    assert extended.status_code == 200
    assert call(client, "DELETE", f"/sandboxes/{sandbox_id}", "delete_sandbox").status_code == 204
    refused(call(client, "GET", f"/sandboxes/{sandbox_id}", "get_sandbox"), 404, "not_found")


def test_a_conformance_run_is_started_read_and_shown(client):
    checks = call(client, "GET", "/conformance/checks", "list_conformance_checks", headers={}).get_json()["checks"]
    assert checks and all({"name", "arranges", "passes", "why", "window"} <= set(c) for c in checks)
    body = {"utility": "bayview", "client_id": "demo-third-party", "checks": [checks[0]["name"]], "timeout": 10}
    r = call(client, "POST", "/conformance", "start_conformance_run", json=body)
    assert r.status_code == 201, r.data
    run = r.get_json()
    assert run["status"] == "running" and [c["name"] for c in run["checks"]] == [checks[0]["name"]]
    read = call(client, "GET", f"/conformance/{run['id']}", "get_conformance_run", headers={}).get_json()
    assert read["id"] == run["id"] and read["report_url"].endswith(f"/conformance/{run['id']}/report")
    day = {"date": "2025-03-10", "delivered": "12.345", "received": None, "cost": 1.5}
    answers = {"usage_points": [{"usage_point": "x", "days": [day]}]}
    kept = call(
        client, "POST", f"/conformance/{run['id']}/answers", "report_conformance_answers", headers={}, json=answers
    )
    assert kept.status_code == 200 and kept.get_json()["id"] == run["id"]
    bad = call(client, "POST", f"/conformance/{run['id']}/answers", "report_conformance_answers", headers={}, json={})
    refused(bad, 400, "invalid_request", "usage_points")
    page = call(client, "GET", f"/conformance/{run['id']}/report", "conformance_report_page", headers={})
    assert page.status_code == 200 and b"demo-third-party" in page.data and b"Download the JSON" in page.data


def test_every_operation_is_exercised():
    """Runs last in this module (pytest keeps file order): each row of the table was called above."""
    assert EXERCISED == {op.operation_id for op in OPERATIONS}
