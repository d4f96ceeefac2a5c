"""Application records: registering, looking up, updating, secrets, registration access, terms, approval."""
from __future__ import annotations

import datetime as dt
import secrets as _secrets
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from ..clock import Clock
from ..db import Database
from ..espi.uuids import resource_uuid_str
from ..models import Application, OAuthToken, Utility
from ..oauth.secrets import digest, matches, new_token
from ..synth.world import Profile
from .errors import NotFound, Refused, TokenRefused
from .metadata import Metadata, _apply, apply_metadata
from .status import approve, evaluate
from .times import _naive, _now


@dataclass(frozen=True)
class Issued:
    """A new registration with the secrets shown once (the database keeps only hashes)."""

    app: Application
    client_secret: str
    registration_access_token: str | None = None


def new_client_id() -> str:
    """A fresh random client_id: letters and digits after "tp-" (so it can serve as a bulk id too)."""
    return "tp-" + _secrets.token_hex(10)


def register(db: Database, clock: Clock, utility_id: int, seed: int, meta: Metadata, *,
             developer_id: int | None = None, registration_token: bool = False) -> Issued:
    """Create an application in Review with a fresh client_id and client_secret (hashed with
    werkzeug's generate_password_hash) and, for the registration API, a registration access
    token (stored as its SHA-256 digest)."""
    secret = new_token(32)
    secret_hash = generate_password_hash(secret)
    reg_token = new_token(32) if registration_token else None
    with db.transaction() as s:
        utility = s.get(Utility, utility_id)
        if utility is None:
            raise NotFound(utility_id)
        while True:
            client_id = new_client_id()
            if s.scalar(select(Application.id).where(Application.utility_id == utility_id,
                                                     Application.client_id == client_id)) is None:
                break
        app = Application(utility_id=utility_id, uuid=resource_uuid_str(seed, utility.slug, "application", client_id),
                          client_id=client_id, client_secret_hash=secret_hash, name=meta.name,
                          allow_loopback_redirects=False, status="review", created_at=_now(clock),
                          developer_id=developer_id, redirect_uris=[], scopes=[],
                          registration_token_hash=digest(reg_token) if reg_token else None)
        _apply(app, meta)
        s.add(app)
        s.flush()
        return Issued(app, secret, reg_token)


def _own_application(s: Session, utility_id: int, app_id: int, developer_id: int | None) -> Application:
    app = s.get(Application, app_id)
    if app is None or app.utility_id != utility_id or (developer_id is not None and app.developer_id != developer_id):
        raise NotFound(app_id)
    return app


def application(s: Session, utility_id: int, app_id: int, developer_id: int | None = None) -> Application:
    """The application, if it is this utility's (and this developer's, when one is given)."""
    return _own_application(s, utility_id, app_id, developer_id)


def developer_applications(s: Session, utility_id: int, developer_id: int) -> list[Application]:
    return list(s.scalars(select(Application).where(Application.utility_id == utility_id,
                                                    Application.developer_id == developer_id)
                          .order_by(Application.created_at.desc(), Application.id.desc())))


def update(db: Database, clock: Clock, utility_id: int, app_id: int, meta: Metadata, profile: Profile, *,
           developer_id: int | None = None) -> Application:
    """Replace the application's metadata. A new notification URI clears the last test's result."""
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        apply_metadata(app, meta, profile, _now(clock))
        s.flush()
        return app


def rotate_secret(db: Database, utility_id: int, app_id: int, *, developer_id: int | None = None) -> str:
    """A new client secret (the old one stops working at once); returned once, stored hashed."""
    secret = new_token(32)
    hashed = generate_password_hash(secret)
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        app.client_secret_hash = hashed
    return secret


def delete_registration(db: Database, utility_id: int, app_id: int) -> None:
    """Delete the application; its authorizations, codes and tokens go with it (ON DELETE CASCADE)."""
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, None)
        s.delete(app)


def registration_access(s: Session, utility_id: int, app_uuid: str, token: str, now: dt.datetime) -> Application:
    """The application `app_uuid` if `token` is its registration access token.

    NotFound when no application of this utility has that id; TokenRefused 403 when the token is
    a real token that manages something else (another registration, or an OAuth access token);
    TokenRefused 401 invalid_token otherwise."""
    app = s.scalars(select(Application).where(Application.utility_id == utility_id,
                                              Application.uuid == app_uuid)).first()
    if app is None:
        raise NotFound(app_uuid)
    if matches(token, app.registration_token_hash):
        return app
    hashed = digest(token)
    owner = s.scalars(select(Application).where(Application.utility_id == utility_id,
                                                Application.registration_token_hash == hashed)).first()
    if owner is not None:
        raise TokenRefused(403, "access_denied",
                           f"this registration access token manages ApplicationInformation/{owner.uuid} only; "
                           f"ApplicationInformation/{app.uuid} needs the registration_access_token issued "
                           "when it was registered")
    row = s.scalars(select(OAuthToken).where(OAuthToken.utility_id == utility_id,
                                             OAuthToken.access_hash == hashed)).first()
    if row is not None and row.revoked_at is None and row.expires_at > _naive(now):
        if row.kind == "registration" and row.application_id == app.id:
            return app
        raise TokenRefused(403, "access_denied",
                           f"a {row.kind} access token cannot manage registrations: ApplicationInformation/"
                           f"{app.uuid} needs its registration access token (registration_access_token)")
    raise TokenRefused(401, "invalid_token", "the registration access token is unknown")


# --- terms ----------------------------------------------------------------------------------

def terms_text(terms: Mapping[int, str], version: int, utility_name: str) -> str:
    """The terms of `version` with {utility} replaced by the utility's name."""
    try:
        return terms[version].replace("{utility}", utility_name)
    except KeyError:
        raise NotFound(f"terms version {version}") from None


def accept_terms(db: Database, clock: Clock, utility_id: int, app_id: int, version: int, profile: Profile, *,
                 developer_id: int | None = None) -> Application:
    """Record that the application accepted the utility's current terms (version `version`)."""
    if version != profile.terms_version:
        raise Refused(f"terms_version: version {profile.terms_version} is the current version, not {version}; "
                      "read it and accept it.", "terms_version")
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        now = _now(clock)
        app.terms_version, app.terms_accepted_at = version, now
        evaluate(app, profile, now)
        s.flush()
        return app


# --- staff approval -------------------------------------------------------------------------

def approve_application(db: Database, clock: Clock, utility_id: int, app_id: int, profile: Profile,
                        by: str = "staff") -> Application:
    """`approve` in one transaction, for the staff view."""
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, None)
        approve(app, _now(clock), profile, by=by)
        return app
