"""A client of a running sandbox's control API, with the helpers a third party's test needs:
authorize a customer without the browser, move the clock, end access the ways real life does,
and fetch ESPI resources with a token. Standard library only (urllib), so the plugin adds no
dependency to a third party's test environment."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.datastructures import Headers

DEFAULT_UTILITY = "bayview"
DEMO_CLIENT_ID = "demo-third-party"
DEMO_CLIENT_SECRET = "demo-secret"
# the demo third party's first standard scope: hourly electricity with cost, a year of history
DEFAULT_SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


class ControlRefused(Exception):
    """The control API refused a call: its status, error code, description and the field at fault."""

    def __init__(self, status: int, body: dict[str, Any]):
        self.status, self.body = status, body
        self.error, self.field = body.get("error"), body.get("field")
        super().__init__(f"{status} {self.error}: {body.get('error_description')}")


@dataclass
class Answer:
    """An HTTP answer: status, headers and body bytes (`.json()` and `.text` as requests has them).
    Header names are matched in any case, as HTTP has them (granian sends them in lower case)."""

    status: int
    headers: Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class SandboxClient:
    """The control API of the sandbox at `url` (admin key `admin_key`)."""

    def __init__(self, url: str, admin_key: str, timeout: float = 60):
        self.url, self.admin_key, self.timeout = url.rstrip("/"), admin_key, timeout
        self.made: dict[str, Any] = {}  # a private sandbox's creation answer (create_sandbox)

    # --- plain HTTP --------------------------------------------------------------------------

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        """Any HTTP call (a path is taken below the sandbox's URL); every status is answered, none raised."""
        if url.startswith("/"):
            url = self.url + url
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return Answer(r.status, Headers(list(r.headers.items())), r.read())
        except urllib.error.HTTPError as err:
            with err:
                return Answer(err.code, Headers(list(err.headers.items())), err.read())

    def get(
        self, url: str, token: str | dict | None = None, client_secret: str | None = None, **headers: str
    ) -> Answer:
        """GET a resource (a resourceURI, say) with a bearer token (a token response or its access_token).

        Given the token response (a dict with a refresh token), an access token the sandbox answers
        401 `token_expired` is refreshed at the utility's token endpoint and the GET made once more:
        the dict is updated in place with the new access token and, where the utility rotates them,
        the new refresh token, so a test that moved the clock a day on goes on as written. The
        client's secret is `client_secret`, or the demo third party's for its own tokens."""
        answer = self._get(url, token, headers)
        if isinstance(token, dict) and token.get("refresh_token") and _expired(answer):
            self.refresh(token, client_secret)
            answer = self._get(url, token, headers)
        return answer

    def _get(self, url: str, token: str | dict | None, headers: dict[str, str]) -> Answer:
        if token is not None:
            value = token["access_token"] if isinstance(token, dict) else token
            headers = {"Authorization": f"Bearer {value}", **headers}
        return self.request("GET", url, headers)

    def refresh(self, token: dict, client_secret: str | None = None) -> dict:
        """Refresh a token response in place (grant_type=refresh_token at its utility's token endpoint,
        which its resourceURI names): its new access token, expiry, and refresh token if rotated. A
        refusal raises ControlRefused with the token endpoint's status and error."""
        client_id = token.get("client_id", DEMO_CLIENT_ID)
        secret = client_secret if client_secret is not None else self._demo_secret()
        endpoint = token["resourceURI"].split("/espi/", 1)[0] + "/oauth/token"
        basic = base64.b64encode(f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()
        answer = self.request(
            "POST",
            endpoint,
            {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
            urlencode({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).encode(),
        )
        if answer.status != 200:
            raise _refused(answer)
        token.update({k: v for k, v in answer.json().items() if k in _REFRESHED})
        return token

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        """A control-API call's JSON answer; ControlRefused for a refusal."""
        headers = {"Authorization": f"Bearer {self.admin_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = self.request(method, "/sandbox-api" + path, headers, data)
        if answer.status >= 400:
            raise _refused(answer)
        return answer.json()

    def _demo_secret(self) -> str:
        """The demo third party's secret here: a private sandbox's own (its creation said it), else the
        published one."""
        return self.made.get("demo", {}).get("third_party", {}).get("client_secret", DEMO_CLIENT_SECRET)

    # --- private sandboxes (a deployment's; this client holds its operator key) ---------------

    def create_sandbox(self, **options: Any) -> "SandboxClient":
        """A private sandbox of this deployment (options as POST /sandbox-api/sandboxes takes: label,
        seed, customers, utilities, profiles, ttl): a client of its own base URL and admin key, with what
        its creation answered (its demo credentials among them) as `.made`."""
        made = self.api("POST", "/sandboxes", options)
        private = SandboxClient(made["base_url"], made["admin_key"], self.timeout)
        private.made = made
        return private

    def delete_sandbox(self, sandbox: "str | SandboxClient") -> None:
        """Delete a private sandbox (by id, or its client): its URLs answer 404 from now on."""
        sandbox_id = sandbox.made["id"] if isinstance(sandbox, SandboxClient) else sandbox
        answer = self.request(
            "DELETE", f"/sandbox-api/sandboxes/{sandbox_id}", {"Authorization": f"Bearer {self.admin_key}"}
        )
        if answer.status != 204:
            raise ControlRefused(answer.status, answer.json())

    # --- the world ---------------------------------------------------------------------------

    def reset(self) -> dict:
        """Back to the seed: every authorization, token and upload made since is gone; real time again."""
        return self.api("POST", "/reset")

    def add_customers(self, count: int, utility: str = DEFAULT_UTILITY) -> list[str]:
        return self.api("POST", "/seed", {"utility": utility, "customers": count})["usernames"]

    # --- the clock ---------------------------------------------------------------------------

    def clock(self) -> dict:
        return self.api("GET", "/clock")

    def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.clock()["now"].replace("Z", "+00:00"))

    def freeze(self, at: dt.datetime | None = None) -> dict:
        """Stop the clock (at `at`, an aware datetime, if given)."""
        if at is not None:
            self.api("POST", "/clock", {"freeze": True})
            return self.api("POST", "/clock", {"set": at.isoformat()})
        return self.api("POST", "/clock", {"freeze": True})

    def resume(self) -> dict:
        return self.api("POST", "/clock", {"resume": True})

    def advance(self, days: float = 0, hours: float = 0, seconds: float = 0) -> dict:
        """Move the clock forward: new days of data are published, tokens and authorizations expire."""
        return self.api("POST", "/clock", {"advance": days * 86400 + hours * 3600 + seconds})

    # --- authorizations, customers, third parties ----------------------------------------------

    def authorize(
        self,
        customer: str = "demo",
        scope: str = DEFAULT_SCOPE,
        utility: str = DEFAULT_UTILITY,
        client_id: str = DEMO_CLIENT_ID,
        usage_points: list[str] | None = None,
    ) -> dict:
        """A customer's consent without the browser: the token endpoint's answer (access and refresh
        token, resourceURI, authorizationURI...) and the authorization's id."""
        body: dict[str, Any] = {"utility": utility, "customer": customer, "client_id": client_id, "scope": scope}
        if usage_points is not None:
            body["usage_points"] = usage_points
        answer = self.api("POST", "/authorizations", body)
        answer.setdefault("client_id", client_id)  # whose tokens they are, for `refresh`
        return answer

    def revoke(self, authorization: str | dict) -> dict:
        """The customer revokes it, as on the portal."""
        return self.api("POST", f"/authorizations/{_authorization_id(authorization)}/revoke")

    def expire(self, authorization: str | dict) -> dict:
        return self.api("POST", f"/authorizations/{_authorization_id(authorization)}/expire")

    def move_out(self, customer: str, day: dt.date, utility: str = DEFAULT_UTILITY) -> dict:
        return self.api("POST", f"/utilities/{utility}/customers/{customer}/move-out", {"date": day.isoformat()})

    def set_status(self, status: str, client_id: str = DEMO_CLIENT_ID, utility: str = DEFAULT_UTILITY) -> dict:
        """A third party's standing: production, review, on_hold or blocked."""
        return self.api("POST", f"/utilities/{utility}/third-parties/{client_id}/status", {"status": status})

    def set_notify_uri(self, uri: str | None, client_id: str = DEMO_CLIENT_ID, utility: str = DEFAULT_UTILITY) -> dict:
        """Where the third party's notifications are POSTed (None: nowhere)."""
        return self.api("PUT", f"/utilities/{utility}/third-parties/{client_id}/notify-uri", {"notify_uri": uri})

    def explain(self, scope: str, utility: str | None = None) -> dict:
        query = {"scope": scope, **({"utility": utility} if utility else {})}
        return self.api("GET", "/scope/explain?" + urlencode(query))

    # --- fault scenarios -----------------------------------------------------------------------

    def faults(self) -> list[dict]:
        """The fault scenarios the sandbox can produce."""
        return self.api("GET", "/faults")["faults"]

    def set_faults(self, names: list[str], client_id: str = DEMO_CLIENT_ID, utility: str = DEFAULT_UTILITY) -> dict:
        """Faults for every call the third party makes (an empty list: none)."""
        return self.api("PUT", f"/utilities/{utility}/third-parties/{client_id}/faults", {"faults": names})

    def set_authorization_faults(self, authorization: str | dict, names: list[str]) -> dict:
        """Faults for the calls of one authorization's tokens."""
        return self.api("PUT", f"/authorizations/{_authorization_id(authorization)}/faults", {"faults": names})

    # --- behaviour profiles ----------------------------------------------------------------------

    def profiles(self) -> dict:
        """Every behaviour profile with its knobs, and which one each utility uses."""
        return self.api("GET", "/profiles")

    def set_profile(self, name: str | None, client_id: str = DEMO_CLIENT_ID, utility: str = DEFAULT_UTILITY) -> dict:
        """Answer the third party as profile `name` would (None: its utility's own again)."""
        return self.api("PUT", f"/utilities/{utility}/third-parties/{client_id}/profile", {"profile": name})

    # --- notifications -------------------------------------------------------------------------

    def notifications(
        self,
        client_id: str | None = None,
        utility: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Notifications (newest first), each with its BatchList body, URIs and delivery attempts."""
        query = {
            k: v
            for k, v in (("client_id", client_id), ("utility", utility), ("state", state), ("limit", limit))
            if v is not None
        }
        return self.api("GET", "/notifications" + ("?" + urlencode(query) if query else ""))["notifications"]

    def send_notification(self, notification: int | dict) -> dict:
        """Send one again now; the notification with the new attempt."""
        n = notification["id"] if isinstance(notification, dict) else notification
        return self.api("POST", f"/notifications/{n}/send")

    def wait_for_notifications(
        self,
        count: int = 1,
        state: str = "delivered",
        timeout: float = 30,
        client_id: str | None = None,
        utility: str | None = None,
        event: str | None = None,
    ) -> list[dict]:
        """Wait until at least `count` notifications (of the third party, utility and event, if given:
        "published", "uploaded", "authorized", "batch_ready") are in `state`; them, newest first.
        TimeoutError says what was there instead. A third party that has received a BatchList can
        call this to see its delivery recorded: the sandbox records it once the POST is answered."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                n
                for n in self.notifications(client_id, utility, state, limit=1000)
                if event is None or n["event"] == event
            ]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = [(n["id"], n["state"], n["attempts"]) for n in self.notifications(client_id, utility)]
                raise TimeoutError(f"{len(found)} of {count} notifications {state} after {timeout} s: {seen}")
            time.sleep(0.05)  # polling a server that delivers in the background

    # --- conformance runs ------------------------------------------------------------------------

    def start_conformance(
        self,
        client_id: str = DEMO_CLIENT_ID,
        utility: str = DEFAULT_UTILITY,
        checks: list[str] | None = None,
        timeout: float | None = None,
        ending: str | None = None,
    ) -> dict:
        """Grade a third party's client (docs/conformance.md): a run of `checks` (every one if None),
        arranged for its authorizations while it runs, its access ended at the last by `ending`
        ("revocation", "expiry" or "move-out"; None leaves timeout and ending to the sandbox: 240 s,
        revocation); the run as started (its `id`, its `report_url`)."""
        body: dict[str, Any] = {"utility": utility, "client_id": client_id}
        given = {"checks": list(checks) if checks is not None else None, "timeout": timeout, "ending": ending}
        body.update({k: v for k, v in given.items() if v is not None})  # else the sandbox's defaults
        return self.api("POST", "/conformance", body)

    def conformance(self, run: str | dict) -> dict:
        """The run now: its status and each check's verdict, summary and evidence."""
        return self.api("GET", f"/conformance/{run['id'] if isinstance(run, dict) else run}")

    def wait_for_conformance(self, run: str | dict, timeout: float | None = None) -> dict:
        """Wait until the run has ended (at most `timeout` seconds: by default until its own deadline,
        and a little more); the run. TimeoutError if it still runs."""
        found = self.conformance(run)
        if timeout is None:
            deadline_at = dt.datetime.fromisoformat(found["deadline"].replace("Z", "+00:00"))
            timeout = max(0.0, (deadline_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 10
        until = time.monotonic() + timeout
        while found["status"] == "running":
            if time.monotonic() >= until:
                raise TimeoutError(f"conformance run {found['id']} still running after {timeout:.0f} s")
            time.sleep(0.5)  # polling a server that runs it in the background
            found = self.conformance(found)
        return found

    @staticmethod
    def assert_conformant(run: dict, allow_not_observed: bool = False) -> None:
        """AssertionError naming each check that failed (and each not observed, unless allowed), with its
        summary and the first calls of its evidence."""
        bad = {"fail"} if allow_not_observed else {"fail", "not_observed"}
        lines = []
        for c in run["checks"]:
            if c.get("verdict") in bad or c.get("verdict") is None:
                calls = "; ".join(f"{e.get('call')} -> {e.get('status')}" for e in c.get("evidence", [])[:3])
                lines.append(
                    f"{c['name']}: {c.get('verdict') or c['status']}: {c.get('summary')}"
                    + (f" [{calls}]" if calls else "")
                )
        if lines:
            raise AssertionError(f"conformance run {run['id']} {run['status']}:\n  " + "\n  ".join(lines))

    # --- data quality ----------------------------------------------------------------------------

    def set_data_quality(self, slug: str, username: str, **knobs: Any) -> dict:
        """How imperfect a customer's readings are: missing_share, estimated_share, zero_share,
        negative_share (0 to 0.5 each), outage_days (dates, or YYYY-MM-DD texts). Knobs left out are
        the world's; none at all resets. The knobs in effect."""
        body = {
            k: ([d.isoformat() if isinstance(d, dt.date) else d for d in v] if k == "outage_days" else v)
            for k, v in knobs.items()
        }
        return self.api("PUT", f"/utilities/{slug}/customers/{username}/data-quality", body)

    def data_quality(self, slug: str, username: str) -> dict:
        """The customer's data-quality knobs in effect."""
        return self.api("GET", f"/utilities/{slug}/customers/{username}/data-quality")


_REFRESHED = ("access_token", "refresh_token", "expires_in", "scope", "token_type")


def _refused(answer: Answer) -> ControlRefused:
    """A refusal as ControlRefused: the JSON body's error and description, or the start of a body that is not JSON."""
    try:
        detail = answer.json()
    except ValueError:
        detail = {"error": "http_error", "error_description": answer.text[:500]}
    return ControlRefused(answer.status, detail)


def _expired(answer: Answer) -> bool:
    """A 401 saying the access token's time ran out (not a revoked or ended authorization)."""
    return answer.status == 401 and answer.headers.get("X-Sandbox-Reason") == "token_expired"


def _authorization_id(authorization: str | dict) -> str:
    return authorization["authorization_id"] if isinstance(authorization, dict) else authorization
