"""The access policy: whether an application, an authorization and a token may do a thing.

Every caller asks here (the consent page, the OAuth grants, the bearer check, the staff view,
the directory), so a status means the same everywhere. Statuses are enums whose values are
the texts stored in the database: AppStatus here, AuthState with the authorization lifecycle
(`services.authorizations`).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping
from urllib.parse import urlsplit

from sandbox.core.clock import to_naive_utc
from sandbox.core.errors import TokenRefused
from sandbox.core.models import Application, Authorization, Customer, OAuthToken
from sandbox.espi import urls
from sandbox.espi.scopes import CUSTOMER_DATA_BLOCKS, function_blocks
from sandbox.services import authorizations
from sandbox.services.authorizations import AuthState
from sandbox.services.tokens import CallApp, CallAuthorization, CallToken


class AppStatus(enum.StrEnum):
    """A third-party application's standing with the utility (Application.status)."""

    REVIEW = "review"  # new: onboarding; only test customers may authorize it
    PRODUCTION = "production"
    ON_HOLD = "on_hold"  # suspended by staff; Release restores the status before
    BLOCKED = "blocked"  # suspended by staff; Unblock restores the status before


STATUS_LABELS = {
    AppStatus.REVIEW: "Review",
    AppStatus.PRODUCTION: "Production",
    AppStatus.ON_HOLD: "On Hold",
    AppStatus.BLOCKED: "Blocked",
}
SUSPENDED = frozenset({AppStatus.ON_HOLD, AppStatus.BLOCKED})


class TokenKind(enum.StrEnum):
    """The token kinds of ESPI.md 4.1 (its ACUDR letters in LETTERS)."""

    CUSTOMER = "customer"  # A: authorization code grant
    CLIENT = "client"  # C: a third party's client credentials grant
    UPLOAD = "upload"  # U: the utility's upload client (client credentials)
    CUSTODIAN = "custodian"  # D: the utility's own data-custodian admin client (client credentials)
    REGISTRATION = "registration"  # R: the registration access token of a dynamic registration


LETTERS = {
    TokenKind.CUSTOMER: "A",
    TokenKind.CLIENT: "C",
    TokenKind.UPLOAD: "U",
    TokenKind.CUSTODIAN: "D",
    TokenKind.REGISTRATION: "R",
}


class ClientRole(enum.StrEnum):
    """Who an Application is (Application.role): a third party, or one of the utility's own clients."""

    THIRD_PARTY = "third_party"
    UPLOAD = "upload"
    DATA_CUSTODIAN = "data_custodian"


# What a client-credentials grant gives each role: the token kind and its scope (ESPI.md 4.1)
ROLE_TOKENS = {
    ClientRole.THIRD_PARTY: TokenKind.CLIENT,
    ClientRole.UPLOAD: TokenKind.UPLOAD,
    ClientRole.DATA_CUSTODIAN: TokenKind.CUSTODIAN,
}
ROLE_SCOPES = {
    ClientRole.THIRD_PARTY: "FB=34_35",
    ClientRole.UPLOAD: "FB=45",
    ClientRole.DATA_CUSTODIAN: "FB=3_19_32_33_34_35_36_37_38_41_44_45",
}


# --- applications -----------------------------------------------------------------------


def suspended(app: Application | CallApp) -> bool:
    """On hold or blocked: no new authorizations, no tokens, no data."""
    return app.status in SUSPENDED


LISTED = (AppStatus.PRODUCTION,)  # the statuses of the third parties customers may choose


def redirects_unasked(app: Application) -> bool:
    """Whether the authorization endpoint may send a visitor to this application without their
    having chosen it on the consent page (an error answer, ESPI's scope-selection screens): only
    once the utility has vetted it (production). Anyone can register an application, in Review:
    redirecting for one would make the utility an open redirector (RFC 9700 4.11.2)."""
    return app.status == AppStatus.PRODUCTION


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
    return (
        auth is not None and authorizations.state(auth, now)[0] == AuthState.ACTIVE and not suspended(auth.application)
    )


# --- tokens -----------------------------------------------------------------------------


def token_usable(token: OAuthToken | None, now: dt.datetime, refresh: bool = False) -> bool:
    """Not revoked, not expired (its refresh part, with `refresh`), its application not suspended,
    and its authorization (if any) granting access: `token_refusal` has nothing to say."""
    return token is not None and token_refusal(CallToken.of(token), now, refresh) is None


KIND_NAMES = {
    TokenKind.CUSTOMER: "a customer access token (authorization code grant)",
    TokenKind.CLIENT: "a third party's client access token (client credentials grant)",
    TokenKind.UPLOAD: "an upload access token (the utility's upload client)",
    TokenKind.CUSTODIAN: "a data custodian access token (the utility's admin client)",
    TokenKind.REGISTRATION: "a registration access token",
}


# --- why a token does not work ---------------------------------------------------------------

# X-Sandbox-Reason codes of refusals about the token itself (401)
ENDED_REASONS = {
    authorizations.REVOKED_BY_CUSTOMER: "authorization_revoked_by_customer",
    authorizations.REVOKED_BY_THIRD_PARTY: "authorization_revoked_by_third_party",
    authorizations.REUSED_CODE: "authorization_revoked_code_reused",
    authorizations.MOVED_OUT: "customer_moved_out",
    authorizations.REVOKED_BY_UTILITY: "authorization_revoked_by_utility",
}


def token_refusal(token: CallToken, now: dt.datetime, refresh: bool = False) -> TokenRefused | None:
    """Why a stored access token (its refresh part, with `refresh`) does not work now (401
    invalid_token with its own reason), or None."""
    n = to_naive_utc(now)
    app = token.application
    if app.status == AppStatus.BLOCKED:
        return _invalid("third_party_blocked", f"the utility has blocked {app.name}; its tokens do not work")
    if app.status == AppStatus.ON_HOLD:
        return _invalid("third_party_on_hold", f"the utility has put {app.name} on hold; its tokens do not work")
    auth = token.authorization
    if auth is not None:
        st, until = authorizations.state(auth, now)
        if st != AuthState.ACTIVE:
            return _ended(auth, st, until)
    if token.revoked_at is not None:
        return _invalid(
            "token_revoked",
            f"this access token was revoked (or replaced by a refresh) at {token.revoked_at:%Y-%m-%dT%H:%M:%SZ}",
        )
    if refresh:
        if token.refresh_expires_at is None or token.refresh_expires_at <= n:
            return _invalid("refresh_token_expired", "this refresh token has expired (or the token has none)")
        return None
    if token.expires_at <= n:
        return _invalid(
            "token_expired", f"this access token expired at {token.expires_at:%Y-%m-%dT%H:%M:%SZ}; refresh it"
        )
    return None


def _ended(auth: CallAuthorization, st: AuthState, until: dt.datetime) -> TokenRefused:
    """Why a token of an authorization that is not active does not work."""
    when = f"{until:%Y-%m-%dT%H:%M:%SZ}"
    if st == AuthState.DENIED:
        return _invalid("authorization_denied", "the customer denied this authorization")
    if st in (AuthState.REVOKED, AuthState.EXPIRED) and auth.status_reason == authorizations.MOVED_OUT:
        return _invalid("customer_moved_out", f"the customer moved out; the authorization ended at {when}")
    if st == AuthState.REVOKED:
        reason = ENDED_REASONS.get(auth.status_reason or "", "authorization_revoked")
        return _invalid(reason, f"the authorization was {auth.status_reason or 'revoked'} at {when}")
    if st == AuthState.EXPIRED:
        return _invalid("authorization_expired", f"the authorization expired at {when}")
    return _invalid(
        "authorization_pending",
        f"the authorization has not begun yet (it begins at {auth.authorized_start:%Y-%m-%dT%H:%M:%SZ})",
    )


def _invalid(reason: str, description: str) -> TokenRefused:
    return TokenRefused(401, "invalid_token", description, reason)


# --- the token matrix (ESPI.md 4.1-4.2) -----------------------------------------------------------

A, C, U, D, R = (TokenKind.CUSTOMER, TokenKind.CLIENT, TokenKind.UPLOAD, TokenKind.CUSTODIAN, TokenKind.REGISTRATION)
GET, PUT, POST, DELETE = ("GET",), ("PUT",), ("POST",), ("DELETE",)


@dataclass(frozen=True)
class Rule:
    """Which token kinds may call `methods` on a resource of the URL table.

    A customer token's scope must hold one of `blocks` (when given), and the path's ids named in
    `own` must be the token's own (a customer token's subscription and retail customer, a
    registration token's application); `limit` says in words what else narrows a kind's view.
    """

    resource: str
    methods: tuple[str, ...]
    kinds: tuple[TokenKind, ...]
    blocks: tuple[int, ...] = ()
    own: tuple[str, ...] = ()
    limit: str = ""


_SUMMARY = (15, 16)
_PII = tuple(sorted(CUSTOMER_DATA_BLOCKS))
_BILLING = (46, 56)  # Core RetailCustomer, Retail Customer Billing Information: a customer's bill statements
_OWN_PII = "A: its own customer's (the usage points shared at consent)"
_OWN_SUB = ("subscription_id",)
_TREE_BLOCKS = {
    "UsageSummaries": _SUMMARY,
    "UsageSummary": _SUMMARY,
    "ElectricPowerUsageSummaries": _SUMMARY,
    "ElectricPowerUsageSummary": _SUMMARY,
    "ElectricPowerQualitySummaries": (17,),
    "ElectricPowerQualitySummary": (17,),
}

MATRIX: tuple[Rule, ...] = (
    Rule("ReadServiceStatus", GET, (C, U, D)),
    Rule("ApplicationInformationList", GET, (D,)),
    Rule("ApplicationInformation", GET + PUT + DELETE, (D, R), own=("application_id",)),
    Rule("AuthorizationList", GET, (C, D), limit="C: its own application's authorizations"),
    Rule("Authorization", GET + PUT + DELETE, (C, D), limit="C: its own application's; DELETE revokes"),
    Rule("Authorization", GET, (U,), limit="U: its own"),
    Rule("BatchSubscription", GET, (A, D), blocks=(3,), own=_OWN_SUB),
    Rule("BatchSubscriptionUsagePoints", GET, (A, D), blocks=(3,), own=_OWN_SUB),
    Rule("BatchSubscriptionUsagePoint", GET, (A, D), blocks=(3,), own=_OWN_SUB),
    Rule("BatchBulk", GET, (C, D), limit="C: its own application's bulks"),
    Rule("BatchRetailCustomer", GET, (A, D), blocks=_PII, own=("retail_customer_id",)),
    Rule("BatchRetailCustomerUsagePoint", GET + POST, (U, D)),
    Rule("BatchRetailCustomerUsagePointOne", GET, (U, D)),
    Rule("Subscription", GET, (A, D), blocks=(32,), own=_OWN_SUB),
    *(
        Rule("Subscription" + name, GET, (A, D), blocks=_TREE_BLOCKS.get(name, (32,)), own=_OWN_SUB)
        for name in urls.TREE
    ),
    *(Rule("RetailCustomer" + name, GET, (D,)) for name in urls.TREE),
    Rule("CustomerList", GET, (A, D), blocks=_PII, own=("retail_customer_id",)),
    Rule("CustomerTree", GET, (A, D), blocks=_PII, own=("retail_customer_id",)),
    *(
        Rule(name, GET, (A, D), blocks=_BILLING if kind == "Statement" else _PII, limit=_OWN_PII)
        for kind, *_ in urls.PII_ROOT
        for name in (f"{kind}Collection", kind)
    ),
    Rule("StatementDocument", GET, (A, D), blocks=_BILLING, limit=_OWN_PII),
    *(
        Rule(name, GET, (A, D), blocks=_PII, limit="the utility's tariff codes, the same for every customer")
        for name in ("ProgramDateIdMappingsList", "ProgramDateIdMappings")
    ),
    *(
        Rule(name, GET, (A, D))
        for name in ("ReadingTypes", "ReadingType", "LocalTimeParametersList", "LocalTimeParameters")
    ),
    *(
        Rule(name, GET, (D,))
        for name in (
            "UsagePointList",
            "UsagePointAny",
            "MeterReadingList",
            "MeterReadingAny",
            "IntervalBlockList",
            "IntervalBlockAny",
        )
    ),
)


def _by_resource(matrix: tuple[Rule, ...]) -> dict[str, tuple[Rule, ...]]:
    found: dict[str, list[Rule]] = {}
    for rule in matrix:
        found.setdefault(rule.resource, []).append(rule)
    return {resource: tuple(rules) for resource, rules in found.items()}


_BY_RESOURCE = _by_resource(MATRIX)  # every call asks for its resource's rows


def rules_for(resource: str) -> list[Rule]:
    """A resource's rows of the matrix, in table order."""
    return list(_BY_RESOURCE.get(resource, ()))


def methods_of(resource: str) -> list[str]:
    """The methods a resource answers (its route's methods)."""
    return sorted({m for r in rules_for(resource) for m in r.methods})


def served() -> list[str]:
    """The resources the resource server routes, in table order."""
    return list(dict.fromkeys(r.resource for r in MATRIX))


@dataclass(frozen=True)
class Presented:
    """The bearer token of a request: its kind, its application and, for an OAuth token, the token
    and the ids of the resources it owns (a registration token owns its application only)."""

    kind: TokenKind
    application: CallApp
    token: CallToken | None
    own: Mapping[str, str]

    @property
    def authorization(self) -> CallAuthorization | None:
        return self.token.authorization if self.token is not None else None


def presented(token: CallToken | None, registered: CallApp | None) -> Presented | None:
    """A found OAuth token, or the application whose registration token was sent, as a Presented."""
    if token is not None:
        own: dict[str, str] = {}
        auth = token.authorization
        if token.kind == TokenKind.CUSTOMER and auth is not None:
            own["subscription_id"] = auth.subscription_uuid
            if auth.customer_uuid is not None:
                own["retail_customer_id"] = auth.customer_uuid
        if token.kind == TokenKind.REGISTRATION:
            own["application_id"] = token.application.uuid
        return Presented(TokenKind(token.kind), token.application, token, own)
    if registered is not None:
        return Presented(TokenKind.REGISTRATION, registered, None, {"application_id": registered.uuid})
    return None


def check_token(p: Presented | None, now: dt.datetime) -> Presented:
    """The token, if it works now whatever it asks for; else TokenRefused 401 with its reason (also
    for paths the resource server does not have: the token is judged before the path)."""
    if p is None:
        raise TokenRefused(401, "invalid_token", "the access token is unknown", "unknown_token")
    if p.token is not None:
        refusal = token_refusal(p.token, now)
        if refusal is not None:
            raise refusal
    elif suspended(p.application):
        raise _invalid(
            f"third_party_{p.application.status}",
            f"{p.application.name} is {STATUS_LABELS[AppStatus(p.application.status)].lower()} at the utility",
        )
    return p


def judge(p: Presented | None, resource: str, method: str, ids: Mapping[str, str], now: dt.datetime) -> None:
    """TokenRefused unless the token may make this call, decided before anything is looked up: 401 for
    no usable token, 403 naming the kind, function block or id it would need. HEAD is judged as
    the GET it is (RFC 9110 9.3.2)."""
    p = check_token(p, now)
    method = "GET" if method == "HEAD" else method
    rules = [r for r in rules_for(resource) if method in r.methods]
    if not rules and p.kind == TokenKind.CUSTODIAN:  # the one kind that could: the sandbox does not offer it
        raise TokenRefused(
            405,
            "method_not_allowed",
            f"{method} {urls.template(resource)} is not offered; it answers {', '.join(methods_of(resource))}",
            "method_not_allowed",
            allow=methods_of(resource),
        )
    kinds = [k for r in rules for k in r.kinds]
    if p.kind not in kinds:
        action = ACTIONS.get(resource, f"call {method} {urls.template(resource)}")
        if kinds:
            needed = " or ".join(KIND_NAMES[k] for k in dict.fromkeys(kinds))
            why = f"{method} {urls.template(resource)} needs {needed}"
        else:
            why = f"{method} is not offered on {urls.template(resource)}; it answers {', '.join(methods_of(resource))}"
        raise TokenRefused(
            403, "access_denied", f"{KIND_NAMES[p.kind].split(' (')[0]} cannot {action}: {why}", "wrong_token_kind"
        )
    rule = next(r for r in rules if p.kind in r.kinds)
    if p.kind == TokenKind.CUSTOMER and rule.blocks:
        scope = p.token.scope if p.token is not None else ""
        granted = _granted_blocks(scope)
        if not granted & set(rule.blocks):
            wanted = " or ".join(f"FB_{b}" for b in rule.blocks[:4]) + (
                " or another customer-data block" if len(rule.blocks) > 4 else ""
            )
            raise TokenRefused(
                403,
                "insufficient_scope",
                f"{resource} needs function block {wanted} in the token's scope; it was granted {scope or 'no scope'}",
                "missing_function_block",
            )
    for name in rule.own:
        if p.kind in (TokenKind.CUSTOMER, TokenKind.REGISTRATION) and name in ids and ids[name] != p.own.get(name):
            raise TokenRefused(
                403, "access_denied", OWN_ONLY[name].format(own=p.own.get(name), asked=ids[name]), "not_your_resource"
            )


# a token's scope, read on every call it makes: parsed once (the scopes of live tokens are few)
_granted_blocks = lru_cache(maxsize=1024)(function_blocks)


def missing_token(resource: str) -> TokenRefused | None:
    """The refusal of a request without a bearer token, where a resource words it its own way: the
    registration API answers invalid_token naming the registration access token (RFC 7592 2)."""
    if resource == "ApplicationInformation":
        return TokenRefused(
            401,
            "invalid_token",
            "this resource needs the registration access token (Authorization: Bearer <registration_access_token>)",
            "no_token",
        )
    return None


ACTIONS = {
    "ApplicationInformation": "manage registrations (registration_access_token)",
    "ApplicationInformationList": "list registrations",
}

OWN_ONLY = {
    "subscription_id": "this customer access token reaches Subscription/{own} only, not Subscription/{asked}",
    "retail_customer_id": "this customer access token reaches RetailCustomer/{own} only, not RetailCustomer/{asked}",
    "application_id": "this registration access token manages ApplicationInformation/{own} only; "
    "ApplicationInformation/{asked} needs the registration_access_token issued when it was registered",
}


def sees_statements(p: Presented) -> bool:
    """Whether the caller's PII documents hold the customer's bill statements: a customer token's
    scope must grant billing information (the PII tree and batch admit any customer-data block)."""
    if p.kind != TokenKind.CUSTOMER:
        return True
    return bool(function_blocks(p.token.scope if p.token is not None else "") & set(_BILLING))


def matrix_rows() -> list[tuple[str, str, str, str]]:
    """The matrix as rows (path below the resource root, method, token kinds as ACUDR letters, conditions)."""
    rows = []
    for r in MATRIX:
        conditions = []
        if r.blocks:
            blocks = (
                "a customer-data block (FB_46, 50, 51, 55...)"
                if r.blocks == _PII
                else " or ".join(f"FB_{b}" for b in r.blocks)
            )
            conditions.append(f"A: scope with {blocks}")
        for name in r.own:
            conditions.append(f"{'R' if name == 'application_id' else 'A'}: its own {name.removesuffix('_id')}")
        if r.limit:
            conditions.append(r.limit)
        rows.append(
            (
                urls.template(r.resource),
                " ".join(r.methods),
                "".join(LETTERS[k] for k in r.kinds),
                "; ".join(conditions),
            )
        )
    return rows


def matrix_document() -> str:
    """The matrix as Markdown, for the README (a test keeps the two the same)."""
    out = [
        f"| path below `/dc/<slug>{urls.RESOURCE_PREFIX}/` | methods | tokens | conditions |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| `{p}` | {m} | {k} | {c} |" for p, m, k, c in matrix_rows()]
    return "\n".join(out)
