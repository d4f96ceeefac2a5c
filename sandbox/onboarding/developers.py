"""Developer accounts: signing up, signing in (with the shared lock-out rule) and looking one up."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import Clock
from ..db import Database
from ..models import Developer
from .errors import NotFound, Refused
from .metadata import MAX_NAME, _email

MIN_PASSWORD = 8


def sign_up(db: Database, clock: Clock, utility_id: int, name: str, email: str, password: str) -> Developer:
    """A new developer account at one utility; e-mail addresses are unique per utility (any case)."""
    name = (name or "").strip()
    if not name:
        raise Refused("name: enter your name or your company's.", "name")
    if len(name) > MAX_NAME:
        raise Refused(f"name: at most {MAX_NAME} characters.", "name")
    email = _email(email)
    if len(password or "") < MIN_PASSWORD:
        raise Refused(f"password: at least {MIN_PASSWORD} characters.", "password")
    if len(password) > 200:
        raise Refused("password: at most 200 characters.", "password")
    hashed = generate_password_hash(password)
    taken = Refused("email: there is already a developer account with this e-mail address; sign in instead.", "email")
    try:
        with db.transaction() as s:
            if s.scalar(select(Developer.id).where(Developer.utility_id == utility_id,
                                                   func.lower(Developer.email) == email.lower())) is not None:
                raise taken
            dev = Developer(utility_id=utility_id, email=email, name=name, password_hash=hashed, created_at=clock.naive_now())
            s.add(dev)
            s.flush()
            return dev
    except IntegrityError:  # the same address signed up at the same moment
        raise taken from None


@dataclass(frozen=True)
class DeveloperLogin:
    developer_id: int | None = None
    error: str | None = None
    locked_until: dt.datetime | None = None  # aware UTC

    @property
    def ok(self) -> bool:
        return self.developer_id is not None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def developer_login(db: Database, clock: Clock, utility_id: int, email: str, password: str) -> DeveloperLogin:
    """Check e-mail and password, with the same lock-out rule as customer and staff sign-in
    (accounts.MAX_FAILURES failures in a row lock the login for accounts.LOCKOUT)."""
    from .. import accounts

    email = (email or "").strip()
    with db.sessions() as s:
        dev = s.scalars(select(Developer).where(Developer.utility_id == utility_id,
                                                func.lower(Developer.email) == email.lower())).first()

    def check(_s: Session):
        good = check_password_hash(dev.password_hash if dev else accounts.dummy_hash(), password or "")
        # accounts.LoginResult carries the signed-in id in customer_id
        return accounts.LoginResult(customer_id=dev.id, ok=True) if dev and good else \
            accounts.LoginResult(error=accounts.BAD_LOGIN)

    result = accounts.throttled(db, clock, utility_id, f"developer:{email.lower()[:180]}", check)
    if result.ok:
        return DeveloperLogin(developer_id=result.customer_id)
    return DeveloperLogin(error=result.error, locked_until=result.locked_until)


def developer(s: Session, utility_id: int, developer_id: int) -> Developer:
    dev = s.get(Developer, developer_id)
    if dev is None or dev.utility_id != utility_id:
        raise NotFound(developer_id)
    return dev
