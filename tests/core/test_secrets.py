"""What the database keeps of secrets, and what checking them costs (issue 21, item 5).

Client secrets and registration access tokens are long random strings: kept as an HMAC-SHA256 under
the world's own key, compared in constant time, never scrypt. Human passwords keep werkzeug's slow
hash, checked a few at a time and never while a write transaction is open (a flood of sign-ins
stalled every write on SQLite); the lock-out rule stays exact."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import threading
import types

import pytest
from conftest import ROOT
from sqlalchemy import select
from web.helpers import offered, overlapping, sb_of

from sandbox import create_app
from sandbox.core import secrets
from sandbox.core.db import Database
from sandbox.core.errors import Refused
from sandbox.core.models import Application, Customer, Developer, LoginThrottle, WorldState
from sandbox.services import onboarding, signin, world
from sandbox.services.onboarding.metadata import Metadata
from sandbox.synth.people import DEMO_PASSWORD
from sandbox.synth.world import read_seed_dir

TOKEN = "/dc/bayview/oauth/token"


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def key_of(app) -> str:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(WorldState.digest_key))


def app_row(app, client_id: str, slug: str = "bayview") -> Application:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Application).where(Application.client_id == client_id, Application.utility.has(slug=slug))
        ).one()


def bayview_id(app) -> int:
    return app_row(app, "demo-third-party").utility_id


def issue(app) -> onboarding.Issued:
    sb = sb_of(app)
    meta = Metadata(name="Keyed", redirect_uris=["https://keyed.example.com/cb"], scopes=offered(sb.world)[:1])
    return onboarding.register(sb.db, sb.clock, bayview_id(app), sb.world.seed, meta, registration_token=True)


def assert_keyed(stored: str, secret: str, key: str) -> None:
    """`stored` is the HMAC-SHA256 of `secret` under `key`: not the secret, not its plain digest, not scrypt."""
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and "$" not in stored and not stored.startswith("scrypt")
    assert stored == hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert stored != hashlib.sha256(secret.encode()).hexdigest() and secret not in stored


# --- client secrets and registration access tokens -------------------------------------------


def test_seeded_registered_and_rotated_secrets_are_keyed_digests(app):
    key = key_of(app)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    for client_id, secret in (
        ("demo-third-party", "demo-secret"),
        ("upload-client", "upload-secret"),
        ("data-custodian", "data-custodian-secret"),
    ):
        assert_keyed(app_row(app, client_id).client_secret_hash, secret, key)
    issued = issue(app)
    row = app_row(app, issued.app.client_id)
    assert_keyed(row.client_secret_hash, issued.client_secret, key)
    assert_keyed(row.registration_token_hash, issued.registration_access_token, key)
    sb = sb_of(app)
    new = onboarding.rotate_secret(sb.db, row.utility_id, row.id)
    assert_keyed(app_row(app, issued.app.client_id).client_secret_hash, new, key)


def test_each_world_has_its_own_key_and_a_reset_keeps_it(app, tmp_path, clock):
    other = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}", "CUSTOMERS": 0, "TESTING": True}, clock=clock
    )
    try:
        assert key_of(other) != key_of(app)
        assert (
            app_row(other, "demo-third-party").client_secret_hash != app_row(app, "demo-third-party").client_secret_hash
        )
    finally:
        sb_of(other).db.engine.dispose()
    key, stored = key_of(app), app_row(app, "demo-third-party").client_secret_hash
    sb = sb_of(app)
    world.reset_to_seed(sb.db, sb.clock, 0)
    assert key_of(app) == key and app_row(app, "demo-third-party").client_secret_hash == stored


def test_the_token_endpoint_takes_the_right_secret_and_nothing_near_it(client, app):
    ok = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("demo-third-party", "demo-secret"))
    assert ok.status_code == 200 and ok.json["access_token"]
    stored = app_row(app, "demo-third-party").client_secret_hash
    for wrong in (
        "demo-secret ",
        "Demo-secret",
        "demo-secre",
        "upload-secret",
        stored,
        hashlib.sha256(b"demo-secret").hexdigest(),
        "",
    ):
        r = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("demo-third-party", wrong))
        assert r.status_code == 401 and r.json["error"] == "invalid_client", wrong


def test_client_secrets_are_compared_in_constant_time(client, app, monkeypatch):
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(secrets, "hmac", types.SimpleNamespace(new=hmac.new, compare_digest=compare_digest))
    stored, key = app_row(app, "demo-third-party").client_secret_hash, key_of(app)
    for secret, status in (("demo-secret", 200), ("not-it", 401)):
        compared.clear()
        r = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("demo-third-party", secret))
        assert r.status_code == status
        assert compared == [(secrets.keyed_digest(key, secret), stored)]


def test_a_registration_access_token_works_by_its_keyed_digest_only(client, app):
    issued = issue(app)
    path = f"/dc/bayview/espi/1_1/resource/ApplicationInformation/{issued.app.uuid}"
    assert client.get(path, headers={"Authorization": f"Bearer {issued.registration_access_token}"}).status_code == 200
    stored = app_row(app, issued.app.client_id).registration_token_hash
    for wrong in (
        stored,
        hashlib.sha256(issued.registration_access_token.encode()).hexdigest(),
        issued.registration_access_token[:-1],
    ):
        assert client.get(path, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401


def test_repeating_the_secret_in_a_registration_update_checks_its_digest(app):
    sb = sb_of(app)
    issued = issue(app)
    meta = Metadata(name="Keyed 2", redirect_uris=["https://keyed.example.com/cb"], scopes=offered(sb.world)[:1])
    profile = sb.world.utility("bayview").profile
    for wrong in ("nope", "\ud800", 12345, app_row(app, issued.app.client_id).client_secret_hash):
        with pytest.raises(Refused, match="client_secret"):
            onboarding.update_registered(
                sb.db, sb.clock, bayview_id(app), issued.app.uuid, meta, profile, client_secret=wrong
            )
    done = onboarding.update_registered(
        sb.db, sb.clock, bayview_id(app), issued.app.uuid, meta, profile, client_secret=issued.client_secret
    )
    assert done.name == "Keyed 2"


def test_a_process_learns_the_key_of_a_world_another_process_seeded(client, app, clock):
    """The key is read once per process; a world seeded afresh elsewhere (a new key) does not lock
    this process's clients out."""
    assert (
        client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=basic("demo-third-party", "demo-secret")
        ).status_code
        == 200
    )
    before = key_of(app)
    elsewhere = Database(sb_of(app).db.url)
    try:
        world.seed_world(elsewhere, read_seed_dir(ROOT / "seed_data"), clock, customers=0)
    finally:
        elsewhere.engine.dispose()
    assert key_of(app) != before
    r = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("demo-third-party", "demo-secret"))
    assert r.status_code == 200, r.json


# --- human passwords: slow, a few at a time, outside write transactions ------------------------


def test_human_passwords_keep_a_slow_hash(app):
    sb = sb_of(app)
    onboarding.sign_up(sb.db, sb.clock, bayview_id(app), "Ann", "ann@example.com", "correct horse")
    with sb.db.sessions() as s:
        hashes = list(s.scalars(select(Customer.password_hash))) + list(s.scalars(select(Developer.password_hash)))
    assert hashes and all(h.startswith("scrypt:") for h in hashes)


def _no_write_lock(path: str) -> bool:
    """Whether another connection could begin writing this SQLite file at once (no one holds its write lock)."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


@pytest.mark.parametrize("attempt", ["known name", "unknown name", "developer", "unknown developer", "sign-up"])
def test_no_password_is_checked_or_hashed_while_a_write_transaction_is_open(app, monkeypatch, attempt):
    sb = sb_of(app)
    uid, path = bayview_id(app), sb.db.engine.url.database
    if attempt.endswith("developer"):
        onboarding.sign_up(sb.db, sb.clock, uid, "Ann", "ann@example.com", "correct horse")
    free = []

    def checked(real):
        def run(*args):
            free.append(_no_write_lock(path))
            return real(*args)

        return run

    monkeypatch.setattr(signin, "password_matches", checked(secrets.password_matches))
    monkeypatch.setattr(onboarding.developers, "password_hash", checked(secrets.password_hash))
    if attempt == "known name":
        signin.login_with_password(sb.db, sb.clock, uid, "demo", "wrong")
    elif attempt == "unknown name":
        signin.login_with_password(sb.db, sb.clock, uid, "nobody-at-all", "wrong")
    elif attempt == "developer":
        signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "wrong horse")
    elif attempt == "unknown developer":
        signin.developer_login(sb.db, sb.clock, uid, "eve@example.com", "wrong horse")
    else:
        onboarding.sign_up(sb.db, sb.clock, uid, "Bob", "bob@example.com", "battery staple")
    assert free == [True]


def test_unknown_names_are_checked_against_a_slow_hash_as_wrong_passwords_are(app, monkeypatch):
    sb = sb_of(app)
    uid = bayview_id(app)
    onboarding.sign_up(sb.db, sb.clock, uid, "Ann", "ann@example.com", "correct horse")
    against = []
    monkeypatch.setattr(signin, "password_matches", lambda stored, pw: against.append(stored) or False)
    signin.login_with_password(sb.db, sb.clock, uid, "demo", "wrong")
    signin.login_with_password(sb.db, sb.clock, uid, "nobody-at-all", "wrong")
    signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "wrong")
    signin.developer_login(sb.db, sb.clock, uid, "eve@example.com", "wrong")
    assert len(against) == 4 and len({h.split("$")[0] for h in against}) == 1  # one method, one cost
    assert against[1] == against[3] == signin.dummy_hash()


def test_a_lock_set_while_the_right_password_is_checked_refuses_it(app, monkeypatch):
    """The check runs outside the transaction that records it: failures recorded meanwhile (here,
    wrong postal codes for the same customer) lock the login, and the right password is refused."""
    sb = sb_of(app)
    uid = bayview_id(app)
    with sb.db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.utility_id == uid, Customer.username == "demo")).one()
    real = secrets.password_matches

    def meanwhile(stored, password):
        for _ in range(signin.MAX_FAILURES):
            signin.login_with_account(sb.db, sb.clock, uid, demo.account_number, "00000")
        return real(stored, password)

    monkeypatch.setattr(signin, "password_matches", meanwhile)
    result = signin.login_with_password(sb.db, sb.clock, uid, "demo", DEMO_PASSWORD)
    assert not result.ok and result.locked
    assert signin.sign_in_lock(sb.db, sb.clock, uid, demo.id).locked_until == result.locked_until


def test_failures_whose_checks_all_overlap_all_count(app, monkeypatch):
    """Every attempt is past the lock check and inside its password check before any is recorded:
    each failure still counts, and the fifth locks the login."""
    sb = sb_of(app)
    uid = bayview_id(app)
    inside = threading.Barrier(signin.MAX_FAILURES)
    real = secrets.password_matches

    def together(stored, password):
        inside.wait(30)
        return real(stored, password)

    monkeypatch.setattr(signin, "password_matches", together)
    results = overlapping(
        lambda i: signin.login_with_password(sb.db, sb.clock, uid, "demo", f"bad-{i}"), signin.MAX_FAILURES
    )
    assert sum(r.locked for r in results) == 1 and not any(r.ok for r in results)
    monkeypatch.setattr(signin, "password_matches", real)
    assert signin.login_with_password(sb.db, sb.clock, uid, "demo", DEMO_PASSWORD).locked
    with sb.db.sessions() as s:
        assert s.scalars(select(LoginThrottle).where(LoginThrottle.utility_id == uid)).one().locked_until


def test_at_most_slow_at_once_passwords_are_checked_together(monkeypatch):
    """The slow hash of a flood of sign-ins takes at most SLOW_AT_ONCE cores; the others serve the rest."""
    inside, most, lock = [0], [0], threading.Condition()
    release = threading.Event()

    def slow_check(stored, password):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            lock.notify_all()
        release.wait(30)
        with lock:
            inside[0] -= 1
        return False

    monkeypatch.setattr(secrets, "check_password_hash", slow_check)
    threads = [
        threading.Thread(target=secrets.password_matches, args=("scrypt:x$y$z", "pw"))
        for _ in range(secrets.SLOW_AT_ONCE + 2)
    ]
    for t in threads:
        t.start()
    with lock:
        assert lock.wait_for(lambda: inside[0] == secrets.SLOW_AT_ONCE, 30)
        assert not lock.wait_for(lambda: inside[0] > secrets.SLOW_AT_ONCE, 0.5)  # the others wait their turn
    release.set()
    for t in threads:
        t.join(30)
    assert most[0] == secrets.SLOW_AT_ONCE and inside[0] == 0


def test_published_passwords_are_hashed_once_per_process(app, tmp_path, clock, monkeypatch):
    """A fresh world hashes no password the seed files publish again (the first app of the process did)."""
    made = []
    real = secrets.generate_password_hash
    monkeypatch.setattr(secrets, "generate_password_hash", lambda pw: made.append(pw) or real(pw))
    other = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'again.db'}", "CUSTOMERS": 1, "TESTING": True}, clock=clock
    )
    try:
        assert made == []
        sb = sb_of(other)
        uid = app_row(other, "demo-third-party").utility_id
        assert signin.login_with_password(sb.db, sb.clock, uid, "demo", DEMO_PASSWORD).ok
        with sb.db.sessions() as s:
            generated = s.scalars(select(Customer).where(Customer.utility_id == uid, Customer.number == 1)).one()
        assert signin.login_with_password(sb.db, sb.clock, uid, generated.username, sb.world.customer_password).ok
    finally:
        sb_of(other).db.engine.dispose()
