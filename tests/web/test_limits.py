"""The abuse limits (sandbox/web/limits.py) through the Flask test client, each set small in the
configuration: it trips at its number, its 429 names it and carries Retry-After, only the answers
it counts are counted, other addresses, clients and utilities keep their own counters, and
RATELIMIT off (or one limit "off") lets everything through."""

from __future__ import annotations

import base64
import shutil

import pytest
from sqlalchemy import select
from web.helpers import csrf, sb_of, text

from sandbox import create_app
from sandbox.core.config import DEFAULTS, ENVIRONMENT, ConfigError, load_config
from sandbox.core.models import Customer
from sandbox.web import limits

DC = "/dc/bayview"
DEMO = ("demo-third-party", "demo-secret")
UPLOAD = ("upload-client", "upload-secret")
NO_LIMITS = {rule.setting: "off" for rule in limits.RULES}  # each test turns on the limits it looks at


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A seeded database that each test copies (seeding once keeps the module quick)."""
    path = tmp_path_factory.mktemp("limits") / "seeded.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "CUSTOMERS": 1, "TESTING": True})
    sb_of(app).db.engine.dispose()
    return path


@pytest.fixture
def make_app(seeded, tmp_path, clock):
    """make_app(**config): a fresh app over a copy of the seeded database, with only the given limits on."""
    made = []

    def make(**config):
        db = tmp_path / f"world{len(made)}.db"
        shutil.copy(seeded, db)
        app = create_app({"DATABASE_URL": f"sqlite:///{db}", "TESTING": True, **NO_LIMITS, **config}, clock=clock)
        made.append(app)
        return app

    yield make
    for app in made:
        sb_of(app).db.engine.dispose()


def client_at(app, address: str = "127.0.0.1"):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, slug="bayview", username="demo", password="demo"):
    page = text(client.get(f"/dc/{slug}/"))
    return client.post(
        f"/dc/{slug}/login",
        data={"csrf_token": csrf(page), "method": "password", "username": username, "password": password},
    )


def sign_in_by_account(client, number: str, postal: str, slug="bayview"):
    page = text(client.get(f"/dc/{slug}/"))
    return client.post(
        f"/dc/{slug}/login",
        data={"csrf_token": csrf(page), "method": "account", "account_number": number, "postal_code": postal},
    )


def staff_sign_in(client, password="wrong"):
    page = text(client.get(f"{DC}/admin/"))
    return client.post(f"{DC}/admin/login", data={"csrf_token": csrf(page), "username": "staff", "password": password})


def developer_sign_in(client, email="nobody@example.com", password="wrong-password"):
    page = text(client.get(f"{DC}/developer/"))
    return client.post(f"{DC}/developer/login", data={"csrf_token": csrf(page), "email": email, "password": password})


def sign_up(client, email: str, password="correct horse battery"):
    page = text(client.get(f"{DC}/developer/"))
    return client.post(
        f"{DC}/developer/signup",
        data={"csrf_token": csrf(page), "name": "Ann's Apps", "email": email, "password": password},
    )


def basic(credentials: tuple[str, str]) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode()}


def client_token(client, credentials=DEMO, endpoint="token", slug="bayview"):
    data = {"grant_type": "client_credentials"} if endpoint == "token" else {"token": "not-a-token"}
    return client.post(f"/dc/{slug}/oauth/{endpoint}", data=data, headers=basic(credentials))


def demo_customer(app, slug="bayview") -> Customer:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug=slug))).one()


def assert_page_refusal(r, name: str, setting: str, seconds: int):
    """A 429 page of the utility's site naming the limit, with Retry-After at most the window."""
    assert r.status_code == 429, text(r)[:300]
    assert 0 < int(r.headers["Retry-After"]) <= seconds
    html = text(r)
    assert r.mimetype == "text/html" and 'id="limit-error"' in html and name in html and f"SANDBOX_{setting}" in html
    assert 'class="topbar"' in html and "Bayview Power &amp; Light" in html  # the site's own page, styled


def assert_json_refusal(r, name: str, setting: str, seconds: int):
    """An OAuth-style error object naming the limit, with Retry-After at most the window."""
    assert r.status_code == 429, text(r)[:300]
    assert 0 < int(r.headers["Retry-After"]) <= seconds
    body = r.get_json()
    assert body["error"] == "too_many_requests" and body["limit"] == name and body["setting"] == f"SANDBOX_{setting}"
    assert "the limit is" in body["error_description"] and "Try again in" in body["error_description"]
    assert body["retry_after"] == int(r.headers["Retry-After"])


# --- sign-in -----------------------------------------------------------------------------------


def test_failed_sign_ins_per_address_trip_at_the_limit_for_every_sign_in_page(make_app):
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="3 per minute")
    attacker = client_at(app, "203.0.113.7")
    # three failures, each with another login (under the lock-out of any one of them) and on another page
    assert sign_in(attacker, username="nobody1", password="x").status_code == 401
    assert staff_sign_in(attacker).status_code == 401
    assert developer_sign_in(attacker).status_code == 401
    for refused in (sign_in(attacker), staff_sign_in(attacker, "staff"), developer_sign_in(attacker)):
        # the right password too: the limit is judged before the credentials
        assert_page_refusal(refused, "sign-in failures per address", "RATELIMIT_SIGNIN_PER_ADDRESS", 60)
        assert "3 per minute" in text(refused)
    assert "Hello" not in text(attacker.get(f"{DC}/"))
    # another address is not held back
    assert sign_in(client_at(app, "203.0.113.8")).status_code == 303


def test_successful_sign_ins_are_not_counted(make_app):
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="2 per minute", RATELIMIT_SIGNIN_ACROSS_ACCOUNTS="2 per minute")
    browser = client_at(app)
    for _ in range(5):
        assert sign_in(browser).status_code == 303
    assert sign_in(browser, password="wrong").status_code == 401
    assert sign_in(browser, password="wrong").status_code == 401
    assert sign_in(browser).status_code == 429


def test_a_refused_form_is_not_a_failed_sign_in(make_app):
    """Empty fields (400) and a missing CSRF token never reach the credentials: they count for nothing."""
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="1 per minute")
    browser = client_at(app)
    for _ in range(3):
        assert sign_in(browser, username=" ", password="").status_code == 400
        assert (
            browser.post(f"{DC}/login", data={"method": "password", "username": "x", "password": "y"}).status_code
            == 400
        )
    assert sign_in(browser, password="wrong").status_code == 401
    assert sign_in(browser).status_code == 429


def test_failed_sign_ins_per_account_number_from_many_addresses(make_app):
    app = make_app(RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER="2 per hour")
    demo = demo_customer(app)
    for n in range(3):  # password sign-ins name no account number: not counted here
        assert sign_in(client_at(app, f"198.51.100.{10 + n}"), username=f"nobody{n}", password="x").status_code == 401
    assert sign_in(client_at(app, "198.51.100.20")).status_code == 303
    spaced = f"{demo.account_number[:4]} {demo.account_number[4:]}"  # the same account number, typed otherwise
    assert sign_in_by_account(client_at(app, "198.51.100.1"), demo.account_number, "00000").status_code == 401
    assert sign_in_by_account(client_at(app, "198.51.100.2"), spaced, "00001").status_code == 401
    refused = sign_in_by_account(client_at(app, "198.51.100.3"), demo.account_number, demo.postal_code)
    assert_page_refusal(refused, "sign-in failures per account number", "RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER", 3600)
    # another account number, and the password sign-in of the same customer, are not held back
    assert sign_in_by_account(client_at(app, "198.51.100.3"), "1234567890", "00000").status_code == 401
    assert sign_in(client_at(app, "198.51.100.3")).status_code == 303


def test_failed_sign_ins_across_accounts_stop_spraying_from_many_addresses(make_app):
    app = make_app(RATELIMIT_SIGNIN_ACROSS_ACCOUNTS="4 per 10 minutes")
    demo = demo_customer(app)
    for n in range(4):  # one guess per address and per account number, under every per-address and per-login rule
        r = sign_in_by_account(client_at(app, f"192.0.2.{n + 1}"), f"{n + 1}00000000{n}", "94601")
        assert r.status_code == 401
    refused = sign_in_by_account(client_at(app, "192.0.2.50"), demo.account_number, demo.postal_code)
    assert_page_refusal(refused, "sign-in failures across accounts", "RATELIMIT_SIGNIN_ACROSS_ACCOUNTS", 600)
    assert "4 per 10 minutes" in text(refused)
    # the counter is the utility's: another utility's customers sign in
    assert sign_in(client_at(app, "192.0.2.50"), slug="prairie").status_code == 303


def test_an_attempt_on_a_locked_login_counts_as_a_failure(make_app):
    """The lock-out's own 429 (five failures in a row for one login) is a failed attempt as well."""
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="6 per minute")
    browser = client_at(app)
    statuses = [sign_in(browser, password="wrong").status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]
    refused = sign_in(browser, username="nobody", password="x")
    assert_page_refusal(refused, "sign-in failures per address", "RATELIMIT_SIGNIN_PER_ADDRESS", 60)


# --- client authentication ---------------------------------------------------------------------


def test_failed_client_authentication_per_client_at_token_revoke_and_introspect(make_app):
    app = make_app(RATELIMIT_CLIENT_AUTH_PER_CLIENT="3 per minute")
    wrong = (DEMO[0], "wrong-secret")
    for _ in range(4):  # a request that names no client is no client's failure
        anonymous = client_at(app).post(f"{DC}/oauth/token", data={"grant_type": "client_credentials"})
        assert anonymous.status_code in (400, 401) and anonymous.get_json()["error"] == "invalid_client"
    for endpoint in ("token", "revoke", "introspect"):  # one counter for the three endpoints
        r = client_token(client_at(app, "203.0.113.1"), wrong, endpoint)
        assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"
    for endpoint in ("token", "revoke", "introspect"):  # now even the right secret waits, from anywhere
        assert_json_refusal(
            client_token(client_at(app, "203.0.113.2"), DEMO, endpoint),
            "client authentication failures per client",
            "RATELIMIT_CLIENT_AUTH_PER_CLIENT",
            60,
        )
    # client_secret_post names the same client
    posted = client_at(app).post(
        f"{DC}/oauth/token", data={"grant_type": "client_credentials", "client_id": DEMO[0], "client_secret": DEMO[1]}
    )
    assert posted.status_code == 429
    # another client, and the same client_id at another utility, are not held back
    assert client_token(client_at(app, "203.0.113.1"), UPLOAD).status_code == 200
    assert client_token(client_at(app, "203.0.113.1"), DEMO, slug="prairie").status_code == 200


def test_successful_client_authentication_is_not_counted(make_app):
    app = make_app(RATELIMIT_CLIENT_AUTH_PER_CLIENT="2 per minute", RATELIMIT_CLIENT_AUTH_PER_ADDRESS="2 per minute")
    client = client_at(app)
    for _ in range(6):
        assert client_token(client).status_code == 200
    # a refused grant with good credentials is not a failed authentication either
    bad_grant = client.post(
        f"{DC}/oauth/token",
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": "http://127.0.0.1:9/cb"},
        headers=basic(DEMO),
    )
    assert bad_grant.status_code == 400 and bad_grant.get_json()["error"] != "invalid_client"
    assert client_token(client).status_code == 200


def test_failed_client_authentication_per_address_with_ever_new_client_ids(make_app):
    app = make_app(RATELIMIT_CLIENT_AUTH_PER_ADDRESS="3 per minute")
    flood = client_at(app, "203.0.113.9")
    for n in range(3):
        r = client_token(flood, (f"made-up-{n}", "secret"))
        assert r.status_code == 401 and r.get_json()["error"] == "invalid_client"
    assert_json_refusal(
        client_token(flood, DEMO, "introspect"),
        "client authentication failures per address",
        "RATELIMIT_CLIENT_AUTH_PER_ADDRESS",
        60,
    )
    malformed = flood.post(
        f"{DC}/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic \u00e9\u00e9"}
    )
    assert malformed.status_code == 429  # no client_id to count it by: the address limit still holds
    assert client_token(client_at(app, "203.0.113.10"), DEMO).status_code == 200


# --- open registration ---------------------------------------------------------------------------


def registration(client, name="Grid Graph", **headers):
    return client.post(
        f"{DC}/espi/1_1/register",
        json={"client_name": name, "redirect_uris": ["https://gg.example.com/cb"]},
        headers={"Accept": "application/json", **headers},
    )


def test_registrations_per_address_count_what_was_registered(make_app):
    app = make_app(RATELIMIT_REGISTRATION_PER_ADDRESS="2 per hour")
    registrar = client_at(app, "203.0.113.20")
    for _ in range(3):  # refused bodies store nothing: not counted
        assert registrar.post(f"{DC}/espi/1_1/register", json={"client_name": ""}).status_code == 400
    assert registration(registrar, "One").status_code == 201
    assert registration(registrar, "Two").status_code == 201
    refused = registration(registrar, "Three")
    assert_json_refusal(refused, "registrations per address", "RATELIMIT_REGISTRATION_PER_ADDRESS", 3600)
    assert registration(client_at(app, "203.0.113.21"), "Elsewhere").status_code == 201


def test_developer_sign_ups_per_address_count_every_attempt(make_app):
    app = make_app(RATELIMIT_SIGNUP_PER_ADDRESS="2 per hour")
    browser = client_at(app, "203.0.113.30")
    assert sign_up(browser, "ann@example.com").status_code == 303
    assert sign_up(client_at(app, "203.0.113.30"), "ann@example.com").status_code == 400  # taken: counted too
    refused = sign_up(client_at(app, "203.0.113.30"), "bob@example.com")
    assert_page_refusal(refused, "developer sign-ups per address", "RATELIMIT_SIGNUP_PER_ADDRESS", 3600)
    assert sign_up(client_at(app, "203.0.113.31"), "bob@example.com").status_code == 303


# --- switches and configuration --------------------------------------------------------------------


def test_ratelimit_off_lets_everything_through(make_app):
    tiny = {rule.setting: "1 per hour" for rule in limits.RULES}
    app = make_app(RATELIMIT=False, **tiny)
    client = client_at(app)
    for _ in range(3):
        assert sign_in(client, username="nobody", password="x").status_code == 401
        assert client_token(client, (DEMO[0], "wrong")).status_code == 401
        assert registration(client).status_code == 201
    assert sign_in(client).status_code == 303 and client_token(client).status_code == 200


def test_one_limit_off_leaves_the_others_on(make_app):
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="off", RATELIMIT_SIGNIN_ACROSS_ACCOUNTS="2 per minute")
    client = client_at(app)
    assert [sign_in(client, username=f"nobody{n}", password="x").status_code for n in range(3)] == [401, 401, 429]
    assert "sign-in failures across accounts" in text(sign_in(client))


def test_every_limit_has_a_default_and_an_environment_variable():
    environment = {key: var for var, (key, _) in ENVIRONMENT.items()}
    for rule in limits.RULES:
        assert limits.configured(DEFAULTS, rule), rule.setting  # on by default, and parses
        assert environment[rule.setting] == f"SANDBOX_{rule.setting}"
    assert DEFAULTS["RATELIMIT"] is True and environment["RATELIMIT"] == "SANDBOX_RATELIMIT"
    assert DEFAULTS["RATELIMIT_STORAGE"] == "database"  # shared by every process serving the world
    cfg = load_config(
        environ={
            "SANDBOX_RATELIMIT": "off",
            "SANDBOX_RATELIMIT_SIGNIN_PER_ADDRESS": "5 per minute",
            "SANDBOX_RATELIMIT_STORAGE": "memory://",
        }
    )
    assert cfg["RATELIMIT"] is False and cfg["RATELIMIT_SIGNIN_PER_ADDRESS"] == "5 per minute"


@pytest.mark.parametrize(
    "config, words",
    [
        ({"RATELIMIT_SIGNIN_PER_ADDRESS": "often"}, "SANDBOX_RATELIMIT_SIGNIN_PER_ADDRESS='often' is not a rate limit"),
        ({"RATELIMIT_STORAGE": "nosuch://host"}, "SANDBOX_RATELIMIT_STORAGE='nosuch://host'"),
    ],
)
def test_a_bad_limit_or_storage_stops_the_app_naming_the_variable(make_app, config, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        make_app(**config)


def test_the_policy_names_only_views_that_exist(make_app):
    app = make_app(**{rule.setting: DEFAULTS[rule.setting] for rule in limits.RULES})
    for endpoint in limits.ENDPOINTS:
        assert hasattr(app.view_functions[endpoint], "__wrapped__"), endpoint  # wrapped in its limits


def test_a_storage_that_fails_lets_requests_through(make_app, monkeypatch):
    """A shared store (redis, memcached) that went away must not take sign-in down: no 500, no limit."""
    app = make_app(RATELIMIT_SIGNIN_PER_ADDRESS="1 per minute")
    storage = app.extensions["limits"].limiter.storage

    def unreachable(*args, **kwargs):
        raise ConnectionError("the store is down")

    for method in ("get", "incr", "get_expiry"):
        monkeypatch.setattr(storage, method, unreachable)
    client = client_at(app)
    assert [sign_in(client, username=f"nobody{n}", password="x").status_code for n in range(3)] == [401] * 3
    assert sign_in(client).status_code == 303
