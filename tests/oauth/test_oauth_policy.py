"""The OAuth policy holes an attack on a running sandbox found (issue 21, item 7), through the Flask
test client: codes of suspended third parties and of customers who moved out, redirects for
applications the utility has not vetted, PKCE that means S256, and refreshes of a refresh token that
does not rotate. The same attacks against a real server are in tests/live/attacks/test_oauth_policy.py."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from web.helpers import sb_of, text
from web.oauth_steps import CALLBACK, SCOPE, authorize_url, get_code, query, sign_in, token

from sandbox.core.models import Application, Authorization, Customer, OAuthCode, OAuthToken
from sandbox.services import onboarding, third_parties
from sandbox.services import world as world_service
from sandbox.services.access import token_usable
from sandbox.services.customers import move_out
from sandbox.services.tokens import find as find_token

LURE = "https://attacker.example/cb"


def stored(app) -> tuple[int, int, int]:
    """(authorizations, tokens, exchanged codes) in the database."""
    with sb_of(app).db.sessions() as s:
        return (
            s.scalar(select(func.count(Authorization.id))),
            s.scalar(select(func.count(OAuthToken.id))),
            s.scalar(select(func.count(OAuthCode.id)).where(OAuthCode.used_at.is_not(None))),
        )


def usable(app, value, slug) -> bool:
    sb = sb_of(app)
    with sb.db.sessions() as s:
        return token_usable(find_token(s, world_service.utility_id(sb.db, slug), value), sb.clock.now())


def demo_app_id(app, slug="bayview") -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Application.id).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug=slug)
            )
        ).one()


def exchange(client, code, slug="bayview", **more):
    return token(client, slug, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, **more)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# --- a suspended third party redeems no code ----------------------------------------------------------


@pytest.mark.parametrize("action, undo, word", [("block", "unblock", "blocked"), ("hold", "release", "on hold")])
def test_a_code_issued_before_a_suspension_dies_with_it(app, client, action, undo, word):
    sb = sb_of(app)
    sign_in(client)
    code = get_code(client)
    before = stored(app)
    third_parties.set_application_status(
        sb.db, sb.clock, world_service.utility_id(sb.db, "bayview"), demo_app_id(app), action
    )
    r = exchange(client, code)
    assert r.status_code == 400 and r.json["error"] in ("invalid_grant", "unauthorized_client"), r.json
    assert word in r.json["error_description"] and "access_token" not in r.json
    third_parties.set_application_status(
        sb.db, sb.clock, world_service.utility_id(sb.db, "bayview"), demo_app_id(app), undo
    )
    r = exchange(client, code)  # released: the code stays dead
    assert r.status_code == 400 and r.json["error"] == "invalid_grant" and word in r.json["error_description"]
    assert "voided" in r.json["error_description"] and "access_token" not in r.json
    assert stored(app) == before
    # a code issued after the release works, at the same (frozen) instant
    assert exchange(client, get_code(client)).status_code == 200


def test_a_suspended_third_party_gets_unauthorized_client_for_a_code_still_unexchanged(app, client):
    """However the status changed (here straight in the database, so no code was voided), a blocked
    third party's exchange is refused and stores nothing."""
    sign_in(client)
    code = get_code(client)
    before = stored(app)
    with sb_of(app).db.transaction() as s:
        s.get(Application, demo_app_id(app)).status = "blocked"
    r = exchange(client, code)
    assert r.status_code == 400 and r.json["error"] == "unauthorized_client", r.json
    assert "blocked" in r.json["error_description"] and stored(app) == before


# --- a code exchanged after the customer moved out --------------------------------------------------


def test_a_code_exchanged_after_the_customer_moved_out_is_refused_naming_the_move(app, client, world):
    sb = sb_of(app)
    tz = world.utility("bayview").time_zone
    sign_in(client)
    code = get_code(client)
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer.id).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
    move_out(sb.db, sb.clock, demo, sb.clock.today(tz), tz)
    before = stored(app)
    r = exchange(client, code)
    assert r.status_code == 400 and r.json["error"] == "invalid_grant", r.json
    assert "moved out" in r.json["error_description"] and "access_token" not in r.json
    assert stored(app) == before


# --- no redirect for an application the utility has not vetted ----------------------------------------


def register(app, **more) -> onboarding.Issued:
    """An application as anyone can register one: in Review, returning to the attacker's site."""
    sb = sb_of(app)
    meta = onboarding.Metadata(
        name="Lure", redirect_uris=[LURE], scopes=[SCOPE], contact_email="x@attacker.example", **more
    )
    return onboarding.register(sb.db, sb.clock, world_service.utility_id(sb.db, "bayview"), sb.world.seed, meta)


def to_production(app, issued) -> None:
    sb = sb_of(app)
    third_parties.set_status_to(
        sb.db, sb.clock, world_service.utility_id(sb.db, "bayview"), issued.app.id, "production", "test"
    )


BAD_REQUESTS = [{"scope": "FB=1_3_99"}, {"response_type": "token"}, {"state": None}]


def test_an_application_in_review_never_gets_an_error_redirect(app, client):
    lure = register(app).app.client_id
    urls = [authorize_url(client_id=lure, redirect_uri=LURE, **bad) for bad in BAD_REQUESTS]
    urls.append(authorize_url(client_id=lure, redirect_uri=LURE) + "&state=again")  # a repeated parameter
    for signed_in in (False, True):  # demo, signed in, is a test customer: it may authorize Lure, all the same
        if signed_in:
            sign_in(client)
        for url in urls:
            r = client.get(url)
            assert r.status_code == 400 and "Location" not in r.headers, (url, r.status_code, r.headers)
            assert "not in production" in text(r)
    page = client.get(authorize_url(client_id=lure, redirect_uri=LURE))  # a good request: the consent page
    assert page.status_code == 200 and "attacker.example" in text(page) and 'id="consent-return"' in text(page)


def test_an_application_in_production_still_hears_its_errors(app, client):
    issued = register(app)
    to_production(app, issued)
    r = client.get(authorize_url(client_id=issued.app.client_id, redirect_uri=LURE, scope="FB=1_3_99"))
    assert r.status_code == 302 and r.headers["Location"].startswith(LURE + "?")
    assert query(r.headers["Location"])["error"] == "invalid_scope"


def test_the_legacy_scope_selection_flow_sends_no_one_to_an_application_in_review(app, client):
    issued = register(app, scope_selection_uri="https://attacker.example/select")
    sign_in(client)
    url = "/dc/bayview/RetailCustomer/ScopeSelectionList?" + urlencode({"ThirdPartyID": issued.app.client_id})
    r = client.get(url)
    assert r.status_code == 403 and "Location" not in r.headers and "in production" in text(r)
    to_production(app, issued)
    r = client.get(url)
    assert r.status_code == 302 and r.headers["Location"].startswith("https://attacker.example/select?")


# --- PKCE means S256 where it is required ----------------------------------------------------------

VERIFIER = "a-verifier-of-enough-length-for-rfc-7636-section-4-1"


@pytest.mark.parametrize("method, named", [("plain", "is plain"), (None, "missing, which means plain")])
def test_where_pkce_is_required_plain_and_a_challenge_without_method_are_refused(app, client, method, named):
    sign_in(client, "lakeshore")
    with sb_of(app).db.sessions() as s:
        issued = s.scalar(select(func.count(OAuthCode.id)))
    r = client.get(authorize_url("lakeshore", code_challenge=VERIFIER, code_challenge_method=method))
    assert r.status_code == 302 and r.headers["Location"].startswith(CALLBACK)
    q = query(r.headers["Location"])
    assert q["error"] == "invalid_request" and named in q["error_description"] and "S256" in q["error_description"]
    assert "code" not in q
    with sb_of(app).db.sessions() as s:
        assert s.scalar(select(func.count(OAuthCode.id))) == issued
    meta = client.get("/dc/lakeshore/.well-known/oauth-authorization-server").json
    assert meta["code_challenge_methods_supported"] == ["S256"] and meta["pkce_required"] is True


def test_where_pkce_is_optional_plain_still_works(client):
    sign_in(client)
    code = get_code(client, code_challenge=VERIFIER, code_challenge_method="plain")
    assert exchange(client, code, code_verifier=VERIFIER).status_code == 200


def test_a_failed_pkce_check_says_what_failed_and_claims_no_revocation(app, client):
    sign_in(client, "lakeshore")
    code = get_code(client, "lakeshore", code_challenge=s256(VERIFIER), code_challenge_method="S256")
    before = stored(app)
    wrong = exchange(client, code, "lakeshore", code_verifier="x" * 43)
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant", wrong.json
    said = wrong.json["error_description"]
    assert "code_verifier does not match the code_challenge (S256)" in said and "revoked" not in said
    again = exchange(client, code, "lakeshore", code_verifier=VERIFIER)  # the code was spent by the failed check
    assert again.status_code == 400 and again.json["error"] == "invalid_grant", again.json
    assert "already presented" in again.json["error_description"] and "revoked" not in again.json["error_description"]
    authorizations, tokens, _ = stored(app)
    assert (authorizations, tokens) == before[:2]


# --- refreshes of a refresh token that does not rotate ------------------------------------------------


def refresh(client, slug, t):
    r = token(client, slug, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert r.status_code == 200, r.json
    return r.json


def test_without_rotation_refreshes_close_together_all_keep_working_tokens(app, client, clock):
    """A client's threads share its one refresh token: on a running clock the access tokens of
    refreshes within REFRESH_RACE of each other all work; a later refresh retires them."""
    clock.unfreeze()
    sign_in(client, "prairie")
    first = exchange(client, get_code(client, "prairie"), "prairie").json
    answers = [refresh(client, "prairie", first) for _ in range(3)]
    assert all(a["refresh_token"] == first["refresh_token"] for a in answers)
    assert all(usable(app, t["access_token"], "prairie") for t in [first, *answers])
    clock.advance(31)
    last = refresh(client, "prairie", first)
    assert usable(app, last["access_token"], "prairie")
    assert not any(usable(app, t["access_token"], "prairie") for t in [first, *answers])
