"""Abuse limits (issue item 4) against the real run.py with its default limits: spraying
account-number and postal-code guesses over many accounts (the review opened 2 of 40 accounts with
160 guesses in 1.2 s), the same spread over several addresses, a flood of wrong client secrets at
the token endpoint, and a flood of open registrations. Each gets 429s naming the limit with
Retry-After, and no more is answered than the documented default (sandbox.core.config.DEFAULTS,
the README's table) lets through.

Each test sends from loopback addresses of its own (127.0.0.x, which Linux routes to the server
on 127.0.0.1), so that the per-address counters of one test are not another's."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.core.config import DEFAULTS, ROOT
from sandbox.synth.people import account_number
from sandbox.synth.world import load_world
from sandbox.web import limits

from ..tokens import DEMO, csrf

pytestmark = pytest.mark.live


def allowed(rule: limits.Rule) -> int:
    """What the documented default lets through before its first 429: its smallest window's number."""
    return min(item.amount for item in limits.configured(DEFAULTS, rule))


class FromAddress(HTTPAdapter):
    """Connections that leave from one local address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


def browser(address: str) -> requests.Session:
    s = requests.Session()
    s.mount("http://", FromAddress(address))
    return s


class Guesser:
    """A browser at `address` guessing account number and postal code at one utility's portal."""

    def __init__(self, base: str, slug: str, address: str):
        self.url = f"{base}/dc/{slug}/login"
        self.session = browser(address)
        self.token = csrf(self.session.get(f"{base}/dc/{slug}/", timeout=30).text)

    def guess(self, number: str, postal: str) -> requests.Response:
        return self.session.post(
            self.url,
            data={"csrf_token": self.token, "method": "account", "account_number": number, "postal_code": postal},
            allow_redirects=False,
            timeout=30,
        )


def limited(r: requests.Response) -> bool:
    """Refused by an abuse limit (the sign-in lock-out's 429 is the login page itself)."""
    return r.status_code == 429 and 'id="limit-error"' in r.text


def guesses(slug: str, accounts: int, per_account: int = 4) -> list[tuple[str, str]]:
    """`per_account` postal codes of the utility's (US) area for each of `accounts` account numbers
    made as the utility makes them (sandbox.synth.people), fewer than the lock-out's five in a row.
    The numbers are past the live world's few customers, so that no guess can open an account and
    every one counts as a failure."""
    u = load_world(ROOT / "seed_data").utility(slug)
    prefix = u.service_area[0].postal_prefixes[0]
    return [(account_number(u, n), f"{prefix}{c:02d}") for n in range(100, 100 + accounts) for c in range(per_account)]


def demo_account(base: str, slug: str) -> tuple[str, str]:
    """The demo customer's account number and postal code, as the login page shows them."""
    page = requests.get(f"{base}/dc/{slug}/", timeout=30).text
    found = re.search(r"Account number and postal code</th><td><code>([^<]+)</code> / <code>([^<]+)</code>", page)
    assert found, "the login page shows no demo account number"
    return found.group(1), found.group(2)


def test_spraying_one_address_is_stopped_at_the_documented_limit(live):
    per_address = allowed(limits.SIGNIN_PER_ADDRESS)
    spray = guesses("bayview", accounts=40)
    assert len(spray) == 160 and per_address < len(spray)
    attacker = Guesser(live, "bayview", "127.0.0.2")
    answers = [attacker.guess(number, postal) for number, postal in spray]
    first = next(i for i, r in enumerate(answers) if limited(r))
    assert 0 < first <= per_address  # guesses answered before the first 429: all wrong, none locked out
    assert [r.status_code for r in answers[:first]] == [401] * first
    assert all(limited(r) for r in answers[first:]), [r.status_code for r in answers[first:]]
    refused = answers[first]
    assert "sign-in failures per address" in refused.text and "SANDBOX_RATELIMIT_SIGNIN_PER_ADDRESS" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    # the right answer for an account, once the limit is reached, opens nothing either
    right = attacker.guess(*demo_account(live, "bayview"))
    assert limited(right) and "Hello" not in attacker.session.get(f"{live}/dc/bayview/", timeout=30).text


def test_spraying_from_many_addresses_is_stopped_across_accounts(live):
    per_address, across = allowed(limits.SIGNIN_PER_ADDRESS), allowed(limits.SIGNIN_ACROSS_ACCOUNTS)
    spray = iter(guesses("lakeshore", accounts=across // 4 + per_address // 4 + 2))
    answered, refusals = 0, []
    for n in range(across // per_address + 1):  # one address more than the utility's limit needs
        attacker = Guesser(live, "lakeshore", f"127.0.0.{10 + n}")
        for _ in range(per_address):
            r = attacker.guess(*next(spray))
            if limited(r):
                refusals.append(r)
                break
            answered += 1
    assert per_address < answered <= across and refusals  # more than one address's worth, then no more
    assert "sign-in failures across accounts" in refusals[-1].text
    assert 0 < int(refusals[-1].headers["Retry-After"]) <= 600
    # the utility's sign-in now waits for everyone, the right answer too; other utilities do not
    fresh = Guesser(live, "lakeshore", "127.0.0.99")
    assert limited(fresh.guess(*demo_account(live, "lakeshore")))
    elsewhere = Guesser(live, "trillium", "127.0.0.99")
    assert elsewhere.guess(*demo_account(live, "trillium")).status_code == 303


def register(session: requests.Session, base: str, slug: str, name: str) -> requests.Response:
    return session.post(
        f"{base}/dc/{slug}/espi/1_1/register",
        timeout=30,
        headers={"Accept": "application/json"},
        json={"client_name": name, "redirect_uris": ["https://tp.example.com/cb"]},
    )


def token_request(session: requests.Session, base: str, slug: str, client_id: str, secret: str):
    return session.post(
        f"{base}/dc/{slug}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
    )


def test_a_flood_of_wrong_client_secrets_is_limited_per_client(live):
    per_client = allowed(limits.CLIENT_AUTH_PER_CLIENT)
    mine = register(requests.Session(), live, "prairie", "Flooded Client").json()  # a client of this test's own
    flood = browser("127.0.0.30")
    answers = [token_request(flood, live, "prairie", mine["client_id"], f"wrong-{n}") for n in range(per_client + 1)]
    assert [r.status_code for r in answers[:per_client]] == [401] * per_client
    refused = answers[per_client]
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 600
    body = refused.json()
    assert body["error"] == "too_many_requests" and body["limit"] == "client authentication failures per client"
    # the right secret waits as well, from anywhere; other clients are served
    assert (
        token_request(browser("127.0.0.31"), live, "prairie", mine["client_id"], mine["client_secret"]).status_code
        == 429
    )
    assert token_request(flood, live, "prairie", *DEMO).status_code == 200


def test_a_flood_of_made_up_clients_is_limited_per_address(live):
    per_address = allowed(limits.CLIENT_AUTH_PER_ADDRESS)
    flood = browser("127.0.0.40")
    statuses = []
    for n in range(per_address + 1):
        r = token_request(flood, live, "trillium", f"made-up-{n}", "secret")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[:-1] == [401] * per_address and statuses[-1] == 429
    assert r.json()["limit"] == "client authentication failures per address" and "Retry-After" in r.headers
    for endpoint in ("revoke", "introspect"):  # one counter for the three endpoints
        refused = flood.post(f"{live}/dc/trillium/oauth/{endpoint}", data={"token": "x"}, auth=DEMO, timeout=30)
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert token_request(browser("127.0.0.41"), live, "trillium", *DEMO).status_code == 200


def test_open_registration_is_limited_per_address(live):
    per_address = allowed(limits.REGISTRATION_PER_ADDRESS)
    registrar = browser("127.0.0.50")
    run = uuid.uuid4().hex[:6]
    made = [register(registrar, live, "bayview", f"Spam {run} {n}").status_code for n in range(per_address)]
    assert made == [201] * per_address
    refused = register(registrar, live, "bayview", f"Spam {run} one too many")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["limit"] == "registrations per address" and "client_secret" not in refused.json()
    assert register(browser("127.0.0.51"), live, "bayview", f"Honest {run}").status_code == 201
