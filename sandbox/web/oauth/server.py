"""Authlib's authorization server, fitted to the sandbox: one server for every utility (the
utility comes from the URL, in flask.g), ESPI scope checks, and ESPI's token response.

Authlib does the protocol: parameter checks, client authentication, PKCE, code and token
grants, revocation. This module supplies storage and ESPI's additions: Authorization and
Subscription records, `resourceURI`/`authorizationURI`/`customerResourceURI` in the token
response, single-use codes whose reuse revokes what they minted (and that give nothing to a
suspended third party or for a customer who moved out), client-credentials tokens of the kind their
scope names (services.grants), a refresh token in every refresh answer (the same one where the
profile does not rotate it), and the behaviour profile (token lifetimes, PKCE required (S256),
refresh-token rotation, strict or lenient scopes).
"""

from __future__ import annotations

import binascii
import datetime as dt

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.core.clock import utc
from sandbox.core.db import fetch
from sandbox.core.models import Application, ApplicationStatusChange, Authorization, Customer, OAuthCode, OAuthToken
from sandbox.core.profile import Profile
from sandbox.core.secrets import client_secret_matches, digest
from sandbox.espi import urls
from sandbox.espi.scopes import ScopeError, allowed_by
from sandbox.feeds.management import uris_for
from sandbox.services import access, authorizations, onboarding, tokens
from sandbox.services import grants as issuing
from sandbox.services.access import ClientRole, TokenKind
from sandbox.services.authorizations import REUSED_CODE, REVOKED_BY_THIRD_PARTY
from sandbox.services.grants import ClientGrant, client_grant, new_token_response
from sandbox.web.context import sandbox

TOKEN_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def error_text(text: str) -> str:
    """`text` as an error_description may carry it (RFC 6749 5.2: printable ASCII without '"' or
    '\\'): other characters, which a client's own input may bring in, are written as U+XXXX."""
    out = []
    for ch in text:
        if ch == '"':
            out.append("'")
        elif " " <= ch <= "~" and ch != "\\":
            out.append(ch)
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out)


def _now() -> dt.datetime:
    """The sandbox time as stored: naive UTC."""
    return sandbox().clock.naive_now()


def resource_root() -> str:
    return urls.resource_root(request.url_root, g.slug)


class Client(ClientMixin):
    """An Application as Authlib sees it (detached copy: safe to keep after the session closes)."""

    def __init__(self, app: Application):
        self.app = app

    def get_client_id(self):
        return self.app.client_id

    def get_default_redirect_uri(self):
        return self.app.redirect_uris[0] if len(self.app.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        return access.redirect_allowed(self.app, redirect_uri)

    def check_client_secret(self, client_secret):
        return client_secret_matches(sandbox().db.engine, client_secret, self.app.client_secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in TOKEN_METHODS

    def check_response_type(self, response_type):
        return response_type == "code" and self.app.role == ClientRole.THIRD_PARTY

    def check_grant_type(self, grant_type):
        """Third parties use every grant; the utility's own upload and admin clients client credentials only."""
        if self.app.role != ClientRole.THIRD_PARTY:
            return grant_type == "client_credentials"
        return grant_type in GRANT_TYPES


class Code:
    """An OAuthCode row as Authlib's authorization-code object."""

    def __init__(self, row: OAuthCode):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return None

    def get_auth_time(self):
        return None


class Token:
    """An OAuthToken row as Authlib's token object (for refresh and revocation)."""

    def __init__(self, row: OAuthToken):
        self.row = row
        self.introspection: dict = {"active": False}

    def check_client(self, client):
        return client.app.id == self.row.application_id

    def get_scope(self):
        return self.row.scope

    def get_expires_in(self):
        return int((self.row.expires_at - _now()).total_seconds())

    def is_expired(self):
        return self.row.expires_at <= _now()

    def is_revoked(self):
        return self.row.revoked_at is not None


class MergedRequest(FlaskOAuth2Request):
    """Token requests whose parameters come in the query string (of a POST or a GET) as well as
    a form body, since deployed ESPI clients send all three (DESIGN.md)."""

    @property
    def form(self):
        return self._request.values


class Server(AuthorizationServer):
    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's client authentication, with a malformed HTTP Basic header (nothing after
        "Basic", not base64, not UTF-8, no colon) refused as invalid_client like any bad credential
        (RFC 6749 5.2) instead of escaping as an exception."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise InvalidClientError(
                status_code=401,
                description="the Authorization header is not HTTP Basic with base64 of client_id:client_secret",
            ) from None

    def query_client(self, client_id):
        with sandbox().db.sessions() as s:
            app = s.scalars(
                select(Application).where(Application.utility_id == g.utility_id, Application.client_id == client_id)
            ).first()
            if app is None:
                return None
            g.client_profile = app.profile  # the client's calls are answered with its profile (_profile)
            return Client(app)

    def save_token(self, token, req):
        """Store the token's digests and add ESPI's members to the response."""
        save_token(token, req)

    def create_oauth2_request(self, req):
        return MergedRequest(request)

    def validate_requested_scope(self, scope):
        """Scope is checked per client in the grants; here only its shape."""
        if scope is None:
            return
        try:
            allowed_by([scope], scope, "strict" if _profile().behaviour.strict_scopes else "lenient")
        except ScopeError as exc:
            raise InvalidScopeError(description=error_text(str(exc))) from None


def check_scope(client: Client, scope: str | None) -> str:
    """The requested scope if the application registered it (and the utility offers it), else invalid_scope."""
    if not scope:
        raise InvalidScopeError(description="scope is required: one of the application's registered ESPI scopes")
    try:
        profile = _profile()
        allowed_by(list(client.app.scopes), scope, profile.behaviour.scope_grammar, profile.function_blocks)
    except ScopeError as exc:
        raise InvalidScopeError(description=error_text(str(exc))) from None
    return scope


def _profile() -> Profile:
    """The profile the current client is answered with: the one it was given, else its utility's."""
    return sandbox().require_world().profile_for(g.utility, g.get("client_profile"))


# How long the access tokens of a non-rotating refresh stay good beside the next one's: a client's
# threads share its one refresh token, and refreshes that race must all get working tokens
REFRESH_RACE = dt.timedelta(seconds=30)
TAKE_TRIES = 32  # each try that finds the token taken follows another request's success


def replaced_before(now: dt.datetime) -> dt.datetime:
    """A non-rotating refresh at `now` retires its authorization's tokens issued at or before this:
    those of the last REFRESH_RACE stay good until they expire. With the clock frozen every request
    happens at one instant and no race can be told from a sequence, so there a refresh retires every
    token before it (as one that rotates does)."""
    return now if sandbox().clock.frozen else now - REFRESH_RACE


def take_refresh(s: Session, row: OAuthToken) -> int | None:
    """The id of the row a non-rotating refresh token was taken from (tokens.take_refresh), or None if
    no row holds it any more (revoked meanwhile). On PostgreSQL a take that waited for a racing
    refresh's commit finds nothing: tried again, it sees the row that refresh gave the token to."""
    held = row.refresh_hash
    if held is None:
        return None
    for _ in range(TAKE_TRIES):
        taken = tokens.take_refresh(s, row.utility_id, held)
        if taken is not None or not tokens.refresh_held(s, row.utility_id, held):
            return taken
    return None


def save_token(token: dict, req) -> None:
    sb = sandbox()
    now = _now()
    world = sb.require_world()
    profile = _profile()
    grant_type = req.payload.grant_type
    rotated = "refresh_token" in token
    with sb.db.transaction() as s:
        if grant_type == "refresh_token":
            # first: of two refreshes of a rotating token exactly one wins (tokens.retire); racing
            # refreshes of a non-rotating one take it in turn from the row that holds it
            presented = req.refresh_token.row
            if rotated:
                old_id = presented.id if tokens.retire(s, presented.id, now) else None
            else:
                old_id = take_refresh(s, presented)
            if old_id is None:
                raise InvalidGrantError(
                    description="this refresh token was just used by another request; use the "
                    "tokens that request received"
                )
        # a client-credentials token changes nothing of the application it read a moment ago (Authlib's
        # query_client): attached as it is, without a second SELECT; the other grants read it afresh
        app = (
            s.merge(req.client.app, load=False)
            if grant_type == "client_credentials"
            else fetch(s, Application, req.client.app.id)
        )
        auth: Authorization | None
        if grant_type == "authorization_code":
            code = fetch(s, OAuthCode, req.authorization_code.row.id)
            _, auth = issuing.issue_customer_token(
                s,
                token,
                profile,
                world.seed,
                g.utility,
                app,
                code.customer,
                code.scope,
                code.usage_point_ids,
                now,
                urls.resource_root(sb.base_url(), g.slug),
            )
            code.authorization_id = auth.id
        elif grant_type == "refresh_token":
            old = fetch(s, OAuthToken, old_id)
            auth = old.authorization
            if not rotated and auth is not None:
                tokens.retire_issued_by(s, auth.id, replaced_before(now), now)
            row = tokens.store(
                s,
                app=app,
                kind=old.kind,
                token=token,
                authorization=auth,
                now=now,
                refresh_until=tokens.refresh_until(auth, profile.behaviour.refresh_lifetime_days, now)
                if auth
                else None,
            )
            if not rotated:  # the same refresh token now belongs to the new row
                row.refresh_hash, row.refresh_expires_at = presented.refresh_hash, old.refresh_expires_at
        else:
            issued: ClientGrant = req.client_grant  # ClientCredentialsGrant.validate_token_request
            auth = authorizations.grant_for_client(s, world.seed, g.slug, app, issued.scope, profile, now)
            tokens.store(s, app=app, kind=issued.kind, token=token, authorization=auth, now=now, refresh_until=None)
            if issued.kind == TokenKind.CLIENT:
                onboarding.record_call(app, "client_token_at", profile, now)
        s.flush()
        if auth is None:  # every customer and client token is issued with its authorization
            raise InvalidGrantError(description="this token belongs to no authorization")
        add_uris(token, auth, resource_root())
    if grant_type == "refresh_token" and not rotated:
        token["refresh_token"] = req.form["refresh_token"]  # the same one again (RFC 6749 6): clients require it


def add_uris(token: dict, auth: Authorization, root: str) -> None:
    """ESPI's members of a token response: where the data and the authorization are."""
    found = uris_for(auth, root)
    token["resourceURI"] = found.resource
    token["authorizationURI"] = found.authorization
    if found.customer:
        token["customerResourceURI"] = found.customer


def check_pkce_required(data: dict) -> None:
    """Where the utility requires PKCE it means S256 (RFC 9700 2.1.1): no challenge, `plain`, and a
    challenge without a method (which RFC 7636 4.3 reads as plain) are invalid_request."""
    if not _profile().pkce_required:
        return
    name = g.utility.name
    if not data.get("code_challenge"):
        raise InvalidRequestError(
            description=f"{name} requires PKCE: send code_challenge and code_challenge_method=S256"
        )
    method = data.get("code_challenge_method")
    if method != "S256":
        sent = f"is {error_text(method)}" if method else "is missing, which means plain (RFC 7636 4.3)"
        raise InvalidRequestError(
            description=f"code_challenge_method {sent}: {name} requires PKCE with code_challenge_method=S256"
        )


def check_exchange(code: OAuthCode) -> None:
    """Refuse a code that must give no tokens now: its application is suspended (a suspension also
    voids the codes issued before it: third_parties.set_status), or the customer may no longer
    authorize it (moved out; back in Review for a customer who is not a test customer). Raised
    inside the redeeming transaction, so nothing is stored."""
    app, customer = code.application, code.customer
    refusal = access.authorize_refusal(app, customer, sandbox().clock.today(g.utility.time_zone))
    if refusal in ("blocked", "on_hold"):
        raise UnauthorizedClientError(
            description=f"{app.name} is {_status(app.status)} at {g.utility.name}: it "
            "gets no tokens, and the codes issued to it before are void"
        )
    if refusal == "moved_out":
        raise InvalidGrantError(
            description=f"the customer moved out: their service ended on "
            f"{customer.service_end:%Y-%m-%d}, so this code gives no tokens"
        )
    if refusal == "review":
        raise InvalidGrantError(
            description=f"{app.name} is in Review at {g.utility.name} and only test "
            "customers may authorize it: this code gives no tokens"
        )


def _status(status: str) -> str:
    return access.STATUS_LABELS[access.AppStatus(status)].lower()


def expired_code(s: Session, code: OAuthCode) -> str:
    """Why an unexchanged code no longer works: it expired, or a suspension of its application voided it."""
    voided = s.scalars(
        select(ApplicationStatusChange)
        .where(
            ApplicationStatusChange.application_id == code.application_id,
            ApplicationStatusChange.new_status.in_(access.SUSPENDED),
            ApplicationStatusChange.changed_at.between(code.created_at, code.expires_at),
        )
        .order_by(ApplicationStatusChange.id)
    ).first()
    if voided is None:
        return "this authorization code has expired"
    return (
        f"this authorization code was voided when {code.application.name} was {_status(voided.new_status)} "
        f"(at {voided.changed_at:%Y-%m-%dT%H:%M:%SZ}): send the customer through authorization again"
    )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_METHODS)
    TOKEN_ENDPOINT_HTTP_METHODS = ["POST", "GET"]  # the reference ESPI third party sends a GET

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        try:
            check_scope(self.request.client, self.request.payload.scope)
            check_pkce_required(self.request.payload.data)
        except (InvalidScopeError, InvalidRequestError) as exc:  # the redirect URI is good: the client hears it
            exc.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def save_authorization_code(self, code, req):
        sb = sandbox()
        now = _now()
        chosen = g.get("consent_usage_points") or []
        with sb.db.transaction() as s:
            s.add(
                OAuthCode(
                    utility_id=g.utility_id,
                    code_hash=digest(code),
                    application_id=req.client.app.id,
                    customer_id=req.user.id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    usage_point_ids=list(chosen),
                    code_challenge=req.payload.data.get("code_challenge"),
                    code_challenge_method=req.payload.data.get("code_challenge_method"),
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=_profile().code_seconds),
                )
            )

    def query_authorization_code(self, code, client):
        """A code is good once: a second use revokes everything the first one minted (RFC 6749 4.1.2).
        Redemption is one conditional update, so of two racing exchanges exactly one wins; a code the
        exchange policy refuses (check_exchange) is refused in the same transaction, which then
        stores nothing."""
        sb = sandbox()
        now = _now()
        with sb.db.transaction() as s:
            if tokens.redeem_code(s, g.utility_id, code, client.app.id, now):
                row = tokens.find_code(s, g.utility_id, code)
                if row is None:  # redeemed in this transaction: it is there
                    raise InvalidGrantError(description="the authorization code is unknown")
                _ = row.customer, row.application
                check_exchange(row)
                return Code(row)
            row = tokens.find_code(s, g.utility_id, code)
            if row is None or row.application_id != client.app.id:
                return None
            if row.used_at is None:
                problem = expired_code(s, row)
            elif row.authorization_id is not None:  # committed below, before the error is returned
                authorizations.end(s, fetch(s, Authorization, row.authorization_id), now, REUSED_CODE)
                problem = "this authorization code was already used; the tokens issued for it are revoked"
            else:  # its exchange was refused (PKCE, redirect_uri), or is still under way
                problem = (
                    "this authorization code was already presented, and a code is good for one exchange: "
                    "send the customer through authorization again"
                )
        raise InvalidGrantError(description=problem)

    def delete_authorization_code(self, authorization_code):
        """Codes are kept (marked used) so that reuse is recognised."""

    def authenticate_user(self, authorization_code):
        with sandbox().db.sessions() as s:
            return s.get(Customer, authorization_code.row.customer_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_METHODS)
    TOKEN_ENDPOINT_HTTP_METHODS = ["POST", "GET"]

    @property
    def INCLUDE_NEW_REFRESH_TOKEN(self):  # noqa: N802 (Authlib's name)
        return _profile().behaviour.refresh_rotation

    def validate_token_request(self):
        """Authlib's checks, then the profile's rule for the scope parameter on a refresh."""
        super().validate_token_request()
        rule = _profile().behaviour.refresh_scope
        sent = self.request.payload.scope
        if rule == "required" and not sent:
            raise InvalidRequestError(
                description=f"{g.utility.name} requires the scope parameter on a refresh: "
                "send the scope the authorization was granted"
            )
        if rule == "refused" and sent:
            raise InvalidScopeError(
                description=f"{g.utility.name} takes no scope parameter on a refresh: leave it out "
                "(the new token carries the authorization's scope)"
            )

    def authenticate_refresh_token(self, refresh_token):
        sb = sandbox()
        with sb.db.sessions() as s:
            row = tokens.find(s, g.utility_id, refresh_token, refresh=True)
            # judged by the profile of the application the token was issued to, and only for that
            # application: another client presenting it is refused without touching its family
            owner = row.application if row is not None else None
            profile = sandbox().require_world().profile_for(g.utility, owner.profile) if owner is not None else None
            if (
                row is not None
                and profile is not None
                and row.revoked_at is not None
                and row.authorization_id is not None
                and row.application_id == self.request.client.app.id
                and profile.behaviour.refresh_rotation
                and profile.behaviour.refresh_reuse_detection
            ):
                family = row.authorization_id
            elif row is None or not access.token_usable(row, _now(), refresh=True):
                return None
            else:
                _ = row.authorization, row.application
                return Token(row)
        # a refresh token used again after it was rotated out: someone else may hold it (RFC 9700 4.14.2)
        with sb.db.transaction() as s:
            ended = tokens.revoke_all_of(s, family, _now())
        raise InvalidGrantError(
            description="this refresh token was already used"
            + (
                f"; the {ended} token(s) issued from it are revoked too (refresh-token reuse detection, RFC 9700 4.14.2): "
                "authorize again"
                if ended
                else ""
            )
        )

    def authenticate_user(self, credential):
        auth = credential.row.authorization
        if auth is None or auth.customer_id is None:
            return None
        with sandbox().db.sessions() as s:
            return s.get(Customer, auth.customer_id)

    def revoke_old_credential(self, credential):
        """Done in save_token, which also keeps the refresh token when the profile does not rotate it."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_METHODS)
    TOKEN_ENDPOINT_HTTP_METHODS = ["POST", "GET"]

    def validate_token_request(self):
        super().validate_token_request()
        app = self.request.client.app
        if not access.may_get_client_token(app):
            raise UnauthorizedClientError(
                description=f"this application is {access.STATUS_LABELS[app.status].lower()} "
                "at the utility: it gets no tokens"
            )
        try:
            self.request.client_grant = client_grant(
                ClientRole(app.role), self.request.payload.scope, _profile().behaviour.strict_scopes
            )
        except ScopeError as exc:
            raise InvalidScopeError(description=error_text(str(exc))) from None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        """The token carries the scope granted (services.grants), which may be written otherwise
        than the one sent; never a refresh token (RFC 6749 4.4.3)."""
        return super().generate_token(user, self.request.client_grant.scope, grant_type, expires_in, False)


def _lookup(s: Session, token_string: str, token_type_hint: str | None) -> tuple[OAuthToken | None, bool]:
    """(the token row with this access or refresh token, whether it was the refresh token), the
    hinted kind first (RFC 7009 2.1, RFC 7662 2.1)."""
    order = (True, False) if token_type_hint == "refresh_token" else (False, True)
    for refresh in order:
        row = tokens.find(s, g.utility_id, token_string, refresh=refresh)
        if row is not None:
            return row, refresh
    return None, False


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(TOKEN_METHODS)

    def query_token(self, token_string, token_type_hint):
        with sandbox().db.sessions() as s:
            row, _ = _lookup(s, token_string, token_type_hint)
            return Token(row) if row is not None else None

    def revoke_token(self, token, req):
        """Revoking a customer token ends its authorization: every token of it stops working (ESPI.md 5.6)."""
        now = _now()
        with sandbox().db.transaction() as s:
            row = fetch(s, OAuthToken, token.row.id)
            row.revoked_at = now
            if row.authorization is not None and row.kind == TokenKind.CUSTOMER:
                # ends it if it is still active; its tokens stop working all the same
                authorizations.end(s, row.authorization, now, REVOKED_BY_THIRD_PARTY)


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for the client that owns the token: active exactly when the resource server (or,
    for a refresh token, the token endpoint) would take it now, by the sandbox clock."""

    CLIENT_AUTH_METHODS = list(TOKEN_METHODS)

    def query_token(self, token_string, token_type_hint):
        with sandbox().db.sessions() as s:
            row, refresh = _lookup(s, token_string, token_type_hint)
            if row is None:
                return None
            found = Token(row)
            found.introspection = _introspection(row, refresh)
            return found

    def check_permission(self, token, client, request):
        return token.check_client(client)  # another client learns nothing: {"active": false}

    def create_introspection_payload(self, token):
        return token.introspection if token is not None else {"active": False}


def _introspection(row: OAuthToken, refresh: bool) -> dict:
    if not access.token_usable(row, _now(), refresh=refresh):
        return {"active": False}
    out = {
        "active": True,
        "scope": row.scope,
        "client_id": row.application.client_id,
        "token_type": "Bearer",
        "iat": int(utc(row.issued_at).timestamp()),
        "exp": int(utc(row.refresh_expires_at if refresh and row.refresh_expires_at else row.expires_at).timestamp()),
        "token_kind": row.kind,
    }
    auth = row.authorization
    if auth is not None:
        out["authorization_id"] = auth.uuid
        if auth.customer is not None:
            out["sub"] = auth.customer.uuid  # the retail customer (RFC 7662's subject)
    return out


def token_generator(client, grant_type, user=None, scope=None, expires_in=None, include_refresh_token=True):
    """Opaque bearer tokens; lifetimes from the utility's profile; no refresh token for client credentials."""
    return new_token_response(_profile(), scope, include_refresh_token and grant_type != "client_credentials")


def create_server(app) -> Server:
    server = Server(app)
    server.register_token_generator("default", token_generator)
    server.register_grant(AuthorizationCodeGrant, [Pkce(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    return server


class Pkce(CodeChallenge):
    """RFC 7636 as Authlib checks it (S256, and plain where the utility does not require PKCE:
    check_pkce_required, since Authlib's own flag concerns public clients only), with a refusal at
    the token endpoint that says what failed. The code was redeemed before the check, so it is spent."""

    def validate_code_verifier(self, grant, result):
        try:
            super().validate_code_verifier(grant, result)
        except OAuth2Error as exc:
            method = grant.request.authorization_code.code_challenge_method or "plain"
            what = (
                f"code_verifier does not match the code_challenge ({method}) of the authorization request"
                if isinstance(exc, InvalidGrantError)
                else (exc.description or exc.error).rstrip(".")
            )
            exc.description = f"PKCE check failed: {what}; this code cannot be exchanged again: authorize again"
            raise
