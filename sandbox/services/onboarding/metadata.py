"""Validating what a third party says about its application (client metadata) before it is stored."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from sandbox.core.errors import Refused
from sandbox.core.models import Application
from sandbox.core.profile import Profile
from sandbox.espi.scopes import ScopeError, parse_scope, plain_words
from sandbox.services.onboarding.status import evaluate

MAX_URI = 500  # the URI columns of Application
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_REDIRECT_URIS = 20
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")


def _email(value: str, field_name: str = "email") -> str:
    v = (value or "").strip()
    if not v:
        raise Refused(f"{field_name}: enter an e-mail address.", field_name)
    if len(v) > 200 or not _EMAIL.match(v):
        raise Refused(f"{field_name}: {v[:60]!r} is not an e-mail address (name@example.com).", field_name)
    return v


@dataclass
class Metadata:
    """What a third party says about its application (RFC 7591 client metadata, ESPI names aside)."""

    name: str
    redirect_uris: list[str]
    scopes: list[str]
    description: str = ""
    contact_email: str = ""
    notify_uri: str | None = None
    scope_selection_uri: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    portal_uri: str | None = None  # the third party's user portal (thirdPartyUserPortalScreenURI)
    tos_uri: str | None = None
    policy_uri: str | None = None
    phone: str | None = None
    software_id: str | None = None
    software_version: str | None = None


# The names fields have in the portal's forms; the registration API passes its own (RFC 7591/ESPI).
FORM_FIELDS = {
    "name": "name",
    "description": "description",
    "contact_email": "contact_email",
    "redirect_uris": "redirect_uris",
    "scopes": "scopes",
    "notify_uri": "notify_uri",
    "scope_selection_uri": "scope_selection_uri",
    "client_uri": "client_uri",
    "logo_uri": "logo_uri",
    "portal_uri": "portal_uri",
    "tos_uri": "tos_uri",
    "policy_uri": "policy_uri",
    "phone": "phone",
}


def check_uri(value: object, field_name: str, *, redirect: bool = False) -> str:
    """An absolute http(s) URI; redirect URIs also have no fragment and no user name or password."""
    error = "invalid_redirect_uri" if redirect else "invalid_client_metadata"
    if not isinstance(value, str):
        raise Refused(f"{field_name}: must be a string holding a URI.", field_name, error)
    v = value.strip()
    if not v:
        raise Refused(f"{field_name}: is empty.", field_name, error)
    shown = v if len(v) <= 80 else v[:77] + "..."
    if len(v) > MAX_URI:
        raise Refused(f"{field_name}: at most {MAX_URI} characters.", field_name, error)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in v):
        raise Refused(f"{field_name}: {shown!r} contains spaces or control characters.", field_name, error)
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise Refused(f"{field_name}: {shown!r} is not a valid URI.", field_name, error) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise Refused(f"{field_name}: {shown!r} must be an absolute http:// or https:// URI.", field_name, error)
    if not parts.hostname:
        raise Refused(f"{field_name}: {shown!r} names no host.", field_name, error)
    if redirect:
        if "#" in v:
            raise Refused(
                f"{field_name}: {shown!r} has a fragment (#...); redirect URIs must not (RFC 6749 3.1.2).",
                field_name,
                error,
            )
        if parts.username is not None or parts.password is not None:
            raise Refused(f"{field_name}: {shown!r} must not contain a user name or password.", field_name, error)
    return v


def _optional_uri(value: object, field_name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return check_uri(value, field_name)


def scope_title(scope: str) -> str:
    try:
        return "Usage and customer data" if parse_scope(scope, strict=False).customer_data else "Usage data"
    except ScopeError:
        return "Unknown"


def offered_scopes(offered: Iterable[str]) -> list[dict]:
    """[{scope, title, meaning}] for the registration form."""
    return [{"scope": s, "title": scope_title(s), "meaning": plain_words(s)} for s in offered]


def _text(raw: Mapping[str, object], key: str, field_name: str, limit: int, missing: str | None = None) -> str:
    """A stripped text field of at most `limit` characters; with `missing`, it may not be empty."""
    value = raw.get(key) or ""
    if not isinstance(value, str):
        raise Refused(f"{field_name}: must be text.", field_name)
    value = value.strip()
    if missing and not value:
        raise Refused(f"{field_name}: {missing}", field_name)
    if len(value) > limit:
        raise Refused(f"{field_name}: at most {limit} characters.", field_name)
    return value


def validate_metadata(
    raw: Mapping[str, object],
    offered: list[str],
    *,
    utility_name: str = "this utility",
    strict: bool = True,
    default_scopes: bool = False,
    names: Mapping[str, str] = FORM_FIELDS,
) -> Metadata:
    """Check metadata given under the canonical keys of Metadata; `names` maps each key to the
    field name the caller uses (so errors name the caller's field). Scopes must be among the
    utility's `offered` scopes (compared after parsing, so term order and case follow the
    utility's parsing rule); with `default_scopes`, no scopes at all means every offered one."""

    def n(key):
        return names.get(key, key)

    name = _text(raw, "name", n("name"), MAX_NAME, "the application needs a name.")
    description = _text(raw, "description", n("description"), MAX_DESCRIPTION)
    contact = raw.get("contact_email") or ""
    if not isinstance(contact, str):
        raise Refused(f"{n('contact_email')}: must be an e-mail address.", n("contact_email"))
    contact = _email(contact, n("contact_email")) if contact.strip() else ""

    uris = raw.get("redirect_uris")
    if uris is None or uris == [] or uris == "":
        raise Refused(
            f"{n('redirect_uris')}: register at least one redirect URI (where customers come back "
            "with the authorization code).",
            n("redirect_uris"),
            "invalid_redirect_uri",
        )
    if isinstance(uris, str) or not isinstance(uris, (list, tuple)):
        raise Refused(f"{n('redirect_uris')}: must be a list of URIs.", n("redirect_uris"), "invalid_redirect_uri")
    if len(uris) > MAX_REDIRECT_URIS:
        raise Refused(
            f"{n('redirect_uris')}: at most {MAX_REDIRECT_URIS} redirect URIs.",
            n("redirect_uris"),
            "invalid_redirect_uri",
        )
    redirect_uris: list[str] = []
    for i, u in enumerate(uris):
        v = check_uri(u, f"{n('redirect_uris')}[{i}]" if len(uris) > 1 else n("redirect_uris"), redirect=True)
        if v not in redirect_uris:
            redirect_uris.append(v)

    wanted = raw.get("scopes")
    if wanted is None or wanted == [] or wanted == "":
        if not default_scopes:
            raise Refused(f"{n('scopes')}: choose at least one of the scopes {utility_name} offers.", n("scopes"))
        scopes = list(offered)
    else:
        if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
            raise Refused(f"{n('scopes')}: must be a list of ESPI scope strings.", n("scopes"))
        canonical = {}
        for s in offered:
            try:
                canonical[str(parse_scope(s, strict=False))] = s
            except ScopeError:
                continue
        scopes = []
        for text in wanted:
            if not isinstance(text, str):
                raise Refused(f"{n('scopes')}: each scope must be a string.", n("scopes"))
            try:
                parsed = parse_scope(text, strict)
            except ScopeError as exc:
                raise Refused(
                    f"{n('scopes')}: {text[:120]!r} is not a valid ESPI scope ({exc}).", n("scopes")
                ) from None
            match = canonical.get(str(parsed))
            if match is None:
                raise Refused(
                    f"{n('scopes')}: {text[:120]!r} is not offered by {utility_name}; offered: "
                    + " | ".join(offered)
                    + ".",
                    n("scopes"),
                )
            if match not in scopes:
                scopes.append(match)
    return Metadata(
        name=name,
        redirect_uris=redirect_uris,
        scopes=scopes,
        description=description,
        contact_email=contact,
        notify_uri=_optional_uri(raw.get("notify_uri"), n("notify_uri")),
        scope_selection_uri=_optional_uri(raw.get("scope_selection_uri"), n("scope_selection_uri")),
        client_uri=_optional_uri(raw.get("client_uri"), n("client_uri")),
        logo_uri=_optional_uri(raw.get("logo_uri"), n("logo_uri")),
        portal_uri=_optional_uri(raw.get("portal_uri"), n("portal_uri")),
        tos_uri=_optional_uri(raw.get("tos_uri"), n("tos_uri")),
        policy_uri=_optional_uri(raw.get("policy_uri"), n("policy_uri")),
        phone=_text(raw, "phone", n("phone"), 40) or None,
        software_id=_text(raw, "software_id", n("software_id"), 256) or None,
        software_version=_text(raw, "software_version", n("software_version"), 32) or None,
    )


def is_email(text: str) -> bool:
    return isinstance(text, str) and len(text) <= 200 and bool(_EMAIL.match(text.strip()))


def apply_metadata(app: Application, meta: Metadata, profile: Profile, now: dt.datetime) -> None:
    """Replace the metadata of an application loaded in the caller's transaction (then `evaluate`)."""
    _apply(app, meta)
    evaluate(app, profile, now)


def checked_notify_uri(value: object) -> str | None:
    """A notification URI as registration checks it (None or blank: none); Refused naming notify_uri."""
    return _optional_uri(value, "notify_uri")


def set_notify(app: Application, uri: str | None) -> None:
    """A checked notification URI on the application; a new one forgets the last test's result
    (a test of another URI says nothing about this one)."""
    if app.notify_uri != uri:
        app.notify_check_at = app.notify_check_status = app.notify_check_ms = app.notify_check_body = None
    app.notify_uri = uri


def _apply(app: Application, meta: Metadata) -> None:
    set_notify(app, meta.notify_uri)
    app.name, app.description, app.contact_email = meta.name, meta.description, meta.contact_email
    app.redirect_uris = list(meta.redirect_uris)
    app.scopes = list(meta.scopes)
    app.scope_selection_uri = meta.scope_selection_uri
    app.client_uri, app.logo_uri = meta.client_uri, meta.logo_uri
    app.portal_uri, app.tos_uri, app.policy_uri, app.phone = meta.portal_uri, meta.tos_uri, meta.policy_uri, meta.phone
    app.software_id, app.software_version = meta.software_id, meta.software_version
