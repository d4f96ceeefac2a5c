"""Developer accounts: signing up and looking one up (signing in is `services.signin`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Developer
from sandbox.core.secrets import password_hash
from sandbox.services.onboarding.metadata import MAX_NAME, _email

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
    hashed = password_hash(password)  # before the transaction: it takes a while
    taken = Refused("email: there is already a developer account with this e-mail address; sign in instead.", "email")
    try:
        with db.transaction() as s:
            if (
                s.scalar(
                    select(Developer.id).where(
                        Developer.utility_id == utility_id, func.lower(Developer.email) == email.lower()
                    )
                )
                is not None
            ):
                raise taken
            dev = Developer(
                utility_id=utility_id, email=email, name=name, password_hash=hashed, created_at=clock.naive_now()
            )
            s.add(dev)
            s.flush()
            return dev
    except IntegrityError:  # the same address signed up at the same moment
        raise taken from None


def developer(s: Session, utility_id: int, developer_id: int) -> Developer:
    dev = s.get(Developer, developer_id)
    if dev is None or dev.utility_id != utility_id:
        raise NotFound(developer_id)
    return dev
