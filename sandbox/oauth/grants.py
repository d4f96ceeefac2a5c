"""What issuing and checking ESPI tokens means for the sandbox's records (no HTTP here).

An authorization-code token creates the customer's Authorization with its Subscription
(the usage points the customer chose); a client-credentials token gets an Authorization
of its own, as ESPI.md 4.1 describes. Token values are never stored, only digests.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_naive_utc
from ..espi.uuids import resource_uuid_str
from ..models import Application, Authorization, Customer, OAuthCode, OAuthToken, UsagePoint
from ..synth.world import Profile
from ..synth.calendar import local_midnight
from .secrets import digest, new_token

CLIENT_SCOPE = "FB=34_35"  # ESPI client-access role: Batch/Bulk, Authorization, ReadServiceStatus
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")




def redirect_allowed(app: Application, uri: str) -> bool:
    """Exact match with a registered URI, or any loopback port (RFC 8252 7.3) for a registered
    loopback URI's path; applications allowed loopback redirects take any loopback http URI."""
    if not uri or "#" in uri:
        return False
    if uri in app.redirect_uris:
        return True
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        return False
    if app.allow_loopback_redirects:
        return True
    for registered in app.redirect_uris:
        r = urlsplit(registered)
        if r.scheme == "http" and r.hostname in LOOPBACK_HOSTS and (r.path, r.query) == (parts.path, parts.query):
            return True
    return False


def _new_authorization(s: Session, seed: int, slug: str, app: Application, customer: Customer | None, scope: str,
                       grant_type: str, start: dt.datetime, end: dt.datetime) -> Authorization:
    name = new_token(12)  # authorizations are created at run time: a fresh name, still a version-5 id
    auth = Authorization(utility_id=app.utility_id, uuid=resource_uuid_str(seed, slug, "authorization", name),
                         subscription_uuid=resource_uuid_str(seed, slug, "subscription", name),
                         application_id=app.id, customer_id=customer.id if customer else None, scope=scope,
                         grant_type=grant_type, status="active", authorized_start=start, authorized_end=end,
                         created_at=start)
    s.add(auth)
    return auth


def authorization_from_code(s: Session, seed: int, slug: str, tz_name: str, code: OAuthCode, profile: Profile,
                            now: dt.datetime) -> Authorization:
    """The customer's grant, created when its code is exchanged; shares only the chosen usage points.

    It lasts the utility's authorization length, or until the customer moves out if sooner."""
    start = to_naive_utc(now)
    end = start + dt.timedelta(days=profile.authorization_days)
    customer = code.customer
    if customer.service_end is not None:
        moved = dt.datetime.fromtimestamp(local_midnight(tz_name, customer.service_end), dt.timezone.utc)
        end = min(end, to_naive_utc(moved))
    auth = _new_authorization(s, seed, slug, code.application, customer, code.scope, "authorization_code", start, end)
    auth.usage_points = usage_points_of(customer, code.usage_point_ids)
    s.flush()
    return auth


def client_authorization(s: Session, seed: int, slug: str, app: Application, scope: str, profile: Profile,
                         now: dt.datetime) -> Authorization:
    start = to_naive_utc(now)
    return _new_authorization(s, seed, slug, app, None, scope, "client_credentials", start,
                              start + dt.timedelta(days=profile.authorization_days))


def store_token(s: Session, *, app: Application, kind: str, token: dict, authorization: Authorization | None,
                now: dt.datetime, refresh_until: dt.datetime | None) -> OAuthToken:
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


def authorization_active(auth: Authorization | None, now: dt.datetime) -> bool:
    return auth is not None and auth.status == "active" and auth.authorized_end > to_naive_utc(now) and \
        auth.application.status not in ("blocked", "on_hold")


def token_usable(token: OAuthToken | None, now: dt.datetime, refresh: bool = False) -> bool:
    """Not revoked, not expired, and its authorization (if any) still active and its application not blocked."""
    if token is None or token.revoked_at is not None:
        return False
    n = to_naive_utc(now)
    if refresh:
        if token.refresh_expires_at is None or token.refresh_expires_at <= n:
            return False
    elif token.expires_at <= n:
        return False
    if token.application.status == "blocked":
        return False
    if token.authorization_id is not None and not authorization_active(token.authorization, now):
        return False
    return True


def find_token(s: Session, utility_id: int, value: str, refresh: bool = False) -> OAuthToken | None:
    column = OAuthToken.refresh_hash if refresh else OAuthToken.access_hash
    return s.scalars(select(OAuthToken).where(OAuthToken.utility_id == utility_id, column == digest(value))).first()


def revoke_tokens_of(s: Session, authorization_id: int, now: dt.datetime) -> int:
    """Revoke every token of the authorization not revoked yet; how many were."""
    n = 0
    for t in s.scalars(select(OAuthToken).where(OAuthToken.authorization_id == authorization_id,
                                                OAuthToken.revoked_at.is_(None))).all():
        t.revoked_at = to_naive_utc(now)
        n += 1
    return n


def end_authorization(s: Session, auth: Authorization, now: dt.datetime, reason: str) -> int:
    """End `auth` at `now`: status 'revoked', `ended_at` and `status_reason` (`reason`) set, and
    every token of it revoked. The number of tokens revoked."""
    auth.status, auth.ended_at, auth.status_reason = "revoked", to_naive_utc(now), reason
    return revoke_tokens_of(s, auth.id, now)


def usage_points_of(customer: Customer, ids: list[int]) -> list[UsagePoint]:
    wanted = set(ids)
    return [up for up in customer.usage_points if up.id in wanted]
