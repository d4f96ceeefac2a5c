"""Application status: the onboarding checklist and the Review -> Production change it gates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sandbox.core.clock import to_naive_utc
from sandbox.core.db import Database, fetch
from sandbox.core.errors import Refused
from sandbox.core.models import Application
from sandbox.core.profile import Profile
from sandbox.services.access import STATUS_LABELS, AppStatus
from sandbox.services.onboarding.times import _utc_text
from sandbox.services.signin import STAFF_USERNAME
from sandbox.services.third_parties import set_status


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    done: bool
    detail: str


CHECK_KEYS = ("terms", "certificate", "urls", "notification", "client_token", "service_status")


def checklist(app: Application, profile: Profile, terms_version: int | None = None, *, now: dt.datetime) -> list[Check]:
    """The onboarding items, in order. `terms_version` is the current version (default
    profile.terms_version); `now` is the sandbox clock's time, for the certificate's expiry."""
    current = profile.terms_version if terms_version is None else terms_version
    n = to_naive_utc(now)
    out = []

    if app.terms_version == current and app.terms_accepted_at is not None:
        out.append(
            Check("terms", "Terms accepted", True, f"Version {current} accepted on {_utc_text(app.terms_accepted_at)}.")
        )
    elif app.terms_version is not None and app.terms_version < current:
        out.append(
            Check(
                "terms",
                "Terms accepted",
                False,
                f"You accepted version {app.terms_version}; version {current} is current: read and accept it.",
            )
        )
    else:
        out.append(Check("terms", "Terms accepted", False, f"Read and accept the terms (version {current})."))

    if not app.certificate_pem or app.certificate_expires_at is None:
        out.append(
            Check(
                "certificate",
                "Certificate on file",
                False,
                "Upload your application's certificate (PEM, the certificate only).",
            )
        )
    elif app.certificate_expires_at <= n:
        out.append(
            Check(
                "certificate",
                "Certificate on file",
                False,
                f"The certificate on file expired on {_utc_text(app.certificate_expires_at)}: upload a new one.",
            )
        )
    else:
        out.append(
            Check(
                "certificate",
                "Certificate on file",
                True,
                f"{app.certificate_subject}, valid until {_utc_text(app.certificate_expires_at)}.",
            )
        )

    missing = []
    if not app.redirect_uris:
        missing.append("a redirect URI")
    if not app.notify_uri:
        missing.append("a notification URI")
    if missing:
        out.append(Check("urls", "URLs registered", False, "Register " + " and ".join(missing) + "."))
    else:
        n_uris = len(app.redirect_uris)
        extra = (
            "; scope selection screen registered"
            if app.scope_selection_uri
            else "; a scope selection screen is optional"
        )
        out.append(
            Check(
                "urls",
                "URLs registered",
                True,
                f"{n_uris} redirect URI{'s' if n_uris != 1 else ''} and a notification URI{extra}.",
            )
        )

    if not app.notify_uri:
        out.append(
            Check(
                "notification",
                "Notification endpoint answers",
                False,
                "Register a notification URI, then send a test notification.",
            )
        )
    elif app.notify_check_at is None or app.notify_check_status is None:
        out.append(
            Check(
                "notification",
                "Notification endpoint answers",
                False,
                "Send a test notification: your endpoint must answer with a 2xx status.",
            )
        )
    elif 200 <= app.notify_check_status < 300:
        out.append(
            Check(
                "notification",
                "Notification endpoint answers",
                True,
                f"HTTP {app.notify_check_status} in {app.notify_check_ms} ms ({_utc_text(app.notify_check_at)}).",
            )
        )
    elif app.notify_check_status == 0:
        out.append(
            Check(
                "notification",
                "Notification endpoint answers",
                False,
                f"No answer at the last test ({_utc_text(app.notify_check_at)}); the endpoint must answer 2xx.",
            )
        )
    else:
        out.append(
            Check(
                "notification",
                "Notification endpoint answers",
                False,
                f"HTTP {app.notify_check_status} at the last test ({_utc_text(app.notify_check_at)}); "
                "the endpoint must answer 2xx.",
            )
        )

    out.append(
        _first_done(
            "client_token",
            "Client-credentials token obtained",
            app.client_token_at,
            "obtained",
            "POST grant_type=client_credentials to the token endpoint with HTTP Basic (client_id:client_secret).",
        )
    )
    out.append(
        _first_done(
            "service_status",
            "ReadServiceStatus called",
            app.service_status_at,
            "called",
            "GET ReadServiceStatus with the client-credentials token (Authorization: Bearer ...).",
        )
    )
    return out


def _first_done(key: str, title: str, at: dt.datetime | None, verb: str, how: str) -> Check:
    """A check done once the third party has made a call at least once (`at` is the first time)."""
    if at is None:
        return Check(key, title, False, how)
    return Check(key, title, True, f"First {verb} at {_utc_text(at)}.")


def complete(app: Application, profile: Profile, now: dt.datetime) -> bool:
    return all(c.done for c in checklist(app, profile, now=now))


def evaluate(app: Application, profile: Profile, now: dt.datetime) -> bool:
    """Review -> Production when every checklist item is done and the utility approves
    automatically. True if the status changed (recorded as an ApplicationStatusChange by
    "automatic" when `app` belongs to a session). Call it inside the transaction that changed
    the application."""
    if app.status != AppStatus.REVIEW or profile.approval != "automatic":
        return False
    if not complete(app, profile, now):
        return False
    set_status(app, AppStatus.PRODUCTION, now, "automatic")
    return True


def record_call(app: Application, first_at: str, profile: Profile, now: dt.datetime) -> None:
    """Note the first time a third party made one of the checklist's calls (`first_at` names the
    column: client_token_at, service_status_at), then `evaluate` whether that completes it."""
    if getattr(app, first_at) is None:
        setattr(app, first_at, to_naive_utc(now))
    evaluate(app, profile, now)


def note_call(db: Database, application_id: int, first_at: str, profile: Profile, now: dt.datetime) -> None:
    """`record_call` in a transaction of its own, for a call the resource server answers: only the
    first such call writes (a third party polling ReadServiceStatus reads, and writes nothing)."""
    with db.transaction() as s:
        app = fetch(s, Application, application_id)
        if getattr(app, first_at) is None:
            record_call(app, first_at, profile, now)


def approve(app: Application, now: dt.datetime, profile: Profile, *, by: str = STAFF_USERNAME) -> None:
    """Staff approval: Review -> Production, allowed only when every checklist item is done
    (`profile` is the utility's: profile.terms_version is the current terms version). Raises
    Refused otherwise."""
    if app.status != AppStatus.REVIEW:
        raise Refused(
            f"{app.name} is in {STATUS_LABELS[AppStatus(app.status)]}, not Review: only an application "
            "in Review can be approved.",
            "status",
        )
    todo = [c.label for c in checklist(app, profile, now=now) if not c.done]
    if todo:
        raise Refused(f"{app.name} cannot be approved yet: not done: {', '.join(todo)}.", "status")
    set_status(app, AppStatus.PRODUCTION, now, by)
