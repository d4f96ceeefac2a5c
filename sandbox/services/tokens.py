"""OAuth codes and tokens as records: stored as digests, found by value, redeemed and rotated
atomically (a conditional UPDATE is the first statement of its transaction, so two racing
requests cannot both win, on SQLite or PostgreSQL), and revoked. The UPDATEs go through the
session's connection: no ORM object is loaded yet when they run, so none can be stale.

A resource-server call's token (`find_for_call`, `find_registered`) is kept in the process while
nothing is committed to the database (core.changes): a repeated call reads nothing, and a token
revoked, an authorization ended or a world reset by any process is seen at the next call."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from sandbox.core.changes import kept_of
from sandbox.core.clock import to_naive_utc
from sandbox.core.models import Application, Authorization, Customer, OAuthCode, OAuthToken
from sandbox.core.secrets import digest, keyed_digest, world_key


def store(
    s: Session,
    *,
    app: Application,
    kind: str,
    token: dict,
    authorization: Authorization | None,
    now: dt.datetime,
    refresh_until: dt.datetime | None,
) -> OAuthToken:
    """Keep the digests of a token response's access (and refresh) token (written at the session's next
    flush, with its authorization if that is new too: one flush for both)."""
    issued = to_naive_utc(now)
    row = OAuthToken(
        utility_id=app.utility_id,
        application_id=app.id,
        authorization=authorization,
        kind=kind,
        access_hash=digest(token["access_token"]),
        refresh_hash=digest(token["refresh_token"]) if token.get("refresh_token") else None,
        scope=token.get("scope") or "",
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=int(token["expires_in"])),
        refresh_expires_at=to_naive_utc(refresh_until) if token.get("refresh_token") and refresh_until else None,
    )
    s.add(row)
    return row


def refresh_until(authorization: Authorization, lifetime_days: int, now: dt.datetime) -> dt.datetime:
    """When a refresh token issued now stops working: with its authorization, or after the profile's
    refresh lifetime if that comes first (0: no lifetime of its own)."""
    end = authorization.authorized_end
    return min(end, to_naive_utc(now) + dt.timedelta(days=lifetime_days)) if lifetime_days else end


def find(s: Session, utility_id: int, value: str, refresh: bool = False) -> OAuthToken | None:
    column = OAuthToken.refresh_hash if refresh else OAuthToken.access_hash
    return s.scalars(select(OAuthToken).where(OAuthToken.utility_id == utility_id, column == digest(value))).first()


@dataclass(frozen=True, slots=True)
class CallApp:
    """What judging a resource-server call reads of the token's application."""

    id: int
    uuid: str
    client_id: str
    name: str
    status: str
    profile: str | None = None  # the behaviour profile it was given (None: its utility's)
    faults: tuple[str, ...] = ()

    @classmethod
    def of(cls, app: Application) -> "CallApp":
        return cls(app.id, app.uuid, app.client_id, app.name, app.status, app.profile, tuple(app.faults or ()))


@dataclass(frozen=True, slots=True)
class CallAuthorization:
    """What judging a resource-server call (and finding its subscription) reads of the token's
    authorization: its lifecycle fields, its scope and whose it is."""

    id: int
    uuid: str
    subscription_uuid: str
    scope: str
    status: str
    status_reason: str | None
    ended_at: dt.datetime | None
    authorized_start: dt.datetime
    authorized_end: dt.datetime
    customer_id: int | None
    customer_uuid: str | None
    created_at: dt.datetime | None = None
    pending_calls: int = 0
    faults: tuple[str, ...] = ()

    @classmethod
    def of(cls, auth: Authorization) -> "CallAuthorization":
        return cls(
            auth.id,
            auth.uuid,
            auth.subscription_uuid,
            auth.scope,
            auth.status,
            auth.status_reason,
            auth.ended_at,
            auth.authorized_start,
            auth.authorized_end,
            auth.customer_id,
            auth.customer.uuid if auth.customer is not None else None,
            auth.created_at,
            auth.pending_calls or 0,
            tuple(auth.faults or ()),
        )


@dataclass(frozen=True, slots=True)
class CallToken:
    """An access token as the access policy judges it: plain values read by one Core query, so
    that the resource server's per-call check builds no ORM objects (a third of a small GET's cost)."""

    kind: str
    scope: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    refresh_expires_at: dt.datetime | None
    application: CallApp
    authorization: CallAuthorization | None

    @classmethod
    def of(cls, token: OAuthToken) -> "CallToken":
        auth = token.authorization
        return cls(
            token.kind,
            token.scope,
            token.expires_at,
            token.revoked_at,
            token.refresh_expires_at,
            CallApp.of(token.application),
            CallAuthorization.of(auth) if auth is not None else None,
        )


_T, _A, _Z, _C = (OAuthToken.__table__, Application.__table__, Authorization.__table__, Customer.__table__)
_APP_COLUMNS = (_A.c.id, _A.c.uuid, _A.c.client_id, _A.c.name, _A.c.status, _A.c.profile, _A.c.faults)
_AUTH_COLUMNS = (
    _Z.c.id,
    _Z.c.uuid,
    _Z.c.subscription_uuid,
    _Z.c.scope,
    _Z.c.status,
    _Z.c.status_reason,
    _Z.c.ended_at,
    _Z.c.authorized_start,
    _Z.c.authorized_end,
    _Z.c.customer_id,
    _C.c.uuid,
    _Z.c.created_at,
    _Z.c.pending_calls,
    _Z.c.faults,
)
# built once: the resource server runs it on every call
_FOR_CALL = (
    select(
        _T.c.kind, _T.c.scope, _T.c.expires_at, _T.c.revoked_at, _T.c.refresh_expires_at, *_APP_COLUMNS, *_AUTH_COLUMNS
    )
    .select_from(
        _T.join(_A, _T.c.application_id == _A.c.id)
        .outerjoin(_Z, _T.c.authorization_id == _Z.c.id)
        .outerjoin(_C, _Z.c.customer_id == _C.c.id)
    )
    .where(_T.c.utility_id == bindparam("utility_id"), _T.c.access_hash == bindparam("hash"))
)
_REGISTERED = select(*_APP_COLUMNS).where(
    _A.c.utility_id == bindparam("utility_id"), _A.c.registration_token_hash == bindparam("hash")
)


def find_for_call(s: Session, utility_id: int, value: str) -> CallToken | None:
    """The access token of a resource-server call, with its application, authorization and the
    authorization's customer id, from one row (kept while the database does not change)."""
    hashed = digest(value)
    return kept_of(s, "call-token").get((utility_id, hashed), lambda: _read_for_call(s, utility_id, hashed))


# the authorization's columns in the call query's order: CallAuthorization's fields up to created_at
_AUTH_FIELDS = [f.name for f in dataclasses.fields(CallAuthorization)][:12]


def _read_for_call(s: Session, utility_id: int, hashed: str) -> CallToken | None:
    row = s.connection().execute(_FOR_CALL, {"utility_id": utility_id, "hash": hashed}).first()
    if row is None:
        return None
    n_app = len(_APP_COLUMNS)
    values = list(row)
    app = _app_of(values[5 : 5 + n_app])
    z = values[5 + n_app :]
    auth = None
    if z[0] is not None:  # the authorization's columns, its pending count and faults last
        auth = CallAuthorization(**dict(zip(_AUTH_FIELDS, z[:12])), pending_calls=z[12] or 0, faults=tuple(z[13] or ()))
    kind, scope, expires_at, revoked_at, refresh_expires_at = values[:5]
    return CallToken(kind, scope, expires_at, revoked_at, refresh_expires_at, app, auth)


def _app_of(values: list) -> CallApp:
    id_, uuid, client_id, name, status, profile, faults = values
    return CallApp(id_, uuid, client_id, name, status, profile, tuple(faults or ()))


def find_registered(s: Session, utility_id: int, value: str) -> CallApp | None:
    """The application whose registration access token has this value (RFC 7592), or None (kept as
    its keyed digest: core.secrets; kept while the database does not change)."""
    return kept_of(s, "registration-token").get(
        (utility_id, digest(value)), lambda: _read_registered(s, utility_id, value)
    )


def _read_registered(s: Session, utility_id: int, value: str) -> CallApp | None:
    row = (
        s.connection()
        .execute(_REGISTERED, {"utility_id": utility_id, "hash": keyed_digest(world_key(s), value)})
        .first()
    )
    return _app_of(list(row)) if row is not None else None


def find_code(s: Session, utility_id: int, value: str) -> OAuthCode | None:
    return s.scalars(
        select(OAuthCode).where(OAuthCode.utility_id == utility_id, OAuthCode.code_hash == digest(value))
    ).first()


def redeem_code(s: Session, utility_id: int, value: str, application_id: int, now: dt.datetime) -> bool:
    """Mark the code used if it is this application's, unused and unexpired: True for the one
    request that does. Call it first in its transaction."""
    n = to_naive_utc(now)
    done = s.connection().execute(
        update(OAuthCode)
        .where(
            OAuthCode.utility_id == utility_id,
            OAuthCode.code_hash == digest(value),
            OAuthCode.application_id == application_id,
            OAuthCode.used_at.is_(None),
            OAuthCode.expires_at > n,
        )
        .values(used_at=n)
    )
    return done.rowcount == 1


def void_codes(s: Session, application_id: int, now: dt.datetime) -> int:
    """End the application's unexchanged codes now (they expire at `now`); how many."""
    n = to_naive_utc(now)
    done = s.connection().execute(
        update(OAuthCode)
        .where(OAuthCode.application_id == application_id, OAuthCode.used_at.is_(None), OAuthCode.expires_at > n)
        .values(expires_at=n)
    )
    return done.rowcount


def retire(s: Session, token_id: int, now: dt.datetime) -> bool:
    """Revoke a token that is not revoked yet: True for the one request that does (a refresh
    retires the token it refreshes). Call it first in its transaction."""
    done = s.connection().execute(
        update(OAuthToken)
        .where(OAuthToken.id == token_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=to_naive_utc(now))
    )
    return done.rowcount == 1


def take_refresh(s: Session, utility_id: int, refresh_hash: str) -> int | None:
    """Take a non-rotating refresh token (by its digest) off the row that holds it now, to give it to
    the row a refresh issues: that row's id, or None if no unrevoked row holds it at this statement's
    view. Racing refreshes take it in turn, each from the row the one before gave it to (PostgreSQL
    may answer None to a statement that waited for another's commit: try again). Call it first in
    its transaction."""
    return (
        s.connection()
        .execute(
            update(OAuthToken)
            .where(
                OAuthToken.utility_id == utility_id,
                OAuthToken.refresh_hash == refresh_hash,
                OAuthToken.revoked_at.is_(None),
            )
            .values(refresh_hash=None)
            .returning(OAuthToken.id)
        )
        .scalar_one_or_none()
    )


def refresh_held(s: Session, utility_id: int, refresh_hash: str) -> bool:
    """Whether an unrevoked row holds this refresh token (by its digest)."""
    return (
        s.scalar(
            select(OAuthToken.id).where(
                OAuthToken.utility_id == utility_id,
                OAuthToken.refresh_hash == refresh_hash,
                OAuthToken.revoked_at.is_(None),
            )
        )
        is not None
    )


def retire_issued_by(s: Session, authorization_id: int, cutoff: dt.datetime, now: dt.datetime) -> int:
    """Revoke the authorization's tokens issued at or before `cutoff` that are not revoked yet; how many."""
    done = s.connection().execute(
        update(OAuthToken)
        .where(
            OAuthToken.authorization_id == authorization_id,
            OAuthToken.revoked_at.is_(None),
            OAuthToken.issued_at <= to_naive_utc(cutoff),
        )
        .values(revoked_at=to_naive_utc(now))
    )
    return done.rowcount


def revoke_all_of(s: Session, authorization_id: int, now: dt.datetime) -> int:
    """Revoke every token of the authorization not revoked yet; how many were."""
    n = 0
    for t in s.scalars(
        select(OAuthToken).where(OAuthToken.authorization_id == authorization_id, OAuthToken.revoked_at.is_(None))
    ).all():
        t.revoked_at = to_naive_utc(now)
        n += 1
    return n
