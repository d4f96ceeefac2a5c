"""The access policy: whether an application, an authorization and a token may do a thing.

Every caller asks here (the consent page, the OAuth grants, the bearer check, the staff view,
the directory), so a status means the same everywhere. Statuses are enums whose values are
the texts stored in the database: AppStatus here, AuthState with the authorization lifecycle
(`services.authorizations`).
"""
from __future__ import annotations

import datetime as dt
import enum
from urllib.parse import urlsplit

from sandbox.core.clock import to_naive_utc
from sandbox.core.models import Application, Authorization, Customer, OAuthToken
from sandbox.services import authorizations
from sandbox.services.authorizations import AuthState


class AppStatus(enum.StrEnum):
    """A third-party application's standing with the utility (Application.status)."""

    REVIEW = "review"  # new: onboarding; only test customers may authorize it
    PRODUCTION = "production"
    ON_HOLD = "on_hold"  # suspended by staff; Release restores the status before
    BLOCKED = "blocked"  # suspended by staff; Unblock restores the status before


STATUS_LABELS = {AppStatus.REVIEW: "Review", AppStatus.PRODUCTION: "Production", AppStatus.ON_HOLD: "On Hold",
                 AppStatus.BLOCKED: "Blocked"}
SUSPENDED = frozenset({AppStatus.ON_HOLD, AppStatus.BLOCKED})


class TokenKind(enum.StrEnum):
    CUSTOMER = "customer"  # authorization code grant
    CLIENT = "client"  # client credentials grant
    REGISTRATION = "registration"


# --- applications -----------------------------------------------------------------------

def suspended(app: Application) -> bool:
    """On hold or blocked: no new authorizations, no tokens, no data."""
    return app.status in SUSPENDED


LISTED = (AppStatus.PRODUCTION,)  # the statuses of the third parties customers may choose



def may_get_client_token(app: Application) -> bool:
    """Client credentials are for applications in Review (onboarding needs one) or Production."""
    return not suspended(app)


def authorize_refusal(app: Application, customer: Customer | None, today: dt.date) -> str | None:
    """Why `customer` may not authorize `app` now (a key of REFUSALS), or None if they may.

    `customer` None asks only about the application (before anyone has signed in)."""
    if app.status == AppStatus.BLOCKED:
        return "blocked"
    if app.status == AppStatus.ON_HOLD:
        return "on_hold"
    if customer is None:
        return None
    if app.status == AppStatus.REVIEW and not customer.is_test:
        return "review"
    if customer.service_end is not None and customer.service_end <= today:
        return "moved_out"
    return None


REFUSALS = {
    "blocked": "{utility} has blocked {app}. It cannot be authorized now.",
    "on_hold": "{utility} has put {app} on hold. It cannot be authorized now.",
    "review": "{app} is still being reviewed by {utility}; only test customers can authorize it for now.",
    "moved_out": "Your service at this address has ended, so there is no data left to share with {app}.",
}

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def redirect_allowed(app: Application, uri: str) -> bool:
    """Exact match with a registered URI, or any loopback port (RFC 8252 7.3) for a registered
    loopback URI's path; applications allowed loopback redirects take any loopback http URI."""
    if not uri or "#" in uri:
        return False
    if uri in app.redirect_uris:
        return True
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:  # not a URL (an unclosed IPv6 bracket, say)
        return False
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
        return False
    if app.allow_loopback_redirects:
        return True
    for registered in app.redirect_uris:
        r = urlsplit(registered)  # registered URIs were checked at registration
        if r.scheme == "http" and r.hostname in LOOPBACK_HOSTS and (r.path, r.query) == (parts.path, parts.query):
            return True
    return False


# --- authorizations ---------------------------------------------------------------------

def grants_access(auth: Authorization | None, now: dt.datetime) -> bool:
    """The authorization lets its tokens work now: stored active, not past its end, and its
    application not suspended."""
    return auth is not None and authorizations.state(auth, now)[0] == AuthState.ACTIVE \
        and not suspended(auth.application)


# --- tokens -----------------------------------------------------------------------------

def token_usable(token: OAuthToken | None, now: dt.datetime, refresh: bool = False) -> bool:
    """Not revoked, not expired (its refresh part, with `refresh`), its application not suspended,
    and its authorization (if any) granting access."""
    if token is None or token.revoked_at is not None:
        return False
    n = to_naive_utc(now)
    if refresh:
        if token.refresh_expires_at is None or token.refresh_expires_at <= n:
            return False
    elif token.expires_at <= n:
        return False
    if suspended(token.application):
        return False
    if token.authorization_id is not None and not grants_access(token.authorization, now):
        return False
    return True


KIND_NAMES = {TokenKind.CUSTOMER: "a customer access token (authorization code grant)",
              TokenKind.CLIENT: "a client access token (client credentials grant)",
              TokenKind.REGISTRATION: "a registration access token"}


def kind_refusal(token: OAuthToken, kinds: tuple[str, ...]) -> str | None:
    """Why `token` may not call a resource open to `kinds`, or None if it may."""
    if token.kind in kinds:
        return None
    needed = " or ".join(KIND_NAMES[TokenKind(k)] for k in kinds)
    return f"this resource needs {needed}; this is {KIND_NAMES[TokenKind(token.kind)]}"
