"""Signing in, for customers, utility staff and third-party developers, under one lock-out rule.

After MAX_FAILURES failed sign-ins in a row for one login, that login is refused for LOCKOUT
(by the sandbox clock), even with the right credentials. A success clears the count; after the
lock ends the count starts again from zero. Unknown names lock too, and take as long to refuse
as a wrong password, so a refusal reveals nothing. Each attempt's outcome is recorded in one
short transaction; the password check runs before it, outside any (`throttled`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock, utc
from sandbox.core.db import Database
from sandbox.core.models import Customer, Developer, LoginThrottle
from sandbox.core.secrets import password_hash, password_matches
from sandbox.services import customers
from sandbox.services.customers import normalise_account_number, normalise_postal_code

# The fixed utility-staff login of every utility (documented in the README and on the login page).
STAFF_USERNAME = "staff"
STAFF_PASSWORD = "staff"

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=5)
BAD_LOGIN = "Those sign-in details do not match our records. Check them and try again."
MAX_KEY_NAME = 120  # longer identifiers are kept as their digest (the throttle key column holds 200)


@dataclass(frozen=True)
class LoginResult:
    ok: bool = False
    customer_id: int | None = None  # the customer signed in (customer sign-in only)
    developer_id: int | None = None  # the developer signed in (developer sign-in only)
    error: str | None = None
    locked_until: dt.datetime | None = None  # aware UTC, when the login is locked

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Checked against when no account matches, so an unknown name takes as long as a wrong password."""
    return password_hash("no such account")


def throttle_key(kind: str, name: str) -> str:
    """The lock-out key of a login as typed: a bounded text whatever the caller sends."""
    name = name.lower()
    if len(name) > MAX_KEY_NAME:
        name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    return f"{kind}:{name}"


def _locked_result(until: dt.datetime) -> LoginResult:
    return LoginResult(
        error=f"Too many failed sign-in attempts in a row: this login is locked for "
        f"{int(LOCKOUT.total_seconds() // 60)} minutes.",
        locked_until=utc(until),
    )


def _row(s: Session, utility_id: int, key: str) -> LoginThrottle | None:
    return s.scalars(
        select(LoginThrottle).where(LoginThrottle.utility_id == utility_id, LoginThrottle.key == key)
    ).one_or_none()


def throttled(db: Database, clock: Clock, utility_id: int, key: str, check: Callable[[], LoginResult]) -> LoginResult:
    """check() under the lock-out rule for `key`.

    A lock in force refuses at once. Otherwise check() runs outside any transaction (a password's
    slow hash holds no lock while it runs), and its outcome is recorded in one short transaction
    whose first statement writes the key's row (a no-op UPDATE): concurrent attempts for one key
    take turns there (a row lock on PostgreSQL, the write lock on SQLite), so every failure counts,
    and a lock set by another attempt meanwhile refuses even the right credentials."""
    with db.sessions() as s:
        row = _row(s, utility_id, key)
        if row is not None and row.locked_until is not None and row.locked_until > clock.naive_now():
            return _locked_result(row.locked_until)
    return _record(db, clock, utility_id, key, check())


def _record(db: Database, clock: Clock, utility_id: int, key: str, result: LoginResult) -> LoginResult:
    """The outcome of one attempt, counted; a concurrent first failure may insert the same row,
    which the retry handles."""
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                s.connection().execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.utility_id == utility_id, LoginThrottle.key == key)
                    .values(failures=LoginThrottle.failures)
                )
                now = clock.naive_now()
                row = _row(s, utility_id, key)
                if row is not None and row.locked_until is not None and row.locked_until > now:
                    return _locked_result(row.locked_until)
                if result.ok:
                    if row is not None:
                        s.delete(row)
                    return result
                if row is None:
                    row = LoginThrottle(utility_id=utility_id, key=key, failures=0, last_failure_at=now)
                    s.add(row)
                if row.locked_until is not None:  # an expired lock: count afresh
                    row.locked_until, row.failures = None, 0
                row.failures += 1
                row.last_failure_at = now
                if row.failures >= MAX_FAILURES:
                    row.failures, row.locked_until = 0, now + LOCKOUT
                    s.flush()
                    return _locked_result(row.locked_until)
                return LoginResult(error=BAD_LOGIN)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def login_with_password(db: Database, clock: Clock, utility_id: int, username: str, password: str) -> LoginResult:
    username = (username or "").strip()
    with db.sessions() as s:
        customer = customers.by_username(s, utility_id, username)
    key = f"customer:{customer.id}" if customer else throttle_key("username", username)

    def check() -> LoginResult:
        good = password_matches(customer.password_hash if customer else dummy_hash(), password or "")
        return LoginResult(ok=True, customer_id=customer.id) if customer and good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id, key, check)


def login_with_account(
    db: Database, clock: Clock, utility_id: int, account_number: str, postal_code: str
) -> LoginResult:
    """The second way in: account number (as printed on a bill) and the service address's postal code."""
    number = normalise_account_number(account_number or "")
    with db.sessions() as s:
        customer = s.scalars(
            select(Customer).where(Customer.utility_id == utility_id, Customer.account_number == number)
        ).first()
    key = f"customer:{customer.id}" if customer else throttle_key("account", number)

    def check() -> LoginResult:
        expected = normalise_postal_code(customer.postal_code) if customer else "\0"
        good = hmac.compare_digest(expected.encode(), normalise_postal_code(postal_code or "").encode())
        return LoginResult(ok=True, customer_id=customer.id) if customer and good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id, key, check)


def staff_login(db: Database, clock: Clock, utility_id: int, username: str, password: str) -> LoginResult:
    username = (username or "").strip()

    def check() -> LoginResult:
        good = hmac.compare_digest(username.encode(), STAFF_USERNAME.encode()) & hmac.compare_digest(
            (password or "").encode(), STAFF_PASSWORD.encode()
        )
        return LoginResult(ok=True) if good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id, throttle_key("staff", username), check)


def developer_login(db: Database, clock: Clock, utility_id: int, email: str, password: str) -> LoginResult:
    """A third-party developer's e-mail and password, at one utility."""
    email = (email or "").strip()
    with db.sessions() as s:
        dev = s.scalars(
            select(Developer).where(Developer.utility_id == utility_id, func.lower(Developer.email) == email.lower())
        ).first()

    def check() -> LoginResult:
        good = password_matches(dev.password_hash if dev else dummy_hash(), password or "")
        return LoginResult(ok=True, developer_id=dev.id) if dev and good else LoginResult(error=BAD_LOGIN)

    return throttled(db, clock, utility_id, throttle_key("developer", email), check)


# --- what staff see and clear ----------------------------------------------------------


@dataclass(frozen=True)
class SignInLock:
    failures: int  # failed attempts in a row so far (0 while locked)
    locked_until: dt.datetime | None  # aware UTC, if locked now


def sign_in_lock(db: Database, clock: Clock, utility_id: int, customer_id: int) -> SignInLock | None:
    """The customer's failed sign-ins in a row and any lock in force, or None if there are none."""
    with db.sessions() as s:
        row = s.scalars(
            select(LoginThrottle).where(
                LoginThrottle.utility_id == utility_id, LoginThrottle.key == f"customer:{customer_id}"
            )
        ).one_or_none()
    if row is None:
        return None
    locked = row.locked_until is not None and row.locked_until > clock.naive_now()
    if not locked and (row.locked_until is not None or row.failures == 0):
        return None
    return SignInLock(
        row.failures if not locked else 0, utc(row.locked_until) if locked and row.locked_until is not None else None
    )


def clear_sign_in_lock(db: Database, utility_id: int, customer_id: int) -> None:
    """Staff action: forget the customer's failed sign-ins (ends a lock at once)."""
    with db.transaction() as s:
        s.execute(
            delete(LoginThrottle).where(
                LoginThrottle.utility_id == utility_id, LoginThrottle.key == f"customer:{customer_id}"
            )
        )
