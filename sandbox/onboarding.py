"""Third-party onboarding: developer accounts, registering and updating applications, the
client secret and the registration access token, the terms, the certificate, the
notification test, the onboarding checklist and the Review -> Production transition.

Plain Python over the database and the clock (no Flask): the developer portal
(web/developer.py), the registration API (web/registration.py) and the OAuth server (which
calls `evaluate` after a client-credentials token or a ReadServiceStatus call) all go
through here. Each change is one transaction; a refused request changes nothing. Times
stored in the database are naive UTC.

Application.status: "review" (new applications), "production", "on_hold", "blocked".
An application in Review moves to Production when every checklist item is done: by itself
where the utility's profile says approval = "automatic" (`evaluate`), by a member of staff
where it says "staff" (`approve`).
"""
from __future__ import annotations

import datetime as dt
import re
import secrets as _secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session
from werkzeug.security import check_password_hash, generate_password_hash

from .clock import Clock
from .db import Database
from .espi.resources import batch_list
from .espi.scopes import ScopeError, parse_scope, plain_words
from .espi.uuids import resource_uuid_str
from .models import Application, ApplicationStatusChange, Authorization, Developer, OAuthToken, Utility
from .oauth.secrets import digest, matches, new_token
from .synth.world import Profile

STATUSES = ("review", "production", "on_hold", "blocked")
STATUS_LABELS = {"review": "Review", "production": "Production", "on_hold": "On Hold", "blocked": "Blocked"}

MAX_URI = 500  # the URI columns of Application
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_REDIRECT_URIS = 20
MAX_CERTIFICATE_BYTES = 64 * 1024
NOTIFY_TIMEOUT = 5.0  # seconds
NOTIFY_BODY_CHARS = 2000  # what is kept of the third party's answer
MIN_PASSWORD = 8
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")


# --- errors ---------------------------------------------------------------------------------

class Refused(ValueError):
    """A request the rules do not allow. `field` names the offending field (in the caller's
    own vocabulary, see `validate_metadata`); `error` is the OAuth error code the
    registration API answers with (RFC 7591: invalid_redirect_uri or invalid_client_metadata)."""

    def __init__(self, message: str, field: str | None = None, error: str = "invalid_client_metadata"):
        super().__init__(message)
        self.message, self.field, self.error = message, field, error


class NotFound(LookupError):
    """No such application (or developer) here, or not the caller's (shown as 404)."""


class TokenRefused(Exception):
    """A registration request whose bearer token does not manage the record: status 401
    (no such token: `error` invalid_token) or 403 (a real token for something else)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _now(clock: Clock) -> dt.datetime:
    return _naive(clock.now())


def _utc_text(when: dt.datetime | None) -> str:
    return "—" if when is None else when.strftime("%Y-%m-%d %H:%M UTC")


# --- developer accounts ---------------------------------------------------------------------

def _email(value: str, field_name: str = "email") -> str:
    v = (value or "").strip()
    if not v:
        raise Refused(f"{field_name}: enter an e-mail address.", field_name)
    if len(v) > 200 or not _EMAIL.match(v):
        raise Refused(f"{field_name}: {v[:60]!r} is not an e-mail address (name@example.com).", field_name)
    return v


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
            dev = Developer(utility_id=utility_id, email=email, name=name, password_hash=hashed, created_at=_now(clock))
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
    from . import accounts

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


# --- application metadata -------------------------------------------------------------------

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


# The names fields have in the portal's forms; the registration API passes its own (RFC 7591/ESPI).
FORM_FIELDS = {"name": "name", "description": "description", "contact_email": "contact_email",
               "redirect_uris": "redirect_uris", "scopes": "scopes", "notify_uri": "notify_uri",
               "scope_selection_uri": "scope_selection_uri", "client_uri": "client_uri", "logo_uri": "logo_uri"}


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
            raise Refused(f"{field_name}: {shown!r} has a fragment (#...); redirect URIs must not (RFC 6749 3.1.2).",
                          field_name, error)
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


def validate_metadata(raw: Mapping[str, object], offered: list[str], *, utility_name: str = "this utility",
                      strict: bool = True, default_scopes: bool = False,
                      names: Mapping[str, str] = FORM_FIELDS) -> Metadata:
    """Check metadata given under the canonical keys of Metadata; `names` maps each key to the
    field name the caller uses (so errors name the caller's field). Scopes must be among the
    utility's `offered` scopes (compared after parsing, so term order and case follow the
    utility's parsing rule); with `default_scopes`, no scopes at all means every offered one."""
    def n(key):
        return names.get(key, key)

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Refused(f"{n('name')}: the application needs a name.", n("name"))
    name = name.strip()
    if len(name) > MAX_NAME:
        raise Refused(f"{n('name')}: at most {MAX_NAME} characters.", n("name"))
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise Refused(f"{n('description')}: must be text.", n("description"))
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise Refused(f"{n('description')}: at most {MAX_DESCRIPTION} characters.", n("description"))
    contact = raw.get("contact_email") or ""
    if not isinstance(contact, str):
        raise Refused(f"{n('contact_email')}: must be an e-mail address.", n("contact_email"))
    contact = _email(contact, n("contact_email")) if contact.strip() else ""

    uris = raw.get("redirect_uris")
    if uris is None or uris == [] or uris == "":
        raise Refused(f"{n('redirect_uris')}: register at least one redirect URI (where customers come back "
                      "with the authorization code).", n("redirect_uris"), "invalid_redirect_uri")
    if isinstance(uris, str) or not isinstance(uris, (list, tuple)):
        raise Refused(f"{n('redirect_uris')}: must be a list of URIs.", n("redirect_uris"), "invalid_redirect_uri")
    if len(uris) > MAX_REDIRECT_URIS:
        raise Refused(f"{n('redirect_uris')}: at most {MAX_REDIRECT_URIS} redirect URIs.", n("redirect_uris"),
                      "invalid_redirect_uri")
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
                raise Refused(f"{n('scopes')}: {text[:120]!r} is not a valid ESPI scope ({exc}).", n("scopes")) from None
            match = canonical.get(str(parsed))
            if match is None:
                raise Refused(f"{n('scopes')}: {text[:120]!r} is not offered by {utility_name}; offered: "
                              + " | ".join(offered) + ".", n("scopes"))
            if match not in scopes:
                scopes.append(match)
    return Metadata(name=name, redirect_uris=redirect_uris, scopes=scopes, description=description,
                    contact_email=contact,
                    notify_uri=_optional_uri(raw.get("notify_uri"), n("notify_uri")),
                    scope_selection_uri=_optional_uri(raw.get("scope_selection_uri"), n("scope_selection_uri")),
                    client_uri=_optional_uri(raw.get("client_uri"), n("client_uri")),
                    logo_uri=_optional_uri(raw.get("logo_uri"), n("logo_uri")))


def is_email(text: str) -> bool:
    return isinstance(text, str) and len(text) <= 200 and bool(_EMAIL.match(text.strip()))


def apply_metadata(app: Application, meta: Metadata, profile: Profile, now: dt.datetime) -> None:
    """Replace the metadata of an application loaded in the caller's transaction (then `evaluate`)."""
    _apply(app, meta)
    evaluate(app, profile, now)


def _apply(app: Application, meta: Metadata) -> None:
    if app.notify_uri != meta.notify_uri:  # a test of another URI says nothing about this one
        app.notify_check_at = app.notify_check_status = app.notify_check_ms = app.notify_check_body = None
    app.name, app.description, app.contact_email = meta.name, meta.description, meta.contact_email
    app.redirect_uris = list(meta.redirect_uris)
    app.scopes = list(meta.scopes)
    app.notify_uri, app.scope_selection_uri = meta.notify_uri, meta.scope_selection_uri
    app.client_uri, app.logo_uri = meta.client_uri, meta.logo_uri


# --- registering, updating, secrets ---------------------------------------------------------

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


# --- certificate ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateInfo:
    pem: str  # the certificate alone, as PEM
    subject: str
    fingerprint: str  # SHA-256, colon-separated upper-case hex
    not_before: dt.datetime  # naive UTC
    expires_at: dt.datetime  # naive UTC


def parse_certificate(data: str | bytes, now: dt.datetime) -> CertificateInfo:
    """Read a PEM certificate. Refused (nothing stored) for an upload with a private key in it,
    anything that is not a readable PEM certificate, and a certificate that is expired or not
    yet valid at `now` (the sandbox clock). Of a chain, the first certificate counts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    if isinstance(data, bytes):
        if len(data) > MAX_CERTIFICATE_BYTES:
            raise Refused(f"certificate: larger than {MAX_CERTIFICATE_BYTES // 1024} KB; a certificate is a few KB.",
                          "certificate")
        if b"PRIVATE KEY" in data:
            raise Refused(_PRIVATE_KEY, "certificate")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise Refused("certificate: this is not a PEM text file (binary DER?). Upload the certificate in PEM "
                          "form (-----BEGIN CERTIFICATE-----), e.g. from `openssl x509 -inform der -in cert.der "
                          "-out cert.pem`.", "certificate") from None
    else:
        text = data or ""
    if len(text) > MAX_CERTIFICATE_BYTES:
        raise Refused(f"certificate: larger than {MAX_CERTIFICATE_BYTES // 1024} KB; a certificate is a few KB.",
                      "certificate")
    if "PRIVATE KEY" in text:
        raise Refused(_PRIVATE_KEY, "certificate")
    if not text.strip():
        raise Refused("certificate: choose a PEM file or paste the certificate.", "certificate")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise Refused("certificate: no -----BEGIN CERTIFICATE----- block found: upload the certificate in PEM form.",
                      "certificate")
    try:
        cert = x509.load_pem_x509_certificate(text.encode("ascii"))
    except ValueError as exc:
        raise Refused(f"certificate: the PEM block could not be read as an X.509 certificate ({exc}).",
                      "certificate") from None
    n = _naive(now)
    try:
        not_before = cert.not_valid_before_utc.replace(tzinfo=None)
        expires = cert.not_valid_after_utc.replace(tzinfo=None)
        subject = cert.subject.rfc4514_string() or "(empty subject)"
    except ValueError as exc:
        raise Refused(f"certificate: its contents could not be read ({exc}).", "certificate") from None
    if expires <= n:
        raise Refused(f"certificate: it expired on {_utc_text(expires)} (sandbox time now: {_utc_text(n)}); "
                      "upload a current certificate.", "certificate")
    if not_before > n:
        raise Refused(f"certificate: it is not valid before {_utc_text(not_before)} (sandbox time now: "
                      f"{_utc_text(n)}).", "certificate")
    return CertificateInfo(pem=cert.public_bytes(Encoding.PEM).decode("ascii"), subject=subject[:500],
                           fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
                           not_before=not_before, expires_at=expires)


_PRIVATE_KEY = ("certificate: this upload contains a private key (a \"PRIVATE KEY\" block). Never send a private "
                "key to anyone, a utility included: upload only the certificate (the -----BEGIN CERTIFICATE----- "
                "block). Nothing was stored; if the key was sent over a network, consider it exposed.")


def store_certificate(db: Database, clock: Clock, utility_id: int, app_id: int, data: str | bytes, profile: Profile, *,
                      developer_id: int | None = None) -> CertificateInfo:
    now = _now(clock)
    info = parse_certificate(data, now)
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        app.certificate_pem, app.certificate_subject = info.pem, info.subject
        app.certificate_fingerprint, app.certificate_expires_at = info.fingerprint, info.expires_at
        evaluate(app, profile, now)
    return info


# --- notification test ----------------------------------------------------------------------

@dataclass(frozen=True)
class NotifyResult:
    status: int  # HTTP status; 0 when no HTTP answer came
    ms: int
    body: str  # the answer's start, or the error for status 0
    uris: tuple[str, ...] = ()  # what the BatchList named

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is the answer; it is not followed
        return None


def post_notification(url: str, body: bytes, timeout: float = NOTIFY_TIMEOUT) -> NotifyResult:
    """POST a BatchList to a third party (Content-Type application/xml); never raises for the
    third party's failures. No proxy is used (the sandbox talks to the developer's own machine)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/xml", "Accept": "*/*",
                                          "User-Agent": "GreenButtonSandbox-Notifier"})
    start = time.perf_counter()

    def elapsed() -> int:
        return int(round((time.perf_counter() - start) * 1000))

    try:
        with opener.open(req, timeout=timeout) as resp:
            data = resp.read(NOTIFY_BODY_CHARS * 4)
            return NotifyResult(resp.status, elapsed(), data.decode("utf-8", "replace")[:NOTIFY_BODY_CHARS])
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read(NOTIFY_BODY_CHARS * 4)
        except Exception:  # noqa: BLE001  (the body of an error may be unreadable)
            data = b""
        return NotifyResult(exc.code, elapsed(), data.decode("utf-8", "replace")[:NOTIFY_BODY_CHARS])
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return NotifyResult(0, elapsed(), f"no answer: {type(reason).__name__}: {reason}"[:NOTIFY_BODY_CHARS])


def notification_uris(s: Session, app: Application, resource_root: str, limit: int = 10) -> list[str]:
    """What a notification for this application names: the Batch/Subscription of each of its
    active customer authorizations, or, with none, its Batch/Bulk URL (bulk id = client_id)."""
    subs = s.scalars(select(Authorization.subscription_uuid).where(
        Authorization.application_id == app.id, Authorization.customer_id.is_not(None),
        Authorization.status == "active").order_by(Authorization.id).limit(limit)).all()
    root = resource_root.rstrip("/")
    if subs:
        return [f"{root}/Batch/Subscription/{sub}" for sub in subs]
    return [f"{root}/Batch/Bulk/{app.client_id}"]


def send_test_notification(db: Database, clock: Clock, utility_id: int, app_id: int, resource_root: str,
                           profile: Profile, *, developer_id: int | None = None,
                           timeout: float = NOTIFY_TIMEOUT) -> NotifyResult:
    """POST a schema-valid BatchList to the application's notification URI and record the answer
    (status, latency, start of the body). The HTTP call happens outside any transaction."""
    with db.sessions() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        url = app.notify_uri
        if not url:
            raise Refused("notify_uri: register a notification URI first.", "notify_uri")
        uris = notification_uris(s, app, resource_root)
    result = post_notification(url, batch_list(uris), timeout)
    result = NotifyResult(result.status, result.ms, result.body, tuple(uris))
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, developer_id)
        if app.notify_uri == url:  # changed meanwhile: this result is not about the URI on file
            now = _now(clock)
            app.notify_check_at, app.notify_check_status = now, result.status
            app.notify_check_ms, app.notify_check_body = result.ms, result.body
            evaluate(app, profile, now)
    return result


# --- the checklist and the status -----------------------------------------------------------

@dataclass(frozen=True)
class Check:
    key: str
    label: str
    done: bool
    detail: str


CHECK_KEYS = ("terms", "certificate", "urls", "notification", "client_token", "service_status")


def checklist(app: Application, profile: Profile, terms_version: int | None = None,
              now: dt.datetime | None = None) -> list[Check]:
    """The onboarding items, in order. `terms_version` is the current version (default
    profile.terms_version); `now` is the sandbox clock's time for the certificate's expiry
    (pass it: the default is the computer's clock)."""
    current = profile.terms_version if terms_version is None else terms_version
    n = _naive(now) if now is not None else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    out = []

    if app.terms_version == current and app.terms_accepted_at is not None:
        out.append(Check("terms", "Terms accepted", True,
                         f"Version {current} accepted on {_utc_text(app.terms_accepted_at)}."))
    elif app.terms_version is not None and app.terms_version < current:
        out.append(Check("terms", "Terms accepted", False,
                         f"You accepted version {app.terms_version}; version {current} is current: read and accept it."))
    else:
        out.append(Check("terms", "Terms accepted", False, f"Read and accept the terms (version {current})."))

    if not app.certificate_pem or app.certificate_expires_at is None:
        out.append(Check("certificate", "Certificate on file", False,
                         "Upload your application's certificate (PEM, the certificate only)."))
    elif app.certificate_expires_at <= n:
        out.append(Check("certificate", "Certificate on file", False,
                         f"The certificate on file expired on {_utc_text(app.certificate_expires_at)}: upload a new one."))
    else:
        out.append(Check("certificate", "Certificate on file", True,
                         f"{app.certificate_subject}, valid until {_utc_text(app.certificate_expires_at)}."))

    missing = []
    if not app.redirect_uris:
        missing.append("a redirect URI")
    if not app.notify_uri:
        missing.append("a notification URI")
    if missing:
        out.append(Check("urls", "URLs registered", False, "Register " + " and ".join(missing) + "."))
    else:
        n_uris = len(app.redirect_uris)
        extra = "; scope selection screen registered" if app.scope_selection_uri else \
            "; a scope selection screen is optional"
        out.append(Check("urls", "URLs registered", True,
                         f"{n_uris} redirect URI{'s' if n_uris != 1 else ''} and a notification URI{extra}."))

    if not app.notify_uri:
        out.append(Check("notification", "Notification endpoint answers", False,
                         "Register a notification URI, then send a test notification."))
    elif app.notify_check_at is None or app.notify_check_status is None:
        out.append(Check("notification", "Notification endpoint answers", False,
                         "Send a test notification: your endpoint must answer with a 2xx status."))
    elif 200 <= app.notify_check_status < 300:
        out.append(Check("notification", "Notification endpoint answers", True,
                         f"HTTP {app.notify_check_status} in {app.notify_check_ms} ms "
                         f"({_utc_text(app.notify_check_at)})."))
    elif app.notify_check_status == 0:
        out.append(Check("notification", "Notification endpoint answers", False,
                         f"No answer at the last test ({_utc_text(app.notify_check_at)}); the endpoint must answer 2xx."))
    else:
        out.append(Check("notification", "Notification endpoint answers", False,
                         f"HTTP {app.notify_check_status} at the last test ({_utc_text(app.notify_check_at)}); "
                         "the endpoint must answer 2xx."))

    if app.client_token_at is not None:
        out.append(Check("client_token", "Client-credentials token obtained", True,
                         f"First obtained at {_utc_text(app.client_token_at)}."))
    else:
        out.append(Check("client_token", "Client-credentials token obtained", False,
                         "POST grant_type=client_credentials to the token endpoint with HTTP Basic "
                         "(client_id:client_secret)."))

    if app.service_status_at is not None:
        out.append(Check("service_status", "ReadServiceStatus called", True,
                         f"First called at {_utc_text(app.service_status_at)}."))
    else:
        out.append(Check("service_status", "ReadServiceStatus called", False,
                         "GET ReadServiceStatus with the client-credentials token (Authorization: Bearer ...)."))
    return out


def complete(app: Application, profile: Profile, now: dt.datetime | None = None) -> bool:
    return all(c.done for c in checklist(app, profile, now=now))


def _set_status(app: Application, new: str, now: dt.datetime, by: str) -> None:
    s = object_session(app)
    if s is not None and app.id is not None:
        s.add(ApplicationStatusChange(application_id=app.id, old_status=app.status, new_status=new,
                                      changed_at=_naive(now), changed_by=by))
    app.status = new


def evaluate(app: Application, profile: Profile, now: dt.datetime) -> bool:
    """Review -> Production when every checklist item is done and the utility approves
    automatically. True if the status changed (recorded as an ApplicationStatusChange by
    "automatic" when `app` belongs to a session). Call it inside the transaction that changed
    the application."""
    if app.status != "review" or profile.approval != "automatic":
        return False
    if not complete(app, profile, now):
        return False
    _set_status(app, "production", now, "automatic")
    return True


def approve(app: Application, now: dt.datetime, profile: Profile | None = None, *, by: str = "staff") -> None:
    """Staff approval: Review -> Production, allowed only when every checklist item is done.

    Pass the utility's `profile` (profile.terms_version is the current terms version); without
    it the terms item counts as done when any version was accepted. Raises Refused otherwise."""
    if app.status != "review":
        raise Refused(f"{app.name} is in {STATUS_LABELS.get(app.status, app.status)}, not Review: only an application "
                      "in Review can be approved.", "status")
    if profile is None:
        profile = Profile(terms_version=app.terms_version or 1, approval="staff")
    todo = [c.label for c in checklist(app, profile, now=now) if not c.done]
    if todo:
        raise Refused(f"{app.name} cannot be approved yet: not done: {', '.join(todo)}.", "status")
    _set_status(app, "production", now, by)


def approve_application(db: Database, clock: Clock, utility_id: int, app_id: int, profile: Profile,
                        by: str = "staff") -> Application:
    """`approve` in one transaction, for the staff view."""
    with db.transaction() as s:
        app = _own_application(s, utility_id, app_id, None)
        approve(app, _now(clock), profile, by=by)
        return app
