"""The client-credentials grant's scopes (issue 22 item 4) and refresh responses (item 6e), through the
Flask test client: the scope names the token kind (C for FB=34_35 or part of it, R for FB=36_40 or
part of it), checked against what that kind holds and never against the customer scopes; a refresh
answer always carries a refresh token."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select, update
from web.helpers import offered, sb_of
from web.oauth_steps import CALLBACK, SCOPE, get_code, sign_in, token

from sandbox.core.models import Application, Authorization, OAuthToken, Utility
from sandbox.core.secrets import digest
from sandbox.services.access import ClientRole, TokenKind
from sandbox.services.grants import client_grant, issued_kind

ROOT = "http://localhost/dc/bayview/espi/1_1/resource"
STATUS = "/dc/bayview/espi/1_1/resource/ReadServiceStatus"
REGISTER = "/dc/bayview/espi/1_1/register"
JSON = {"Accept": "application/json"}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bearer(value: str) -> dict:
    return {"Authorization": "Bearer " + value}


def cc(client, scope=None, slug="bayview", auth=None):
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope is not None else {})
    return token(client, slug, **({"auth": auth} if auth else {}), **data)


def stored(app, value: str) -> OAuthToken:
    with sb_of(app).db.sessions() as s:
        row = s.scalars(select(OAuthToken).where(OAuthToken.access_hash == digest(value))).one()
        _ = row.authorization, row.application
        return row


def demo_uuid(app, slug="bayview") -> str:
    with sb_of(app).db.sessions() as s:
        return s.scalars(
            select(Application.uuid).where(
                Application.client_id == "demo-third-party", Application.utility_id == _utility(s, slug)
            )
        ).one()


def _utility(s, slug):
    return s.scalars(select(Utility.id).where(Utility.slug == slug)).one()


def registered(client, app) -> dict:
    body = {
        "client_name": "Cert Suite",
        "redirect_uris": ["https://cert.example.com/cb"],
        "scope": offered(sb_of(app).world)[0],
    }
    r = client.post(REGISTER, json=body, headers=JSON)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json() | {"_body": body}


# --- the client access token: FB=34_35 or part of it ---------------------------------------------


@pytest.mark.parametrize(
    "scope, granted",
    [(None, "FB=34_35"), ("FB=34_35", "FB=34_35"), ("FB=35", "FB=35"), ("FB=34", "FB=34"), ("FB=35_34", "FB=34_35")],
)
def test_a_subset_of_34_35_is_a_client_access_token_with_that_scope(app, client, scope, granted):
    r = cc(client, scope)
    assert r.status_code == 200, r.json
    t = r.json
    assert t["scope"] == granted and "refresh_token" not in t
    assert t["resourceURI"] == f"{ROOT}/Batch/Bulk/demo-third-party"
    row = stored(app, t["access_token"])
    assert row.kind == TokenKind.CLIENT and row.scope == granted and row.authorization.scope == granted
    assert client.get(STATUS, headers=bearer(t["access_token"])).status_code == 200


# --- the registration access token: FB=36_40 or part of it ----------------------------------------


@pytest.mark.parametrize("scope", ["FB=36_40", "FB=36", "FB=40"])
def test_a_subset_of_36_40_is_the_registration_access_token_of_the_application(app, client, scope):
    r = cc(client, scope)
    assert r.status_code == 200, r.json
    t = r.json
    own = f"{ROOT}/ApplicationInformation/{demo_uuid(app)}"
    assert t["scope"] == scope and "refresh_token" not in t and t["token_type"] == "Bearer"
    assert t["resourceURI"] == own  # ESPI.md 4.1: what an R token reaches
    row = stored(app, t["access_token"])
    assert row.kind == TokenKind.REGISTRATION and row.authorization.grant_type == "client_credentials"
    assert t["authorizationURI"] == f"{ROOT}/Authorization/{row.authorization.uuid}"
    assert client.get(own.removeprefix("http://localhost"), headers=bearer(t["access_token"])).status_code == 200


def test_the_registration_token_manages_its_own_registration_and_nothing_else(app, client):
    reg, other = registered(client, app), registered(client, app)
    t = cc(client, "FB=36_40", auth=basic(reg["client_id"], reg["client_secret"])).json
    tok = bearer(t["access_token"])
    path = reg["registration_client_uri"].removeprefix("http://localhost")
    assert t["resourceURI"] == reg["registration_client_uri"]
    got = client.get(path, headers=tok | JSON)
    assert got.status_code == 200 and got.get_json()["client_name"] == "Cert Suite"
    put = client.put(path, json=reg["_body"] | {"client_name": "Cert Suite 2"}, headers=tok | JSON)
    assert put.status_code == 200 and put.get_json()["client_name"] == "Cert Suite 2"
    # elsewhere: 403 naming the kind needed
    theirs = client.get(other["registration_client_uri"].removeprefix("http://localhost"), headers=tok)
    assert theirs.status_code == 403 and theirs.headers["X-Sandbox-Reason"] == "not_your_resource"
    for where in (
        STATUS,
        "/dc/bayview/espi/1_1/resource/Batch/Bulk/" + reg["client_id"],
        "/dc/bayview/espi/1_1/resource/ApplicationInformation",
        "/dc/bayview/espi/1_1/resource/Authorization",
    ):
        r = client.get(where, headers=tok)
        assert r.status_code == 403, where
        assert (
            r.json["reason"] == "wrong_token_kind" and "registration access token cannot" in r.json["error_description"]
        )
        assert "needs" in r.json["error_description"]
    # the client token is refused at the registration, naming the registration token
    c = cc(client, "FB=34_35", auth=basic(reg["client_id"], reg["client_secret"])).json
    r = client.get(path, headers=bearer(c["access_token"]))
    assert r.status_code == 403 and "registration_access_token" in r.json["error_description"]
    assert client.delete(path, headers=tok).status_code == 204
    assert client.get(path, headers=tok).status_code == 401  # its token went with it


def test_a_registration_token_ends_with_its_revocation(app, client):
    t = cc(client, "FB=36_40").json
    own = f"/dc/bayview/espi/1_1/resource/ApplicationInformation/{demo_uuid(app)}"
    assert client.get(own, headers=bearer(t["access_token"])).status_code == 200
    r = client.post(
        "/dc/bayview/oauth/revoke",
        data={"token": t["access_token"]},
        headers={"Authorization": basic("demo-third-party", "demo-secret")},
    )
    assert r.status_code == 200
    assert client.get(own, headers=bearer(t["access_token"])).status_code == 401


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope, named",
    [
        ("FB=34_35_36", "function block 36"),
        ("FB=36_40_35", "function block 35"),
        ("FB=99", "function block 99"),
        ("FB=1_3_4_5_13_14_39", "function block 1"),
        (SCOPE, "IntervalDuration"),
        ("FB=34_35;HistoryLength=86400", "HistoryLength"),  # a plausible one: 1 is refused as seconds first
    ],
)
def test_a_mix_or_anything_else_is_invalid_scope_naming_the_block_and_the_choices(app, client, scope, named):
    with sb_of(app).db.sessions() as s:
        before = s.query(OAuthToken).count(), s.query(Authorization).count()
    r = cc(client, scope)
    assert r.status_code == 400 and r.json["error"] == "invalid_scope", r.json
    desc = r.json["error_description"]
    assert (
        named in desc
        and "FB=34_35 (a third party's client access token)" in desc
        and "FB=36_40 (a registration access token)" in desc
    )
    with sb_of(app).db.sessions() as s:
        assert (s.query(OAuthToken).count(), s.query(Authorization).count()) == before


def test_the_utilitys_own_clients_keep_their_scope_and_may_ask_part_of_it(app, client):
    upload, custodian = basic("upload-client", "upload-secret"), basic("data-custodian", "data-custodian-secret")
    assert cc(client, auth=upload).json["scope"] == "FB=45"
    assert cc(client, "FB=45", auth=upload).json["scope"] == "FB=45"
    r = cc(client, "FB=34_35", auth=upload)
    assert r.status_code == 400 and r.json["error"] == "invalid_scope"
    assert (
        "function block 34" in r.json["error_description"]
        and "FB=45 (an upload access token)" in r.json["error_description"]
    )
    part = cc(client, "FB=3_19", auth=custodian).json
    assert part["scope"] == "FB=3_19" and stored(app, part["access_token"]).kind == TokenKind.CUSTODIAN
    assert cc(client, "FB=36", auth=custodian).json["scope"] == "FB=36"  # a D token holds 36 as well, not 40
    assert cc(client, "FB=36_40", auth=custodian).json["error"] == "invalid_scope"


def test_a_lenient_utility_takes_the_scope_in_any_case_and_grants_it_written_canonically(app, client):
    t = cc(client, "fb=36_40", slug="prairie").json
    assert t["scope"] == "FB=36_40" and t["resourceURI"].endswith(
        "/ApplicationInformation/" + demo_uuid(app, "prairie")
    )
    assert cc(client, "fb=36_40").json["error"] == "invalid_scope"  # bayview is strict


def test_a_suspended_application_gets_no_registration_token(app, client):
    with sb_of(app).db.transaction() as s:
        s.execute(update(Application).where(Application.client_id == "demo-third-party").values(status="on_hold"))
    r = cc(client, "FB=36_40")
    assert r.status_code in (400, 401) and r.json["error"] == "unauthorized_client"


def test_the_grant_table():
    assert client_grant(ClientRole.THIRD_PARTY, None).kind == TokenKind.CLIENT
    assert client_grant(ClientRole.THIRD_PARTY, "FB=40_36_36").scope == "FB=36_40"
    assert issued_kind(ClientRole.THIRD_PARTY, "FB=36") == TokenKind.REGISTRATION
    assert issued_kind(ClientRole.THIRD_PARTY, "FB=34_35") == TokenKind.CLIENT
    assert issued_kind(ClientRole.DATA_CUSTODIAN, "FB=36_40") == TokenKind.CUSTODIAN


# --- refresh responses always carry a refresh token ------------------------------------------------


PROFILES = [
    "standard",
    "lenient",
    "ontario",
    "hardened",
    "rfc9700",
    "requires-params",
    "gba-certified",
    "gba-xml",
    "ns0-xml",
    "picky-dates",
    "async-batch",
    "slow-provisioning",
]


@pytest.mark.parametrize("name", PROFILES)
def test_every_profiles_refresh_answer_carries_a_refresh_token_that_works(app, client, name):
    world = sb_of(app).world
    assert sorted(world.profiles) == sorted(PROFILES)  # a new profile joins this test
    behaviour = world.profiles[name]
    with sb_of(app).db.transaction() as s:
        s.execute(update(Application).where(Application.client_id == "demo-third-party").values(profile=name))
    scope = "FB=1_3_4_5_13_14_39" if behaviour.scope_grammar == "fb-only" else SCOPE
    sign_in(client)
    first = token(
        client, grant_type="authorization_code", code=get_code(client, scope=scope), redirect_uri=CALLBACK
    ).json
    extra = {"scope": scope} if behaviour.refresh_scope == "required" else {}
    second = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"], **extra)
    assert second.status_code == 200, second.json
    held = second.json["refresh_token"]
    assert (held != first["refresh_token"]) == behaviour.refresh_rotation
    third = token(client, grant_type="refresh_token", refresh_token=held, **extra)
    assert third.status_code == 200 and third.json["refresh_token"], third.json
