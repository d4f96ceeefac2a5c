"""The demo app's side of Connect My Data, over HTTP only: the utility directory, the OAuth 2.0
authorization-code flow with PKCE (Authlib's client), and GETs of ESPI resources that refresh
the access token when it has expired and say in plain words why access ended otherwise.

A refusal from the resource server is read from the standard parts of the answer (the status
and RFC 6750's WWW-Authenticate error_description), and from the sandbox's X-Sandbox-Reason
header when there is one (an exact code for the same thing).

The HTTP client (requests) and Authlib's OAuth client are imported at the first call to a utility,
not when the app is built: run.py's start-up does not pay for them, the first visitor does. Their
errors reach the app as `Unreachable` (no answer) or `Refused` (an answer that says no).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

TIMEOUT = 60
TRANSIENT = (429, 500, 502, 503, 504)  # answers worth asking again, after a wait
RETRIES, BACK_OFF, MAX_WAIT = 3, 1.0, 10.0  # tries after the first; the first wait; the longest (a page waits)
CHOICES = {  # what the customer may leave out of the request, and the function blocks it means
    "cost": ("Cost of each interval", (12,)),
    "bills": ("Monthly bills", (15, 16)),
    "solar": ("Solar export and net readings", (7, 8)),
    "gas": ("Gas", (10,)),
    "water": ("Water", (11,)),
}
CUSTOMER_BLOCKS = {46, 51, 55, 56, 58, 60}

# why access ended, in the customer's words (the sandbox's reason codes, and their RFC 6750 descriptions)
ENDED = {
    "authorization_revoked_by_customer": "You revoked this app's access at {utility}.",
    "authorization_revoked_by_utility": "{utility} ended this app's access.",
    "authorization_revoked": "This app's access at {utility} was revoked.",
    "authorization_expired": "Your authorization at {utility} has expired: connect again to go on.",
    "authorization_denied": "You declined to share your data from {utility}.",
    "customer_moved_out": "Your service at {utility} ended when you moved out, and this app's access with it.",
    "third_party_blocked": "{utility} has blocked this app: it can read no data there now.",
    "third_party_on_hold": "{utility} has put this app on hold: it can read no data there for now.",
}
_DESCRIPTION_HINTS = (
    ("moved out", "customer_moved_out"),
    ("expired", "authorization_expired"),
    ("revoked by the customer", "authorization_revoked_by_customer"),
    ("blocked", "third_party_blocked"),
    ("on hold", "third_party_on_hold"),
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class Unreachable(Exception):
    """A utility that did not answer (or answered the directory with an HTTP error): the HTTP
    client's exception, as its cause, in words."""


@contextmanager
def _reaching() -> Iterator[None]:
    """A call to a utility: the HTTP client's errors become Unreachable."""
    import requests

    try:
        yield
    except requests.RequestException as exc:
        raise Unreachable(str(exc)) from exc


class Refused(Exception):
    """The utility refused a call: its HTTP status, an error code and a plain-words message."""

    def __init__(self, status: int, code: str, message: str, ended: bool = False):
        super().__init__(message)
        self.status, self.code, self.message, self.ended = status, code, message, ended


@dataclass
class Connection:
    """One utility's authorization held by the app."""

    slug: str
    name: str
    time_zone: str
    token_endpoint: str
    token: dict[str, Any]
    scope: str
    ended: str | None = None  # why access ended, in plain words
    updates: list[str] = field(default_factory=list)  # what notifications brought, newest last

    @property
    def resource_uri(self) -> str:
        return self.token["resourceURI"]


class Utilities:
    """The utilities the sandbox at `sandbox_url` fakes, and how to connect to each."""

    def __init__(self, sandbox_url: str, client_id: str, client_secret: str, http: requests.Session | None = None):
        self.sandbox_url = sandbox_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self._http = http
        if http is not None:
            http.trust_env = False  # the utilities are on this machine: no proxy

    @property
    def http(self) -> requests.Session:
        """The HTTP session, made at the first call (two threads making it at once: one is kept)."""
        if self._http is None:
            import requests

            session = requests.Session()
            session.trust_env = False
            self._http = session
        return self._http

    def directory(self, postal_code: str | None = None) -> list[dict]:
        params = {"postal_code": postal_code} if postal_code else None
        with _reaching():
            r = self.http.get(self.sandbox_url + "/utilities", params=params, timeout=TIMEOUT)
            r.raise_for_status()
        return r.json()["utilities"]

    def utility(self, slug: str) -> dict | None:
        return next((u for u in self.directory() if u["slug"] == slug), None)

    def offered_scopes(self, slug: str) -> list[str]:
        """The scopes the utility supports (its RFC 8414 metadata)."""
        with _reaching():
            r = self.http.get(f"{self.sandbox_url}/.well-known/oauth-authorization-server/dc/{slug}", timeout=TIMEOUT)
            r.raise_for_status()
        return list(r.json().get("scopes_supported") or [])

    def _session(self, **kw):
        from authlib.integrations.requests_client import OAuth2Session

        s = OAuth2Session(self.client_id, self.client_secret, token_endpoint_auth_method="client_secret_basic", **kw)
        s.trust_env = False
        return s

    def authorization_url(self, utility: dict, scope: str, redirect_uri: str) -> tuple[str, str, str]:
        """(where to send the customer, the state, the PKCE verifier)."""
        from authlib.common.security import generate_token

        verifier = generate_token(48)
        s = self._session(scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256")
        url, state = s.create_authorization_url(utility["authorization_endpoint"], code_verifier=verifier)
        return url, state, verifier

    def exchange(
        self, utility: dict, redirect_uri: str, callback_url: str, state: str, verifier: str, scope: str
    ) -> Connection:
        """The code in `callback_url` exchanged for tokens; Refused with the utility's error otherwise."""
        from authlib.integrations.base_client.errors import OAuthError

        s = self._session(redirect_uri=redirect_uri, state=state)
        try:
            with _reaching():
                token = s.fetch_token(
                    utility["token_endpoint"],
                    authorization_response=callback_url,
                    code_verifier=verifier,
                    timeout=TIMEOUT,
                )
        except OAuthError as exc:
            raise Refused(400, exc.error or "invalid_grant", exc.description or str(exc)) from None
        if "resourceURI" not in token:
            raise Refused(502, "no_resource_uri", "the utility's token response named no resourceURI")
        return Connection(
            utility["slug"],
            utility["name"],
            utility["time_zone"],
            utility["token_endpoint"],
            dict(token),
            token.get("scope") or scope,
        )

    def refresh(self, c: Connection) -> None:
        """New tokens for the connection (a rotated refresh token is kept); Refused if the grant is gone."""
        from authlib.integrations.base_client.errors import OAuthError

        s = self._session(token=c.token)
        try:
            with _reaching():
                new = s.refresh_token(c.token_endpoint, refresh_token=c.token.get("refresh_token"), timeout=TIMEOUT)
        except OAuthError as exc:
            said = (exc.description or str(exc)).lower()
            code = next((code for hint, code in _DESCRIPTION_HINTS if hint in said), "")
            message = ENDED.get(code, "{utility} no longer accepts this app's access: connect again to go on.")
            raise Refused(400, exc.error or "invalid_grant", message.format(utility=c.name), ended=True) from None
        c.token = {**c.token, **dict(new)}

    def get(self, c: Connection, uri: str) -> bytes:
        """GET an ESPI resource with the connection's token, refreshing it once if it has expired, and
        trying again after a 429 or a 5xx as the utility asks (Retry-After) or with a doubling back-off,
        RETRIES times at most."""
        wait = BACK_OFF
        for attempt in range(RETRIES + 1):
            r = self._get(c, uri)
            if r.status_code == 401 and _reason(r) == "token_expired":
                self.refresh(c)
                r = self._get(c, uri)
            if r.status_code not in TRANSIENT or attempt == RETRIES:
                break
            time.sleep(min(MAX_WAIT, max(wait, _retry_after(r))))
            wait *= 2
        if r.status_code == 200:
            return r.content
        raise refusal(r, c.name)

    def check(self, c: Connection) -> None:
        """Whether access still works, by the smallest read there is (the subscription's UsagePoint
        list); Refused says why not. A third party learns of a revocation only by asking."""
        self.get(c, c.resource_uri.split("?")[0].replace("/Batch/Subscription/", "/Subscription/") + "/UsagePoint")

    def _get(self, c: Connection, uri: str) -> requests.Response:
        with _reaching():
            return self.http.get(
                uri,
                headers={"Authorization": f"Bearer {c.token['access_token']}", "Accept": "application/atom+xml"},
                timeout=TIMEOUT,
            )


def _retry_after(r: requests.Response) -> float:
    """The answer's Retry-After in seconds (0 when it has none, or gives a date)."""
    try:
        return max(0.0, float(r.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _challenge(r: requests.Response) -> dict[str, str]:
    return dict(_CHALLENGE.findall(r.headers.get("WWW-Authenticate", "")))


def _reason(r: requests.Response) -> str:
    """The refusal's reason code: the sandbox's header, else read from the RFC 6750 description."""
    if r.headers.get("X-Sandbox-Reason"):
        return r.headers["X-Sandbox-Reason"]
    description = _challenge(r).get("error_description", "").lower()
    if (
        r.status_code == 401
        and "expired" in description
        and "token" in description
        and "authorization" not in description
    ):
        return "token_expired"
    return next((code for hint, code in _DESCRIPTION_HINTS if hint in description), "")


def refusal(r: requests.Response, utility: str) -> Refused:
    """What a refused resource call means to the customer: access ended (401 for a reason that ends
    it), the app not allowed (403), the data gone (404), or a request the utility did not accept."""
    code = _reason(r)
    try:
        body = r.json()
    except ValueError:
        body = {}
    description = _challenge(r).get("error_description") or body.get("error_description") or r.text[:300]
    if r.status_code == 401:
        message = ENDED.get(code, "{utility} no longer accepts this app's access ({description}).")
        return Refused(
            401, code or "invalid_token", message.format(utility=utility, description=description), ended=True
        )
    if r.status_code == 403:
        if code in ENDED:
            return Refused(403, code, ENDED[code].format(utility=utility), ended=True)
        return Refused(403, code or "forbidden", f"{utility} does not let this app read that: {description}")
    if r.status_code == 404:
        return Refused(404, "not_found", f"{utility} has no such data for you any more.")
    if r.status_code == 400:
        return Refused(
            400, body.get("error", "invalid_request"), f"{utility} did not accept the request: {description}"
        )
    return Refused(r.status_code, "unavailable", f"{utility} answered HTTP {r.status_code}; try again later.")


def scope_for(offered: list[str], wanted: set[str], customer_data: bool) -> str:
    """The utility's offered scope with the function blocks the customer left out removed."""
    usage = [s for s in offered if not CUSTOMER_BLOCKS & _blocks(s)]
    full = [s for s in offered if CUSTOMER_BLOCKS & _blocks(s)]
    base = (full if customer_data and full else usage or offered)[0]
    drop = {n for key, (_, fbs) in CHOICES.items() if key not in wanted for n in fbs}
    terms = base.split(";")
    keep = [n for n in sorted(_blocks(base)) if n not in drop]
    return ";".join(["FB=" + "_".join(str(n) for n in keep), *terms[1:]])


def _blocks(scope: str) -> set[int]:
    first = scope.split(";")[0]
    return {int(n) for n in first.partition("=")[2].split("_") if n.isdigit()}
