"""Conformance runs in one process: a well-behaved client passes every check, a naive one fails
exactly the checks its habits break (each with the calls that decided it), a client that does
nothing leaves the run incomplete with every check not_observed, and the control API refuses bad
runs by name.

The clients here are driven by the test between the worker's steps: they read the BatchLists the
run POSTs to the receiver and call the resource server through the test client, as a third party's
background job would."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_KEY
from live.third_party import ThirdParty
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from web.oauth_steps import CALLBACK, get_code, sign_in, token

from sandbox.core.errors import Conflict
from sandbox.core.models import Authorization, ConformanceRun, Customer, Utility
from sandbox.demo import analysis, espi
from sandbox.demo.espi import batch_list_uris
from sandbox.services.conformance import checks, runs
from sandbox.services.conformance.checks import CHECKS

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
DEMO = ("demo-third-party", "demo-secret")


def control(client, method: str, path: str, status: int = 200, **kw) -> dict:
    r = client.open("/sandbox-api" + path, method=method, headers=H, **kw)
    assert r.status_code == status, (path, r.status_code, r.data[:300])
    return r.get_json()


class Client:
    """A third party's background job: it holds the tokens of its one authorization and reads what
    each BatchList names. `naive` gives it the habits the checks catch: no wait on 429, 5xx or 202,
    the first refresh token kept for ever, and no stop when its access ends."""

    def __init__(
        self, app, receiver: ThirdParty, tokens: dict, naive: bool = False, secret: str = DEMO[1], greedy: bool = False
    ):
        self.client, self.receiver, self.naive, self.secret = app.test_client(), receiver, naive, secret
        self.greedy = greedy  # at every BatchList it reads its whole subscription's usage points again
        self.tokens = dict(tokens)
        self.first_refresh = tokens["refresh_token"]
        self.seen = 0
        self.usage = espi.Usage()  # what it read, merged
        self.read_at: dict[str, float] = {}  # a usage point's id -> when a read of it last ended
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Client":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.receiver.arrived:
                if self.seen >= len(self.receiver.received):
                    self.receiver.arrived.wait(0.5)
            while self.seen < len(self.receiver.received):
                body = self.receiver.received[self.seen]["body"]
                self.seen += 1
                for uri in batch_list_uris(body):
                    self.pull(uri)
                if self.greedy:
                    self.pull(
                        self.tokens["resourceURI"].replace("/Batch/Subscription/", "/Subscription/") + "/UsagePoint"
                    )

    def _get(self, uri: str):
        parts = urlsplit(uri)
        path = parts.path + ("?" + parts.query if parts.query else "")
        r = self.client.get(path, headers={"Authorization": f"Bearer {self.tokens['access_token']}"})
        r.get_data()  # read whole, as a client does (a streamed document left unread is closed later, elsewhere)
        r.close()
        return r

    def _refresh(self) -> bool:
        presented = self.first_refresh if self.naive else self.tokens["refresh_token"]
        token_endpoint = self.tokens["resourceURI"].split("/espi/")[0].split("localhost", 1)[-1] + "/oauth/token"
        r = self.client.post(
            token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": presented},
            auth=(DEMO[0], self.secret),
        )
        if r.status_code != 200:
            return False
        self.tokens.update(r.get_json())
        return True

    def pull(self, uri: str) -> None:
        wait = 1.0
        for _ in range(8 if self.naive else 5):
            r = self._get(uri)
            if r.status_code == 401 and r.headers.get("X-Sandbox-Reason") == "token_expired":
                if not self._refresh() and not self.naive:
                    return
                continue
            if r.status_code in (429, 500, 502, 503, 504) or (r.status_code == 202 and self.naive):
                if not self.naive:  # Retry-After, or a doubling back-off
                    time.sleep(max(float(r.headers.get("Retry-After", "0")), wait))
                    wait *= 2
                continue
            if r.status_code in (401, 403) and self.naive:
                continue  # it does not stop when its access ends
            if r.status_code == 200 and r.data.lstrip().startswith(b"<"):
                espi.merge(self.usage, espi.parse_usage(r.data))
                if "/UsagePoint/" in uri:
                    self.read_at[uri.split("/UsagePoint/")[1].split("/")[0].split("?")[0]] = time.time()
            return

    def answers(self, asks: dict, time_zone: str, since: float) -> dict | None:
        """What it computed for the days a ground-truth check asks of each usage point (None until it
        has read each since `since`). Naive, it sums raw values, whatever the powerOfTenMultiplier."""
        if any(self.read_at.get(up, 0) < since for up in asks["usage_points"]):
            return None
        first, last = dt.date.fromisoformat(asks["first_day"]), dt.date.fromisoformat(asks["last_day"])
        if not self.naive:  # the demo app's own arithmetic
            return {"usage_points": analysis.daily_totals(self.usage, time_zone, first, last)}
        zone, out = ZoneInfo(time_zone), []
        for up in asks["usage_points"]:
            days: dict[dt.date, dict] = {}
            for st in self.usage.streams:
                if f"/UsagePoint/{up}/" not in st.key or st.flow not in (espi.FORWARD, espi.REVERSE):
                    continue
                key = "delivered" if st.flow == espi.FORWARD else "received"
                for r in st.readings.values():
                    day = dt.datetime.fromtimestamp(r.start, zone).date()
                    if first <= day <= last:
                        d = days.setdefault(day, {"delivered": Decimal(0), "received": Decimal(0), "cost": Decimal(0)})
                        d[key] += Decimal(r.value).scaleb(-3 if st.uom == 72 else 0)  # no powerOfTenMultiplier
                        d["cost"] += Decimal(r.cost or 0) / 100000
            reported = [
                {"date": day.isoformat(), **{k: str(v) for k, v in d.items()}} for day, d in sorted(days.items())
            ]
            out.append({"usage_point": up, "days": reported})
        return {"usage_points": out}


def _drive(app, client, run_id: str, limit: float = 150, reporting: Client | None = None) -> dict:
    """Step the worker, as run.py's does in the background, until the run ends (at most `limit` seconds);
    `reporting` posts what it computed once a check asks for it, as a client's CI would."""
    worker = app.extensions["notifications"]
    deadline = time.monotonic() + limit
    reported, asked_at = False, None
    while time.monotonic() < deadline:
        worker.step()
        run = control(client, "GET", f"/conformance/{run_id}")
        if run["status"] != "running":
            return run
        asks = next((c["asks"] for c in run["checks"] if "asks" in c and c["status"] == "watching"), None)
        if asks and asked_at is None:
            asked_at = time.time()
        if reporting is not None and asks and not reported:
            computed = reporting.answers(asks, "America/Los_Angeles", asked_at)
            if computed is not None:
                control(client, "POST", f"/conformance/{run_id}/answers", json=computed)
                reported = True
        time.sleep(worker.POLL / 2)  # the worker's own pace: the checks wait in real time
    raise AssertionError(f"the run did not end in {limit} s: {run}")


@pytest.fixture
def receiver():
    with ThirdParty() as tp:
        yield tp


@pytest.fixture
def tokens(app, client, receiver) -> dict:
    """The demo third party's own authorization (the seeded ones revoked: their tokens are no one's
    here) and its notification URI set to the receiver."""
    with app.extensions["sandbox"].db.sessions() as s:
        seeded = list(s.scalars(select(Authorization.uuid).where(Authorization.customer_id.is_not(None))))
    for uuid in seeded:
        control(client, "POST", f"/authorizations/{uuid}/revoke")
    put = {"notify_uri": receiver.url}
    control(client, "PUT", "/utilities/bayview/third-parties/demo-third-party/notify-uri", json=put)
    return consented(client, SCOPE)


def consented(client, scope: str, pkce: bool = True) -> dict:
    """The demo customer's consent through the authorization endpoint (with PKCE S256, or none), the code
    exchanged: the token response, with the authorization's id."""
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    sign_in(client)
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if pkce else {}
    code = get_code(client, scope=scope, **extra)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    r = token(client, **data, **({"code_verifier": verifier} if pkce else {}))
    assert r.status_code == 200, r.data
    got = r.get_json()
    return got | {"authorization_id": got["authorizationURI"].rsplit("/", 1)[1]}


def _start(client, **extra) -> dict:
    body = {"utility": "bayview", "client_id": DEMO[0], **extra}
    return control(client, "POST", "/conformance", status=201, json=body)


def _verdicts(run: dict) -> dict[str, str]:
    return {c["name"]: c["verdict"] for c in run["checks"]}


def test_a_well_behaved_client_passes_every_check(app, client, receiver, tokens):
    started = _start(client, timeout=200)
    assert started["status"] == "running" and [c["name"] for c in started["checks"]] == [c.name for c in CHECKS]
    assert all(c["status"] == "waiting" for c in started["checks"])
    with Client(app, receiver, tokens) as c:
        run = _drive(app, client, started["id"], reporting=c)
    assert _verdicts(run) == {c.name: "pass" for c in CHECKS}, [
        (c["name"], c["summary"]) for c in run["checks"] if c["verdict"] != "pass"
    ]
    assert run["status"] == "passed"
    for c in run["checks"]:  # each verdict names the calls that decided it
        assert c["evidence"] and all("at" in e and "status" in e for e in c["evidence"]), c
    page = client.get(urlsplit(run["report_url"]).path)
    assert page.status_code == 200 and b"Conformance run: passed" in page.data


def test_a_naive_client_fails_the_checks_its_habits_break_with_the_calls_as_evidence(app, client, receiver, tokens):
    broken = ["retry-after-429", "server-errors-backoff", "async-batch-waited"]
    with Client(app, receiver, tokens, naive=True):
        started = _start(client, checks=["batch-list-read", *broken], timeout=200)
        run = _drive(app, client, started["id"])
        # its access lost at the second refresh, it goes on calling after the revocation too
        then = _start(client, checks=["rotated-refresh-kept", "stops-when-access-ends"], timeout=200)
        last = _drive(app, client, then["id"])
    verdicts = _verdicts(run) | _verdicts(last)
    assert verdicts == {
        "batch-list-read": "pass",  # it does read what a BatchList names
        **{name: "fail" for name in broken},
        "rotated-refresh-kept": "fail",
        "stops-when-access-ends": "fail",
    }, [(c["name"], c["summary"]) for c in run["checks"] + last["checks"]]
    assert run["status"] == last["status"] == "failed"
    by_name = {c["name"]: c for c in run["checks"] + last["checks"]}
    assert any(e["status"] == 429 for e in by_name["retry-after-429"]["evidence"])
    assert sum(e["status"] == 503 for e in by_name["server-errors-backoff"]["evidence"]) >= 2
    assert any(e["status"] == 202 for e in by_name["async-batch-waited"]["evidence"])
    assert all("/dc/bayview/espi/1_1/resource/" in e["call"] for e in by_name["stops-when-access-ends"]["evidence"])


@pytest.mark.parametrize("naive", [False, True])
def test_the_ground_truth_is_the_client_s_sums_with_the_multiplier_applied(app, client, receiver, tokens, naive):
    offered = client.get("/.well-known/oauth-authorization-server/dc/bayview").get_json()["scopes_supported"][0]
    control(client, "POST", f"/authorizations/{tokens['authorization_id']}/revoke")
    wide = consented(client, offered)  # gas and cost too
    run = _start(client, checks=["ground-truth"], timeout=120)
    with Client(app, receiver, wide, naive=naive) as c:
        run = _drive(app, client, run["id"], reporting=c)
    (check,) = run["checks"]
    asked = {up for up in check["asks"]["usage_points"]}
    assert len(asked) >= 2  # electricity, and gas in therms (powerOfTenMultiplier -3)
    if not naive:
        assert (check["verdict"], run["status"]) == ("pass", "passed"), check["summary"]
        return
    assert check["verdict"] == "fail" and "gas" in check["summary"] and "delivered" in check["summary"]
    assert all(e["call"] == "answers" for e in check["evidence"])


def test_a_run_in_a_private_sandbox_reads_its_calls_below_the_sandbox_s_base(app, client, receiver):
    made = control(client, "POST", "/sandboxes", status=201, json={"customers": 0})
    base, own = f"/s/{made['id']}", {"Authorization": f"Bearer {made['admin_key']}"}

    def private(method: str, path: str, status: int = 200, **kw) -> dict:
        r = client.open(f"{base}/sandbox-api{path}", method=method, headers=own, **kw)
        assert r.status_code == status, (path, r.status_code, r.data[:300])
        return r.get_json()

    record = app.extensions["sandboxes"].get(made["id"])
    world_db = app.extensions["private_sandboxes"].built(record).extensions["sandbox"].db
    with world_db.sessions() as s:  # its seeded grants: no one here holds their tokens
        seeded = list(s.scalars(select(Authorization.uuid).where(Authorization.customer_id.is_not(None))))
    for uuid in seeded:
        private("POST", f"/authorizations/{uuid}/revoke")
    private("PUT", "/utilities/bayview/third-parties/demo-third-party/notify-uri", json={"notify_uri": receiver.url})
    body = {"utility": "bayview", "customer": "demo", "client_id": DEMO[0], "scope": SCOPE}
    tokens = private("POST", "/authorizations", json=body)
    run = private(
        "POST",
        "/conformance",
        status=201,
        json={"utility": "bayview", "client_id": DEMO[0], "checks": ["batch-list-read"]},
    )
    deadline = time.monotonic() + 60
    with Client(app, receiver, tokens, secret=made["demo"]["third_party"]["client_secret"]):
        while run["status"] == "running" and time.monotonic() < deadline:
            app.extensions["notifications"].step()  # the deployment's worker steps the private sandbox's run
            time.sleep(app.extensions["notifications"].POLL / 2)
            run = private("GET", f"/conformance/{run['id']}")
    (check,) = run["checks"]
    assert (check["verdict"], run["status"]) == ("pass", "passed"), check["summary"]
    assert all(f"{base}/dc/bayview/" in e["call"] for e in check["evidence"][1:])  # the calls it read


def test_a_client_that_reads_more_than_a_batch_list_names_fails_it(app, client, receiver, tokens):
    run = _start(client, checks=["batch-list-read"], timeout=60)
    with Client(app, receiver, tokens, greedy=True):
        run = _drive(app, client, run["id"])
    (check,) = run["checks"]
    assert check["verdict"] == "fail" and "did not name" in check["summary"]
    assert any(e["call"].endswith("/UsagePoint") for e in check["evidence"])


def test_an_authorization_request_without_pkce_fails_pkce_s256(client, tokens):
    consented(client, SCOPE, pkce=False)
    run = _start(client, checks=["pkce-s256"], timeout=30)
    run = control(client, "GET", f"/conformance/{run['id']}")
    for _ in range(3):  # judged at its first step: the codes are there already
        client.application.extensions["notifications"].step()
        run = control(client, "GET", f"/conformance/{run['id']}")
    (check,) = run["checks"]
    assert (check["verdict"], run["status"]) == ("fail", "failed"), check
    assert "1 of 2 authorization request(s) without PKCE S256" in check["summary"]
    assert [e["status"] for e in check["evidence"]] == ["S256", "no PKCE"]


def test_two_runs_started_at_once_for_one_client_are_one_run_and_a_conflict(app, monkeypatch):
    db = app.extensions["sandbox"].db
    with db.sessions() as s:
        utility_id = s.scalar(select(Utility.id).where(Utility.slug == "bayview"))
    first = runs.start(db, utility_id, DEMO[0], ["pkce-s256"], 30)
    with pytest.raises(IntegrityError), db.transaction() as s:  # the index refuses a second running run
        s.add(ConformanceRun(id="x", utility_id=utility_id, application_id=first.application_id, status="running",
                             started=0, deadline=1, current=0, checks=[], step=0))  # fmt: skip
    # the other request's insert lost the race: its start is a Conflict, not a 500
    monkeypatch.setattr(runs, "_started", lambda *a: (_ for _ in ()).throw(IntegrityError("insert", {}, Exception())))
    with pytest.raises(Conflict, match="has a conformance run going"):
        runs.start(db, utility_id, DEMO[0], ["pkce-s256"], 30)


def test_a_check_that_fails_is_judged_and_the_run_goes_on(app, client, tokens, monkeypatch):
    def broken(sit, final):
        raise ZeroDivisionError("a defect")

    monkeypatch.setitem(checks.BY_NAME, "pkce-s256", dataclasses.replace(checks.BY_NAME["pkce-s256"], judge=broken))
    run = _start(client, checks=["pkce-s256", "batch-list-read"], timeout=30)
    app.extensions["notifications"].step()
    run = control(client, "GET", f"/conformance/{run['id']}")
    first, second = run["checks"]
    assert first["verdict"] == "not_observed" and "ZeroDivisionError: a defect" in first["summary"]
    assert second["status"] == "watching"  # the next check arranged in the same step


@pytest.mark.parametrize(("ending", "reason"), [("expiry", None), ("move-out", "moved out")])
def test_access_ended_by_expiry_or_a_move_out_a_well_behaved_client_stops(
    app, client, receiver, tokens, ending, reason
):
    run = _start(client, checks=["stops-when-access-ends"], timeout=60, ending=ending)
    with Client(app, receiver, tokens):
        run = _drive(app, client, run["id"])
    (check,) = run["checks"]
    assert check["verdict"] == "pass" and f"({ending})" in check["summary"], check["summary"]
    with app.extensions["sandbox"].db.sessions() as s:
        auth = s.scalar(select(Authorization).where(Authorization.uuid == tokens["authorization_id"]))
        assert auth.status == "active" and auth.authorized_end <= app.extensions["sandbox"].clock.naive_now()
        assert auth.status_reason == reason
        customer = s.get(Customer, auth.customer_id)
        assert customer.service_end is None  # the customer's account stays open


def test_a_client_that_does_nothing_is_incomplete_and_nothing_outside_its_authorizations_changes(
    app, client, receiver, tokens
):
    with app.extensions["sandbox"].db.sessions() as s:
        others = {a.uuid: (a.status, a.faults) for a in s.scalars(select(Authorization))}
    started = _start(client, checks=["retry-after-429", "expired-token-refreshed"], timeout=12)
    run = _drive(app, client, started["id"], limit=40)
    assert run["status"] == "incomplete"
    assert set(_verdicts(run).values()) == {"not_observed"}
    with app.extensions["sandbox"].db.sessions() as s:
        after = {a.uuid: (a.status, a.faults) for a in s.scalars(select(Authorization))}
    assert after == others  # its faults undone; no authorization ended


def test_a_run_is_refused_by_name(client, tokens):
    bad = [
        ({"utility": "nowhere", "client_id": DEMO[0]}, 404, "utility"),
        ({"utility": "bayview", "client_id": "no-such-client"}, 404, "client_id"),
        ({"utility": "bayview", "client_id": DEMO[0], "checks": ["no-such-check"]}, 400, "checks"),
        ({"utility": "bayview", "client_id": DEMO[0], "timeout": 5}, 400, "timeout"),
        ({"utility": "bayview", "client_id": DEMO[0], "checks": []}, 400, "checks"),
        ({"utility": "bayview", "client_id": DEMO[0], "ending": "never"}, 400, "ending"),
    ]
    for body, status, field in bad:
        got = control(client, "POST", "/conformance", status=status, json=body)
        assert got.get("field") == field or field in got["error_description"], got
    first = _start(client, checks=["batch-list-read"])
    again = control(client, "POST", "/conformance", status=409, json={"utility": "bayview", "client_id": DEMO[0]})
    assert first["id"] in again["error_description"]
    assert control(client, "GET", "/conformance/no-such-run", status=404)["error"] == "not_found"
    listed = client.get("/sandbox-api/conformance/checks").get_json()["checks"]  # open: the catalogue
    assert [c["name"] for c in listed] == [c.name for c in CHECKS] and all(c["why"] for c in listed)


def test_the_checks_documented_are_the_checks_made():
    from conftest import ROOT

    from sandbox.services.conformance.checks import document

    assert document() in (ROOT / "docs" / "conformance.md").read_text()
