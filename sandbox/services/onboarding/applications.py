"""Application records: registering, looking up, updating, secrets, registration access, terms, approval."""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Application, Utility
from sandbox.core.profile import Profile
from sandbox.core.secrets import keyed_digest, keyed_matches, new_token, world_key
from sandbox.espi.uuids import resource_uuid_str
from sandbox.feeds.management import REDACTED
from sandbox.services import quotas
from sandbox.services.access import AppStatus, ClientRole
from sandbox.services.onboarding.metadata import Metadata, _apply, apply_metadata, checked_notify_uri, set_notify
from sandbox.services.onboarding.status import approve, evaluate
from sandbox.services.signin import STAFF_USERNAME


@dataclass(frozen=True)
class Issued:
    """A new registration with the secrets shown once (the database keeps only keyed digests)."""

    app: Application
    client_secret: str
    registration_access_token: str | None = None


def new_client_id() -> str:
    """A fresh random client_id: letters and digits after "tp-" (so it can serve as a bulk id too)."""
    return "tp-" + _secrets.token_hex(10)


def register(
    db: Database,
    clock: Clock,
    utility_id: int,
    seed: int,
    meta: Metadata,
    *,
    developer_id: int | None = None,
    registration_token: bool = False,
) -> Issued:
    """Create an application in Review with a fresh client_id and client_secret and, for the
    registration API, a registration access token (both kept as keyed digests: core.secrets)."""
    secret = new_token(32)
    reg_token = new_token(32) if registration_token else None
    with db.transaction() as s:
        utility = s.get(Utility, utility_id)
        if utility is None:
            raise NotFound(utility_id)
        quotas.check(s, "applications")
        key = world_key(s)
        while True:
            client_id = new_client_id()
            if (
                s.scalar(
                    select(Application.id).where(
                        Application.utility_id == utility_id, Application.client_id == client_id
                    )
                )
                is None
            ):
                break
        app = Application(
            utility_id=utility_id,
            uuid=resource_uuid_str(seed, utility.slug, "application", client_id),
            client_id=client_id,
            client_secret_hash=keyed_digest(key, secret),
            name=meta.name,
            allow_loopback_redirects=False,
            status=AppStatus.REVIEW,
            created_at=clock.naive_now(),
            developer_id=developer_id,
            redirect_uris=[],
            scopes=[],
            registration_token_hash=keyed_digest(key, reg_token) if reg_token else None,
        )
        _apply(app, meta)
        s.add(app)
        s.flush()
        return Issued(app, secret, reg_token)


def application(s: Session, utility_id: int, app_id: int, developer_id: int | None = None) -> Application:
    """The application, if it is this utility's (and this developer's, when one is given); else NotFound."""
    app = s.get(Application, app_id)
    if app is None or app.utility_id != utility_id or (developer_id is not None and app.developer_id != developer_id):
        raise NotFound(app_id)
    return app


def developer_applications(s: Session, utility_id: int, developer_id: int) -> list[Application]:
    return list(
        s.scalars(
            select(Application)
            .where(Application.utility_id == utility_id, Application.developer_id == developer_id)
            .order_by(Application.created_at.desc(), Application.id.desc())
        )
    )


def update(
    db: Database,
    clock: Clock,
    utility_id: int,
    app_id: int,
    meta: Metadata,
    profile: Profile,
    *,
    developer_id: int | None = None,
) -> Application:
    """Replace the application's metadata. A new notification URI clears the last test's result."""
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        apply_metadata(app, meta, profile, clock.naive_now())
        s.flush()
        return app


def set_notify_uri(
    db: Database, clock: Clock, utility_id: int, app_id: int, uri: str | None, profile: Profile
) -> Application:
    """Register the notification URI alone (None removes it), checked as registration checks it."""
    checked = checked_notify_uri(uri)
    with db.transaction() as s:
        app = application(s, utility_id, app_id)
        set_notify(app, checked)
        evaluate(app, profile, clock.naive_now())
        s.flush()
        return app


def rotate_secret(db: Database, utility_id: int, app_id: int, *, developer_id: int | None = None) -> str:
    """A new client secret (the old one stops working at once); returned once, kept as its keyed digest."""
    secret = new_token(32)
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        app.client_secret_hash = keyed_digest(world_key(s), secret)
    return secret


# --- terms ----------------------------------------------------------------------------------


def terms_text(terms: Mapping[int, str], version: int, utility_name: str) -> str:
    """The terms of `version` with {utility} replaced by the utility's name."""
    try:
        return terms[version].replace("{utility}", utility_name)
    except KeyError:
        raise NotFound(f"terms version {version}") from None


def accept_terms(
    db: Database,
    clock: Clock,
    utility_id: int,
    app_id: int,
    version: int,
    profile: Profile,
    *,
    developer_id: int | None = None,
) -> Application:
    """Record that the application accepted the utility's current terms (version `version`)."""
    if version != profile.terms_version:
        raise Refused(
            f"terms_version: version {profile.terms_version} is the current version, not {version}; "
            "read it and accept it.",
            "terms_version",
        )
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        now = clock.naive_now()
        app.terms_version, app.terms_accepted_at = version, now
        evaluate(app, profile, now)
        s.flush()
        return app


# --- staff approval -------------------------------------------------------------------------


def approve_application(
    db: Database, clock: Clock, utility_id: int, app_id: int, profile: Profile, by: str = STAFF_USERNAME
) -> Application:
    """`approve` in one transaction, for the staff view (third parties only)."""
    with db.transaction() as s:
        app = application(s, utility_id, app_id, None)
        if app.role != ClientRole.THIRD_PARTY:
            raise NotFound(app_id)
        approve(app, clock.naive_now(), profile, by=by)
        return app


# --- registration management (RFC 7592), for the registration API ------------------------------


def registered_application(db: Database, utility_id: int, app_uuid: str) -> Application:
    """The third-party application `app_uuid` of this utility (NotFound otherwise). The caller's
    token was judged by the access policy first."""
    with db.sessions() as s:
        return _registered(s, utility_id, app_uuid)


def _registered(s: Session, utility_id: int, app_uuid: str) -> Application:
    app = s.scalars(
        select(Application).where(
            Application.utility_id == utility_id,
            Application.uuid == app_uuid,
            Application.role == ClientRole.THIRD_PARTY,
        )
    ).first()
    if app is None:
        raise NotFound(app_uuid)
    return app


def update_registered(
    db: Database,
    clock: Clock,
    utility_id: int,
    app_uuid: str,
    meta: Metadata,
    profile: Profile,
    *,
    client_id=None,
    client_secret=None,
) -> Application:
    """Replace a registration's metadata (RFC 7592 2.2) in one transaction.

    The request may repeat the registration's credentials: `client_id`, if given, must be its
    client_id; `client_secret`, if given and not the "redacted" placeholder a GET shows, must be
    its current secret (Refused otherwise, and nothing changes)."""
    with db.transaction() as s:
        app = _registered(s, utility_id, app_uuid)
        if client_id not in (None, "") and client_id != app.client_id:
            raise Refused(f"client_id: {str(client_id)[:64]!r} is not this registration's client_id.", "client_id")
        if client_secret not in (None, "", REDACTED) and not keyed_matches(
            world_key(s), client_secret, app.client_secret_hash
        ):
            raise Refused(
                "client_secret: does not match the current secret (leave it out, or send the current one).",
                "client_secret",
            )
        apply_metadata(app, meta, profile, clock.naive_now())
        s.flush()
        return app


def delete_registered(db: Database, utility_id: int, app_uuid: str) -> None:
    """Delete a registration (RFC 7592 2.3) in one transaction; its authorizations, codes and tokens
    go with it (ON DELETE CASCADE)."""
    with db.transaction() as s:
        s.delete(_registered(s, utility_id, app_uuid))
