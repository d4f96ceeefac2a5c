"""The token-issuing rules of the client-credentials grant (ESPI.md 4.1): the scope a client asks
for names the kind of token it gets, and each kind holds only its own function blocks.

A third party asks `FB=34_35` (or part of it) for its client access token (C: bulk, its
authorizations) and `FB=36_40` (or part of it) for its registration access token (R: its own
ApplicationInformation, RFC 7592), which is how the Alliance's certification suite gets one. The
utility's upload and data-custodian clients each have one kind. No scope: the role's default.
A scope that mixes two kinds, or names a block none holds, is refused naming the block: these
scopes are checked against the kinds, never against the customer scopes the application registered.

And the one path a customer's token is issued by (`issue_customer_token`), whoever asks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sandbox.core.models import Application, Authorization, Customer
from sandbox.core.profile import Profile
from sandbox.core.secrets import new_token
from sandbox.espi.scopes import FUNCTION_BLOCK_NAMES, Scope, ScopeError, function_blocks, parse_scope
from sandbox.services import authorizations, tokens
from sandbox.services.access import KIND_NAMES, ROLE_SCOPES, ROLE_TOKENS, ClientRole, TokenKind
from sandbox.services.notifications import announce
from sandbox.synth.world import UtilityDef

REGISTRATION_SCOPE = "FB=36_40"  # ESPI.md 4.1, 6.3: the reference's REGISTRATION_third_party client

# What each client-credentials kind may hold, and the kinds each role may ask for (its default first)
KIND_SCOPES: dict[TokenKind, str] = {ROLE_TOKENS[role]: scope for role, scope in ROLE_SCOPES.items()} | {
    TokenKind.REGISTRATION: REGISTRATION_SCOPE
}
ROLE_KINDS: dict[ClientRole, tuple[TokenKind, ...]] = {
    ClientRole.THIRD_PARTY: (TokenKind.CLIENT, TokenKind.REGISTRATION),
    ClientRole.UPLOAD: (TokenKind.UPLOAD,),
    ClientRole.DATA_CUSTODIAN: (TokenKind.CUSTODIAN,),
}


@dataclass(frozen=True)
class ClientGrant:
    """What a client-credentials request gets: the token kind and the scope its token carries."""

    kind: TokenKind
    scope: str


def _short(kind: TokenKind) -> str:
    return KIND_NAMES[kind].split(" (")[0]


def choices(role: ClientRole) -> str:
    """The scopes a client of this role may ask for, in words (for a refusal and the docs)."""
    kinds = [f"{KIND_SCOPES[k]} ({_short(k)})" for k in ROLE_KINDS[role]]
    return f"{' or '.join(kinds)}, or part of {'one' if len(kinds) > 1 else 'it'}; no scope means {ROLE_SCOPES[role]}"


def client_grant(role: ClientRole, requested: str | None, strict: bool = True) -> ClientGrant:
    """The kind and scope a client of `role` gets for the scope it sent (None or empty: the role's
    default); ScopeError naming the first block or term no kind of the role holds with the rest."""
    if not requested:
        return ClientGrant(ROLE_TOKENS[role], ROLE_SCOPES[role])
    wanted = parse_scope(requested, strict)
    shape_only = str(Scope(wanted.function_blocks))
    if str(wanted) != shape_only:  # IntervalDuration, HistoryLength...: those shape customer data
        other = str(wanted).split(";")[1]
        raise ScopeError(other, f"a client-credentials scope names function blocks only: ask for {choices(role)}")
    asked = list(dict.fromkeys(wanted.function_blocks))
    # the kind holding most of what was asked (the role's first on a tie) names what it lacks
    best = max(ROLE_KINDS[role], key=lambda k: len(function_blocks(KIND_SCOPES[k]) & set(asked)))
    holds = function_blocks(KIND_SCOPES[best])
    lacking = [n for n in asked if n not in holds]
    if lacking:
        n = lacking[0]
        name = f" ({FUNCTION_BLOCK_NAMES[n]})" if n in FUNCTION_BLOCK_NAMES else ""
        together = [m for m in asked if m in holds]
        why = (
            f"cannot be in one token with FB={'_'.join(map(str, together))}"
            if together
            else "is in no token this client may get"
        )
        raise ScopeError(
            f"FB={'_'.join(map(str, wanted.function_blocks))}",
            f"function block {n}{name} {why}: ask for {choices(role)}",
        )
    return ClientGrant(best, "FB=" + "_".join(map(str, sorted(asked))))


def issued_kind(role: ClientRole, scope: str) -> TokenKind:
    """The kind a stored client-credentials scope was issued as (read leniently: it was granted)."""
    fbs = function_blocks(scope)
    return next((k for k in ROLE_KINDS[role] if fbs and fbs <= function_blocks(KIND_SCOPES[k])), ROLE_TOKENS[role])


# --- issuing ----------------------------------------------------------------------------------


def new_token_response(profile: Profile, scope: str | None, refresh: bool) -> dict:
    """A token response's core: a new bearer token (and refresh token) with the profile's lifetime."""
    token: dict = {"token_type": "Bearer", "access_token": new_token(), "expires_in": profile.access_token_seconds}
    if scope:
        token["scope"] = scope
    if refresh:
        token["refresh_token"] = new_token()
    return token


def issue_customer_token(
    s: Session,
    token: dict | None,
    profile: Profile,
    seed: int,
    utility: UtilityDef,
    app: Application,
    customer: Customer,
    scope: str,
    usage_point_ids: list[int],
    now: dt.datetime,
    announce_root: str,
) -> tuple[dict, Authorization]:
    """A customer's consent made into its Authorization, and its access token stored (`token`, the one
    the token endpoint made; None: a new one, with a refresh token), its data announced to the third
    party (`announce_root`: the resource root the notification names). The one path both the token
    endpoint (exchanging a code) and the control API (which skips the browser) issue by; `profile` is
    the application's. In the caller's transaction `s`."""
    token = token if token is not None else new_token_response(profile, scope, True)
    ident = utility.identity(customer.username) if customer.number < 0 else None
    auth = authorizations.grant_for_customer(
        s,
        seed,
        utility.slug,
        utility.time_zone,
        app,
        customer,
        scope,
        usage_point_ids,
        profile,
        now,
        revokes_after=ident.revokes_after if ident else None,
    )
    tokens.store(
        s,
        app=app,
        kind=TokenKind.CUSTOMER,
        token=token,
        authorization=auth,
        now=now,
        refresh_until=tokens.refresh_until(auth, profile.behaviour.refresh_lifetime_days, now),
    )
    s.flush()
    announce.authorized(s, auth, announce_root, now)
    return token, auth
