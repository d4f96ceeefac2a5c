"""OAuth codes and tokens as records: stored as digests, found by value, redeemed and rotated
atomically (a conditional UPDATE is the first statement of its transaction, so two racing
requests cannot both win, on SQLite or PostgreSQL), and revoked. The UPDATEs go through the
session's connection: no ORM object is loaded yet when they run, so none can be stale."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from sandbox.core.clock import to_naive_utc
from sandbox.core.models import Application, Authorization, Customer, OAuthCode, OAuthToken
from sandbox.core.secrets import digest


def store(s: Session, *, app: Application, kind: str, token: dict, authorization: Authorization | None,
          now: dt.datetime, refresh_until: dt.datetime | None) -> OAuthToken:
    """Keep the digests of a token response's access (and refresh) token."""
    issued = to_naive_utc(now)
    row = OAuthToken(utility_id=app.utility_id, application_id=app.id, authorization_id=authorization.id if authorization else None,
                     kind=kind, access_hash=digest(token["access_token"]),
                     refresh_hash=digest(token["refresh_token"]) if token.get("refresh_token") else None,
                     scope=token.get("scope") or "", issued_at=issued,
                     expires_at=issued + dt.timedelta(seconds=int(token["expires_in"])),
                     refresh_expires_at=to_naive_utc(refresh_until) if token.get("refresh_token") and refresh_until else None)
    s.add(row)
    s.flush()
    return row


def find(s: Session, utility_id: int, value: str, refresh: bool = False) -> OAuthToken | None:
    column = OAuthToken.refresh_hash if refresh else OAuthToken.access_hash
    return s.scalars(select(OAuthToken).where(OAuthToken.utility_id == utility_id, column == digest(value))).first()


# built once: the resource server runs it on every call
_FOR_CALL = (select(OAuthToken, Application, Authorization, Customer)
             .join(Application, OAuthToken.application_id == Application.id)
             .outerjoin(Authorization, OAuthToken.authorization_id == Authorization.id)
             .outerjoin(Customer, Authorization.customer_id == Customer.id)
             .where(OAuthToken.utility_id == bindparam("utility_id"), OAuthToken.access_hash == bindparam("hash")))


def find_for_call(s: Session, utility_id: int, value: str) -> OAuthToken | None:
    """An access token with what judging a resource-server call reads (its application, its
    authorization and customer) from one row, set on the token as loaded: reading them costs no
    further query (a quarter of what joinedload options cost)."""
    row = s.execute(_FOR_CALL, {"utility_id": utility_id, "hash": digest(value)}).first()
    if row is None:
        return None
    token, app, auth, customer = row
    set_committed_value(token, "application", app)
    set_committed_value(token, "authorization", auth)
    if auth is not None:
        set_committed_value(auth, "customer", customer)
        if auth.application_id == app.id:
            set_committed_value(auth, "application", app)
    return token


def find_code(s: Session, utility_id: int, value: str) -> OAuthCode | None:
    return s.scalars(select(OAuthCode).where(OAuthCode.utility_id == utility_id,
                                             OAuthCode.code_hash == digest(value))).first()


def redeem_code(s: Session, utility_id: int, value: str, application_id: int, now: dt.datetime) -> bool:
    """Mark the code used if it is this application's, unused and unexpired: True for the one
    request that does. Call it first in its transaction."""
    n = to_naive_utc(now)
    done = s.connection().execute(update(OAuthCode).where(
        OAuthCode.utility_id == utility_id, OAuthCode.code_hash == digest(value),
        OAuthCode.application_id == application_id, OAuthCode.used_at.is_(None), OAuthCode.expires_at > n)
        .values(used_at=n))
    return done.rowcount == 1


def retire(s: Session, token_id: int, now: dt.datetime) -> bool:
    """Revoke a token that is not revoked yet: True for the one request that does (a refresh
    retires the token it refreshes). Call it first in its transaction."""
    done = s.connection().execute(update(OAuthToken).where(OAuthToken.id == token_id,
                                                           OAuthToken.revoked_at.is_(None))
                                  .values(revoked_at=to_naive_utc(now)))
    return done.rowcount == 1


def revoke_all_of(s: Session, authorization_id: int, now: dt.datetime) -> int:
    """Revoke every token of the authorization not revoked yet; how many were."""
    n = 0
    for t in s.scalars(select(OAuthToken).where(OAuthToken.authorization_id == authorization_id,
                                                OAuthToken.revoked_at.is_(None))).all():
        t.revoked_at = to_naive_utc(now)
        n += 1
    return n
