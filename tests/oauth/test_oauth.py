"""The OAuth 2.0 server's rules, through the Flask test client (the browser journeys are in tests/browser)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select
from web.helpers import csrf
from web.oauth_steps import BASIC, CALLBACK, PII_SCOPE, SCOPE, authorize_url, consent, get_code, query, sign_in, token
from werkzeug.security import generate_password_hash

from sandbox.core.models import Application, Authorization, Customer, OAuthToken
from sandbox.services.access import token_usable
from sandbox.services.tokens import find as find_token


def usable(app, value, refresh=False, slug="bayview") -> bool:
    """Whether the resource server would accept this token now."""
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        return token_usable(find_token(s, _utility_id(s, slug), value, refresh), sb.clock.now(), refresh)


def _utility_id(s, slug="bayview"):
    from sandbox.core.models import Utility

    return s.scalars(select(Utility.id).where(Utility.slug == slug)).one()


@pytest.fixture
def signed_in(client):
    sign_in(client)
    return client


def test_code_flow_returns_espi_token_response_and_records_the_grant(app, signed_in):
    code = get_code(signed_in)
    r = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert r.status_code == 200, r.json
    t = r.json
    assert t["token_type"] == "Bearer" and t["expires_in"] == 3600 and t["scope"] == SCOPE and t["refresh_token"]
    assert re.search(r"/dc/bayview/espi/1_1/resource/Batch/Subscription/[0-9a-f-]{36}$", t["resourceURI"])
    assert re.search(r"/dc/bayview/espi/1_1/resource/Authorization/[0-9a-f-]{36}$", t["authorizationURI"])
    assert "customerResourceURI" not in t
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == t["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        assert auth.status == "active" and auth.scope == SCOPE and auth.grant_type == "authorization_code"
        assert t["resourceURI"].endswith(auth.subscription_uuid)
        # the scope asks for electricity only: the electricity usage points are shared, not the gas one
        assert [up.id for up in auth.usage_points] == [
            up.id for up in auth.customer.usage_points if up.commodity == "electricity"
        ]
        days = (auth.authorized_end - auth.authorized_start).days
        assert days == 730
        stored = s.scalars(select(OAuthToken).where(OAuthToken.authorization_id == auth.id)).one()
        assert t["access_token"] not in (stored.access_hash, stored.refresh_hash)  # digests only


def test_customer_data_scope_adds_customer_resource_uri(app, signed_in):
    with app.extensions["sandbox"].db.transaction() as s:
        demo_app = s.scalars(select(Application).where(Application.client_id == "demo-third-party")).first()
        for a in s.scalars(select(Application)).all():
            a.scopes = a.scopes + [PII_SCOPE] if a.id == demo_app.id else a.scopes
    code = get_code(signed_in, scope=PII_SCOPE)
    t = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    assert re.search(r"/Batch/RetailCustomer/[0-9a-f-]{36}$", t["customerResourceURI"])


GAS_SCOPE = "FB=1_3_4_5_10_13_14_39;IntervalDuration=3600_86400;BlockDuration=daily;HistoryLength=34128000"


def test_the_customer_may_untick_usage_points_but_not_add_others(app, signed_in):
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        mine = [up.id for up in demo.usage_points]
        other = s.scalars(
            select(Customer).where(Customer.username != "demo", Customer.utility.has(slug="bayview"))
        ).first()
        theirs = other.usage_points[0].id
    r = consent(signed_in, authorize_url(scope=GAS_SCOPE), usage_points=[str(mine[0]), str(theirs)])
    assert r.status_code == 400 and "Location" not in r.headers
    # electricity-only scope: the gas usage point is not offered and cannot be slipped in
    r = consent(signed_in, authorize_url(), usage_points=[str(mine[1])])
    assert r.status_code == 400 and "Location" not in r.headers
    r = consent(signed_in, authorize_url(scope=GAS_SCOPE), usage_points=[str(mine[1])])
    t = token(
        signed_in, grant_type="authorization_code", code=query(r.headers["Location"])["code"], redirect_uri=CALLBACK
    ).json
    with sb.db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == t["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        assert [up.id for up in auth.usage_points] == [mine[1]]


def test_denial_redirects_with_access_denied_and_state(signed_in):
    r = consent(signed_in, authorize_url(), decision="reject")
    q = query(r.headers["Location"])
    assert r.headers["Location"].startswith(CALLBACK) and q["error"] == "access_denied" and q["state"] == "s-123"
    assert "code" not in q


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(signed_in):
    for uri in ("https://evil.example/callback", "http://127.0.0.1:9999/callback#frag", "http://192.168.0.9/callback"):
        r = signed_in.get(authorize_url(redirect_uri=uri))
        assert r.status_code == 400 and "Location" not in r.headers
        assert "redirect_uri" in r.get_data(as_text=True)


def test_loopback_redirect_on_any_port_is_accepted_for_the_demo_app(signed_in):
    code = get_code(signed_in, redirect_uri="http://localhost:51234/any/path")
    assert code


def test_missing_state_is_refused_back_to_the_client(signed_in):
    r = signed_in.get(authorize_url(state=None))
    assert r.status_code == 302
    q = query(r.headers["Location"])
    assert q["error"] == "invalid_request" and "state" in q["error_description"]


def test_scope_outside_the_registration_is_invalid_scope_naming_the_term(signed_in):
    r = signed_in.get(authorize_url(scope="FB=1_3_4_5_13_14_39_99;IntervalDuration=3600"))
    q = query(r.headers["Location"])
    assert q["error"] == "invalid_scope" and "99" in q["error_description"] and q["state"] == "s-123"
    r = signed_in.get(authorize_url(scope="FB=1_3;Colour=blue"))
    assert query(r.headers["Location"])["error"] == "invalid_scope"


def test_a_bad_request_is_answered_before_the_customer_is_asked_to_sign_in(client):
    """Nobody is signed in: a bad scope, a bad response_type or a missing PKCE challenge (lakeshore
    requires PKCE) goes straight back to the client, rather than after a sign-in."""
    for url, error in [
        (authorize_url(scope="FB=1_3_4_5_13_14_39_99;IntervalDuration=3600"), "invalid_scope"),
        (authorize_url(response_type="token"), "unsupported_response_type"),
        (authorize_url("lakeshore"), "invalid_request"),
    ]:
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith(CALLBACK), url
        q = query(r.headers["Location"])
        assert (q["error"], q["state"]) == (error, "s-123"), url
    r = client.get(authorize_url())  # a good request: now the customer signs in
    assert r.status_code == 302 and "/dc/bayview/" in r.headers["Location"] and "next=" in r.headers["Location"]


def test_consent_without_csrf_token_is_refused(app, signed_in):
    html = signed_in.get(authorize_url()).get_data(as_text=True)
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    r = signed_in.post(authorize_url(), data={"decision": "accept", "usage_point": ids})
    assert r.status_code == 400 and "Location" not in r.headers
    r = signed_in.post(authorize_url(), data={"decision": "accept", "usage_point": ids, "csrf_token": "forged"})
    assert r.status_code == 400 and "Location" not in r.headers


def test_not_signed_in_goes_to_the_portal_login(client):
    r = client.get(authorize_url())
    assert r.status_code == 302 and "/dc/bayview/" in r.headers["Location"] and "next=" in r.headers["Location"]


def test_code_used_twice_is_invalid_grant_and_revokes_its_tokens(app, signed_in):
    code = get_code(signed_in)
    t = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    assert usable(app, t["access_token"])
    again = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert not usable(app, t["access_token"]) and not usable(app, t["refresh_token"], refresh=True)
    assert (
        token(signed_in, grant_type="refresh_token", refresh_token=t["refresh_token"]).json["error"] == "invalid_grant"
    )


def test_expired_code_is_invalid_grant(app, signed_in, clock):
    code = get_code(signed_in)
    clock.advance(601)
    r = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert r.status_code == 400 and r.json["error"] == "invalid_grant" and "expired" in r.json["error_description"]


def test_redirect_uri_must_match_at_the_token_endpoint(signed_in):
    code = get_code(signed_in)
    r = token(signed_in, grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:9999/other")
    assert r.json["error"] == "invalid_grant"


def test_wrong_client_secret_is_401_invalid_client(signed_in):
    bad = "Basic " + base64.b64encode(b"demo-third-party:wrong").decode()
    r = token(signed_in, auth=bad, grant_type="client_credentials")
    assert r.status_code == 401 and r.json["error"] == "invalid_client"


def test_token_parameters_in_form_query_or_get(signed_in):
    for how in ("form", "post-query", "get"):
        code = get_code(signed_in)
        params = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        if how == "form":
            r = signed_in.post("/dc/bayview/oauth/token", data=params, headers={"Authorization": BASIC})
        elif how == "post-query":
            r = signed_in.post("/dc/bayview/oauth/token?" + urlencode(params), headers={"Authorization": BASIC})
        else:
            r = signed_in.get("/dc/bayview/oauth/token?" + urlencode(params), headers={"Authorization": BASIC})
        assert r.status_code == 200 and r.json["access_token"], (how, r.json)


def test_client_secret_post_is_accepted(signed_in):
    r = token(
        signed_in, auth=None, grant_type="client_credentials", client_id="demo-third-party", client_secret="demo-secret"
    )
    assert r.status_code == 200 and "refresh_token" not in r.json


def test_refresh_gives_a_new_token_with_the_same_uris_and_retires_the_old(app, signed_in):
    code = get_code(signed_in)
    first = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    second = token(signed_in, grant_type="refresh_token", refresh_token=first["refresh_token"]).json
    assert second["access_token"] != first["access_token"]
    assert (second["resourceURI"], second["authorizationURI"]) == (first["resourceURI"], first["authorizationURI"])
    assert not usable(app, first["access_token"]) and usable(app, second["access_token"])
    # bayview rotates refresh tokens: the old one is spent
    assert second["refresh_token"] != first["refresh_token"]
    assert token(signed_in, grant_type="refresh_token", refresh_token=first["refresh_token"]).status_code == 400


def test_a_rotated_out_refresh_token_used_again_revokes_its_whole_family(app, signed_in):
    """RFC 9700 4.14.2: the reuse of a refresh token that was rotated out means two parties hold it;
    every token issued from it is revoked, and the third party must be authorized again."""
    sign_in(signed_in, "lakeshore")  # lakeshore's profile detects reuse (bayview's only rotates)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(signed_in, "lakeshore", code_challenge=challenge, code_challenge_method="S256")

    def refresh(t):
        return token(signed_in, "lakeshore", grant_type="refresh_token", refresh_token=t["refresh_token"])

    first = token(
        signed_in,
        "lakeshore",
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    ).json
    second = refresh(first).json
    third = refresh(second).json
    assert usable(app, third["access_token"], slug="lakeshore")
    reused = refresh(first)
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    assert "already used" in reused.json["error_description"] and "RFC 9700" in reused.json["error_description"]
    for t in (second, third):  # the family, the newest included
        assert not usable(app, t["access_token"], slug="lakeshore")
        assert not usable(app, t["refresh_token"], refresh=True, slug="lakeshore")
    again = refresh(third)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    # where the profile only rotates (bayview), a spent token is refused and the newer ones live on
    code = get_code(signed_in)
    a = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    b = token(signed_in, grant_type="refresh_token", refresh_token=a["refresh_token"]).json
    assert token(signed_in, grant_type="refresh_token", refresh_token=a["refresh_token"]).status_code == 400
    assert usable(app, b["access_token"])


def test_without_rotation_the_refresh_token_keeps_working(app, client):
    sign_in(client, "prairie")
    code = get_code(client, "prairie")
    first = token(client, "prairie", grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    second = token(client, "prairie", grant_type="refresh_token", refresh_token=first["refresh_token"]).json
    assert second["refresh_token"] == first["refresh_token"]  # sent again: clients require one (RFC 6749 6)
    third = token(client, "prairie", grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert third.status_code == 200
    assert usable(app, third.json["access_token"], slug="prairie")
    assert not usable(app, first["access_token"], slug="prairie") and not usable(
        app, second["access_token"], slug="prairie"
    )


def test_client_credentials_token_has_no_refresh_token_and_an_authorization(app, client):
    r = token(client, grant_type="client_credentials")
    t = r.json
    assert r.status_code == 200 and "refresh_token" not in t and t["scope"] == "FB=34_35"
    assert t["resourceURI"].endswith("/espi/1_1/resource/Batch/Bulk/demo-third-party")  # its default bulk
    with app.extensions["sandbox"].db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == t["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        assert auth.grant_type == "client_credentials" and auth.customer_id is None


def test_read_service_status_needs_a_client_token(app, signed_in):
    path = "/dc/bayview/espi/1_1/resource/ReadServiceStatus"
    r = signed_in.get(path)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = signed_in.get(path, headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    code = get_code(signed_in)
    customer_token = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    r = signed_in.get(path, headers={"Authorization": "Bearer " + customer_token["access_token"]})
    assert r.status_code == 403 and "client access token" in r.json["error_description"]
    cc = token(signed_in, grant_type="client_credentials").json["access_token"]
    r = signed_in.get(path, headers={"Authorization": "Bearer " + cc})
    assert r.status_code == 200 and b"<currentStatus>1</currentStatus>" in r.data


def test_revocation_by_the_third_party_ends_the_authorization(app, signed_in):
    code = get_code(signed_in)
    t = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    r = signed_in.post(
        "/dc/bayview/oauth/revoke",
        data={"token": t["refresh_token"], "token_type_hint": "refresh_token"},
        headers={"Authorization": BASIC},
    )
    assert r.status_code == 200
    assert not usable(app, t["access_token"]) and not usable(app, t["refresh_token"], refresh=True)
    with app.extensions["sandbox"].db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == t["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        assert auth.status == "revoked"


def test_customer_revocation_on_the_sharing_page_stops_the_tokens(app, signed_in):
    from sandbox.services import authorizations

    code = get_code(signed_in)
    t = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == t["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        authorizations.revoke_by_customer(sb.db, sb.clock, auth.customer_id, auth.id)
    assert not usable(app, t["access_token"]) and not usable(app, t["refresh_token"], refresh=True)


def test_access_token_lifetime_follows_the_profile(app, client, clock):
    sign_in(client, "lakeshore")
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(client, "lakeshore", code_challenge=challenge, code_challenge_method="S256")
    t = token(
        client, "lakeshore", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    ).json
    assert t["expires_in"] == 900
    clock.advance(899)
    assert usable(app, t["access_token"], slug="lakeshore")
    clock.advance(2)
    assert not usable(app, t["access_token"], slug="lakeshore")


def test_pkce_required_where_the_profile_says_so(client):
    sign_in(client, "lakeshore")
    r = client.get(authorize_url("lakeshore"))
    assert r.status_code == 302 and query(r.headers["Location"])["error"] == "invalid_request"
    verifier = "correct-horse-battery-staple-" * 2
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(client, "lakeshore", code_challenge=challenge, code_challenge_method="S256")
    r = token(
        client,
        "lakeshore",
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier="wrong-" * 10,
    )
    assert r.json["error"] == "invalid_grant"
    code = get_code(client, "lakeshore", code_challenge=challenge, code_challenge_method="S256")
    r = token(
        client, "lakeshore", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )
    assert r.status_code == 200


def test_pkce_optional_elsewhere(signed_in):
    verifier = "x" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(signed_in, code_challenge=challenge, code_challenge_method="S256")
    missing = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    assert missing["error"] == "invalid_request" and "code_verifier" in missing["error_description"]
    code = get_code(signed_in, code_challenge=challenge, code_challenge_method="S256")
    assert (
        token(
            signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
        ).status_code
        == 200
    )


def _set_status(app, status, client_id="demo-third-party"):
    with app.extensions["sandbox"].db.transaction() as s:
        for a in s.scalars(select(Application).where(Application.client_id == client_id)).all():
            a.status = status


@pytest.mark.parametrize("status", ["blocked", "on_hold"])
def test_blocked_or_on_hold_application_gets_an_error_page_never_consent(app, signed_in, status):
    _set_status(app, status)
    r = signed_in.get(authorize_url())
    assert r.status_code == 403 and "consent-form" not in r.get_data(as_text=True) and "Location" not in r.headers


def test_blocking_stops_existing_tokens(app, signed_in):
    code = get_code(signed_in)
    t = token(signed_in, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json
    _set_status(app, "blocked")
    assert not usable(app, t["access_token"])
    assert token(signed_in, grant_type="client_credentials").status_code in (400, 401)


def test_application_in_review_only_for_test_customers(app, client):
    _set_status(app, "review")
    sb = app.extensions["sandbox"]
    with sb.db.transaction() as s:
        other = s.scalars(
            select(Customer).where(Customer.username != "demo", Customer.utility.has(slug="bayview"))
        ).first()
        username = other.username
    sign_in(client, username=username, password="password")
    r = client.get(authorize_url())
    assert r.status_code == 403 and "review" in r.get_data(as_text=True)
    client.post("/dc/bayview/logout", data={"csrf_token": csrf(client.get("/dc/bayview/").get_data(as_text=True))})
    sign_in(client)  # demo is a test customer
    assert consent(client, authorize_url()).status_code == 302


def _add_selection_app(app):
    with app.extensions["sandbox"].db.transaction() as s:
        demo = s.scalars(select(Application).where(Application.client_id == "demo-third-party")).first()
        s.add(
            Application(
                utility_id=demo.utility_id,
                uuid="0f0f0f0f-0000-5000-8000-000000000001",
                client_id="chooser",
                client_secret_hash=generate_password_hash("x"),
                name="Chooser",
                redirect_uris=[CALLBACK],
                scope_selection_uri="http://127.0.0.1:9999/ScopeSelection?lang=en",
                scopes=[SCOPE, PII_SCOPE],
                status="production",
                created_at=dt.datetime(2025, 1, 1),
            )
        )


def test_utility_initiated_scope_selection(app, signed_in):
    _add_selection_app(app)
    with app.extensions["sandbox"].db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
    path = f"/dc/bayview/RetailCustomer/{demo.uuid}/ThirdPartyList"
    html = signed_in.get(path).get_data(as_text=True)
    assert "Chooser" in html
    r = signed_in.post(path, data={"csrf_token": csrf(html), "Third_party": "0f0f0f0f-0000-5000-8000-000000000001"})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("http://127.0.0.1:9999/ScopeSelection?lang=en&")
    q = parse_qs(urlsplit(location).query)
    assert q["scope"] == [SCOPE, PII_SCOPE] and q["DataCustodianID"] == ["bayview-pl"]
    assert (
        signed_in.get("/dc/bayview/RetailCustomer/00000000-0000-5000-8000-000000000000/ThirdPartyList").status_code
        == 404
    )


def test_third_party_initiated_scope_selection(app, signed_in):
    _add_selection_app(app)
    r = signed_in.get("/dc/bayview/RetailCustomer/ScopeSelectionList?ThirdPartyID=chooser")
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert r.status_code == 302 and q["scope"] == [SCOPE, PII_SCOPE] and q["DataCustodianID"] == ["bayview-pl"]
    r = signed_in.get("/dc/bayview/RetailCustomer/ScopeSelectionList?ThirdPartyID=nobody")
    assert r.status_code == 403


def test_authorization_server_metadata(client):
    for path in (
        "/dc/bayview/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/dc/bayview",
    ):
        meta = client.get(path).json
        assert meta["issuer"].endswith("/dc/bayview") and meta["token_endpoint"].endswith("/dc/bayview/oauth/token")
        assert (
            "S256" in meta["code_challenge_methods_supported"] and "client_credentials" in meta["grant_types_supported"]
        )
