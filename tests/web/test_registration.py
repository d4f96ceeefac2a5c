"""Dynamic registration (RFC 7591) and registration management (RFC 7592) at
/dc/<slug>/espi/1_1/register and .../resource/ApplicationInformation/<id>, through the Flask
test client. Every ApplicationInformation document is checked against the ESPI 4.0 schemas;
outside the one registration response none may carry a secret or a token."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXED_NOW
from espi.checks import ATOM, ESPI, all_text, assert_valid, links, parse
from lxml import etree
from sqlalchemy import func, select
from web import helpers
from web.helpers import app_count, demo_grant, kept_secret, sb_of, utility_count

from sandbox.core.models import Application, ApplicationStatusChange, Authorization, Customer, OAuthCode, OAuthToken
from sandbox.core.secrets import digest

REGISTER = "/dc/bayview/espi/1_1/register"
ROOT = "http://localhost/dc/bayview/espi/1_1/resource"
JSON = {"Accept": "application/json"}


NOW = FIXED_NOW.replace(tzinfo=None)  # as the database stores times


def offered(app, slug="bayview") -> list[str]:
    return helpers.offered(sb_of(app).world, slug)


def app_row(s, reg) -> Application:
    """The Application row of a registration response."""
    return s.scalars(select(Application).where(Application.client_id == reg["client_id"])).one()


def metadata(app, **changes) -> dict:
    body = {
        "client_name": "Grid Graph",
        "redirect_uris": ["https://gg.example.com/oauth/cb"],
        "scope": offered(app)[0],
        "contacts": ["ops@gg.example.com", "cto@gg.example.com"],
        "client_uri": "https://gg.example.com/",
        "logo_uri": "https://gg.example.com/logo.png",
        "software_id": "grid-graph",
        "software_version": "2.1.0",
        "grant_types": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "thirdPartyNotifyUri": "https://gg.example.com/espi/1_1/Notification",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def info_of(data: bytes):
    root = parse(data)
    assert_valid(root)
    assert root.tag == ATOM + "entry"
    return root, root.find(f"{ATOM}content/{ESPI}ApplicationInformation")


def registered(client, app, **changes) -> dict:
    r = client.post(REGISTER, json=metadata(app, **changes), headers=JSON)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def bearer(tok: str) -> dict:
    return {"Authorization": f"Bearer {tok}"}


def path_of(reg: dict) -> str:
    return reg["registration_client_uri"].removeprefix("http://localhost")


# --- registering ----------------------------------------------------------------------------


def test_register_answers_with_the_application_information_entry(client, app):
    r = client.post(REGISTER, json=metadata(app))
    assert r.status_code == 201 and r.mimetype == "application/atom+xml"
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    root, info = info_of(r.data)
    client_id, secret = info.findtext(ESPI + "client_id"), info.findtext(ESPI + "client_secret")
    reg_token, reg_uri = (
        info.findtext(ESPI + "registration_access_token"),
        info.findtext(ESPI + "registration_client_uri"),
    )
    with sb_of(app).db.sessions() as s:
        a = s.scalars(select(Application).where(Application.client_id == client_id)).one()
    assert reg_uri == f"{ROOT}/ApplicationInformation/{a.uuid}" == links(root, "self")[0] == r.headers["Location"]
    assert a.client_secret_hash == kept_secret(app, secret) and a.registration_token_hash == kept_secret(app, reg_token)
    assert secret != "redacted" and reg_token != "redacted" and secret not in a.client_secret_hash
    assert a.status == "review" and info.findtext(ESPI + "dataCustodianApplicationStatus") == "1"
    assert a.name == "Grid Graph" and a.redirect_uris == ["https://gg.example.com/oauth/cb"]
    assert a.scopes == [offered(app)[0]] and a.contact_email == "ops@gg.example.com"
    assert a.notify_uri == "https://gg.example.com/espi/1_1/Notification"
    assert (a.client_uri, a.logo_uri) == ("https://gg.example.com/", "https://gg.example.com/logo.png")
    assert [e.text for e in info.findall(ESPI + "redirect_uri")] == a.redirect_uris
    assert info.findtext(ESPI + "dataCustodianId") == "bayview-pl"
    assert info.findtext(ESPI + "authorizationServerTokenEndpoint") == "http://localhost/dc/bayview/oauth/token"
    assert info.findtext(ESPI + "client_secret_expires_at") == "0"
    assert int(info.findtext(ESPI + "client_id_issued_at")) == int(
        dt.datetime(2025, 7, 15, 18, 30, tzinfo=dt.timezone.utc).timestamp()
    )


def test_register_answers_rfc7591_json_when_asked(client, app):
    reg = registered(client, app, scope=" ".join(offered(app)))
    for key in (
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
        "client_name",
        "redirect_uris",
        "scope",
        "contacts",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "client_uri",
        "logo_uri",
        "thirdPartyNotifyUri",
    ):
        assert key in reg, key
    assert reg["client_secret_expires_at"] == 0 and reg["scope"].split() == offered(app)
    assert reg["contacts"] == ["ops@gg.example.com"] and reg["token_endpoint_auth_method"] == "client_secret_basic"
    assert reg["registration_client_uri"].startswith(f"{ROOT}/ApplicationInformation/")
    with sb_of(app).db.sessions() as s:
        a = app_row(s, reg)
    assert a.client_secret_hash == kept_secret(app, reg["client_secret"])
    assert a.registration_token_hash == kept_secret(app, reg["registration_access_token"])
    assert reg["client_id_issued_at"] == int(a.created_at.replace(tzinfo=dt.timezone.utc).timestamp())


def test_register_accepts_client_secret_post_which_the_token_endpoint_accepts(client, app):
    """The token endpoint takes the credentials in the form body as well as by HTTP Basic (and the
    server metadata says so): a registration asking for client_secret_post is accepted."""
    reg = registered(client, app, token_endpoint_auth_method="client_secret_post")
    r = client.post(REGISTER, json=metadata(app, token_endpoint_auth_method="client_secret_post"))
    assert r.status_code == 201, r.get_data(as_text=True)
    info_of(r.data)  # the ApplicationInformation entry stays schema-valid
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials", "client_id": reg["client_id"], "client_secret": reg["client_secret"]},
    )
    assert r.status_code == 200, r.get_data(as_text=True)


def test_scope_as_a_list_and_omitted(client, app):
    assert registered(client, app, scope=offered(app)[::-1])["scope"].split() == offered(app)[::-1]
    assert registered(client, app, scope=None)["scope"].split() == offered(app)


def test_two_registrations_get_different_credentials(client, app):
    a, b = registered(client, app), registered(client, app)
    assert len({a["client_id"], b["client_id"]}) == 2 and a["client_secret"] != b["client_secret"]
    assert a["registration_access_token"] != b["registration_access_token"]


@pytest.mark.parametrize(
    "change, error, field",
    [
        ({"redirect_uris": ["https://gg.example.com/cb#frag"]}, "invalid_redirect_uri", "redirect_uris"),
        ({"redirect_uris": ["gg.example.com/cb"]}, "invalid_redirect_uri", "redirect_uris"),
        (
            {"redirect_uris": ["https://ok.example.com/cb", "urn:ietf:wg:oauth:2.0:oob"]},
            "invalid_redirect_uri",
            "redirect_uris[1]",
        ),
        ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris"),
        ({"redirect_uris": "https://gg.example.com/cb"}, "invalid_redirect_uri", "redirect_uris"),
        ({"redirect_uris": None}, "invalid_redirect_uri", "redirect_uris"),
        ({"scope": "FB=1_3_4_5_99;IntervalDuration=3600"}, "invalid_client_metadata", "scope"),
        ({"scope": "openid profile"}, "invalid_client_metadata", "scope"),
        ({"scope": 7}, "invalid_client_metadata", "scope"),
        ({"client_name": None}, "invalid_client_metadata", "client_name"),
        ({"client_name": "x" * 201}, "invalid_client_metadata", "client_name"),
        ({"contacts": ["ok@gg.example.com", "not an address"]}, "invalid_client_metadata", "contacts[1]"),
        ({"grant_types": ["authorization_code", "implicit"]}, "invalid_client_metadata", "grant_types"),
        ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
        ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata", "token_endpoint_auth_method"),
        ({"thirdPartyNotifyUri": "mailto:ops@gg.example.com"}, "invalid_client_metadata", "thirdPartyNotifyUri"),
        ({"logo_uri": "logo.png"}, "invalid_client_metadata", "logo_uri"),
        ({"software_version": "1" * 40}, "invalid_client_metadata", "software_version"),
    ],
)
def test_register_refusals_name_the_field_and_store_nothing(client, app, change, error, field):
    before = app_count(app)
    r = client.post(REGISTER, json=metadata(app, **change))
    assert r.status_code == 400 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["error"] == error and body["error_description"].startswith(field + ":"), body
    assert app_count(app) == before


@pytest.mark.parametrize(
    "data, words",
    [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"<x/>", "ApplicationInformation")],
)
def test_register_refuses_bodies_that_are_not_metadata(client, app, data, words):
    ctype = "application/xml" if data.startswith(b"<") else "application/json"
    r = client.post(REGISTER, data=data, content_type=ctype)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_client_metadata"
    assert words in r.get_json()["error_description"] and app_count(app) == utility_count(app)


def test_register_accepts_an_application_information_document(client, app):
    """ESPI clients may POST ApplicationInformation XML, e.g. one from another Data Custodian."""
    reg = registered(client, app)
    doc = client.get(path_of(reg), headers=bearer(reg["registration_access_token"])).data
    doc = doc.replace(b"Grid Graph", b"Grid Graph Two")
    r = client.post("/dc/prairie/espi/1_1/register", data=doc, content_type="application/atom+xml")
    assert r.status_code == 400 and "is not offered by Prairie Sky Power" in r.get_json()["error_description"]
    r = client.post(REGISTER, data=doc, content_type="application/atom+xml", headers=JSON)
    assert r.status_code == 201, r.get_json()
    two = r.get_json()
    assert two["client_name"] == "Grid Graph Two" and two["client_id"] != reg["client_id"]
    assert two["redirect_uris"] == reg["redirect_uris"] and two["scope"] == reg["scope"]


# --- reading, with the registration access token ------------------------------------------------


def test_get_answers_the_entry_with_secrets_redacted(client, app):
    reg = registered(client, app)
    r = client.get(path_of(reg), headers=bearer(reg["registration_access_token"]))
    assert r.status_code == 200 and r.mimetype == "application/atom+xml" and r.headers["Cache-Control"] == "no-store"
    root, info = info_of(r.data)
    assert info.findtext(ESPI + "client_id") == reg["client_id"]
    assert info.findtext(ESPI + "client_secret") == "redacted"
    assert info.findtext(ESPI + "registration_access_token") == "redacted"
    everything = all_text(root)
    assert reg["client_secret"] not in everything and reg["registration_access_token"] not in everything
    assert reg["client_secret"].encode() not in r.data and reg["registration_access_token"].encode() not in r.data
    j = client.get(path_of(reg), headers=bearer(reg["registration_access_token"]) | JSON).get_json()
    assert j["client_id"] == reg["client_id"] and "client_secret" not in j and "registration_access_token" not in j


def test_requests_without_or_with_a_wrong_token_are_401(client, app):
    reg = registered(client, app)
    for headers in (
        {},
        bearer("not-the-token"),
        {"Authorization": "Basic " + "eDp5"},
        bearer(reg["registration_access_token"] + "x"),
    ):
        for method in ("get", "put", "delete"):
            r = getattr(client, method)(path_of(reg), headers=headers, json=metadata(app, client_name="Hijacked"))
            assert r.status_code == 401, (headers, method)
            challenge = r.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
            assert r.get_json()["error"] == "invalid_token"
    with sb_of(app).db.sessions() as s:
        assert app_row(s, reg).name == "Grid Graph"


def test_another_applications_token_is_403_naming_the_token_needed(client, app):
    mine, theirs = registered(client, app), registered(client, app, client_name="Other")
    for method in ("get", "put", "delete"):
        r = getattr(client, method)(
            path_of(theirs),
            headers=bearer(mine["registration_access_token"]),
            json=metadata(app, client_name="Hijacked"),
        )
        assert r.status_code == 403, method
        desc = r.get_json()["error_description"]
        assert "registration_access_token" in desc and theirs["registration_client_uri"].rsplit("/", 1)[1] in desc
        assert "WWW-Authenticate" not in r.headers
    assert client.get(path_of(theirs), headers=bearer(theirs["registration_access_token"])).status_code == 200
    with sb_of(app).db.sessions() as s:
        assert app_row(s, theirs).name == "Other"


def test_an_oauth_access_token_is_403_and_a_registration_kind_token_is_accepted(client, app):
    reg = registered(client, app)
    sb = sb_of(app)
    now = NOW
    with sb.db.transaction() as s:
        a = app_row(s, reg)
        for kind, value in (("client", "client-token-value"), ("registration", "reg-kind-token")):
            s.add(
                OAuthToken(
                    utility_id=a.utility_id,
                    application_id=a.id,
                    kind=kind,
                    access_hash=digest(value),
                    scope="FB=34_35",
                    issued_at=now,
                    expires_at=now + dt.timedelta(hours=1),
                )
            )
    r = client.get(path_of(reg), headers=bearer("client-token-value"))
    assert (
        r.status_code == 403 and "client access token cannot manage registrations" in r.get_json()["error_description"]
    )
    assert client.get(path_of(reg), headers=bearer("reg-kind-token")).status_code == 200


def test_unknown_id_is_404_and_utilities_are_apart(client, app):
    reg = registered(client, app)
    tok = bearer(reg["registration_access_token"])
    # the token is judged before the id is looked up: a registration token manages its own id only
    # (403 whether or not another id exists), and at another utility it is no token at all (401)
    r = client.get("/dc/bayview/espi/1_1/resource/ApplicationInformation/0000", headers=tok)
    assert r.status_code == 403 and r.headers["X-Sandbox-Reason"] == "not_your_resource"
    other = path_of(reg).replace("/dc/bayview/", "/dc/lakeshore/")
    assert client.get(other, headers=tok).status_code == 401
    assert client.get(path_of(reg).replace("/dc/bayview/", "/dc/nowhere/"), headers=tok).status_code == 404


# --- updating -------------------------------------------------------------------------------


def test_put_json_replaces_the_metadata(client, app):
    reg = registered(client, app)
    tok = bearer(reg["registration_access_token"])
    body = metadata(
        app,
        client_name="Grid Graph 2",
        redirect_uris=["https://gg.example.com/v2/cb"],
        scope=offered(app)[1],
        thirdPartyNotifyUri=None,
        client_id=reg["client_id"],
    )
    r = client.put(path_of(reg), json=body, headers=tok)
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    root, info = info_of(r.data)
    assert info.findtext(ESPI + "client_name") == "Grid Graph 2"
    assert [e.text for e in info.findall(ESPI + "scope")] == [offered(app)[1]]
    assert reg["client_secret"].encode() not in r.data and reg["registration_access_token"].encode() not in r.data
    with sb_of(app).db.sessions() as s:
        a = app_row(s, reg)
        assert a.redirect_uris == ["https://gg.example.com/v2/cb"] and a.notify_uri is None
        assert a.client_secret_hash == kept_secret(app, reg["client_secret"])  # unchanged
    j = client.put(path_of(reg), json=body | {"client_name": "Grid Graph 3"}, headers=tok | JSON).get_json()
    assert j["client_name"] == "Grid Graph 3" and "client_secret" not in j


@pytest.mark.parametrize(
    "change, error, field",
    [
        ({"redirect_uris": ["https://gg.example.com/cb#x"]}, "invalid_redirect_uri", "redirect_uris"),
        ({"scope": "FB=4_5"}, "invalid_client_metadata", "scope"),
        ({"client_id": "someone-else"}, "invalid_client_metadata", "client_id"),
        ({"client_secret": "a-wrong-secret"}, "invalid_client_metadata", "client_secret"),
    ],
)
def test_bad_put_changes_nothing(client, app, change, error, field):
    reg = registered(client, app)
    r = client.put(
        path_of(reg),
        json=metadata(app, client_name="Changed", **change),
        headers=bearer(reg["registration_access_token"]),
    )
    assert r.status_code == 400 and r.get_json()["error"] == error
    assert r.get_json()["error_description"].startswith(field + ":")
    with sb_of(app).db.sessions() as s:
        a = app_row(s, reg)
        assert a.name == "Grid Graph" and a.redirect_uris == ["https://gg.example.com/oauth/cb"]


def test_put_of_the_entry_read_back_as_xml(client, app):
    """The usual ESPI round trip: GET the entry, change it, PUT it back (secrets still "redacted")."""
    reg = registered(client, app)
    tok = bearer(reg["registration_access_token"])
    doc = client.get(path_of(reg), headers=tok).data
    root = etree.fromstring(doc)
    info = root.find(f"{ATOM}content/{ESPI}ApplicationInformation")
    info.find(ESPI + "client_name").text = "Grid Graph XML"
    info.find(ESPI + "redirect_uri").text = "https://gg.example.com/xml/cb"
    r = client.put(path_of(reg), data=etree.tostring(root), content_type="application/atom+xml", headers=tok)
    assert r.status_code == 200, r.get_data(as_text=True)
    _, back = info_of(r.data)
    assert back.findtext(ESPI + "client_name") == "Grid Graph XML"
    assert back.findtext(ESPI + "redirect_uri") == "https://gg.example.com/xml/cb"
    assert back.findtext(ESPI + "thirdPartyNotifyUri") == "https://gg.example.com/espi/1_1/Notification"
    # a bare ApplicationInformation element works too, and a bad one is refused
    info.find(ESPI + "redirect_uri").text = "relative/cb"
    r = client.put(path_of(reg), data=etree.tostring(info), content_type="application/xml", headers=tok)
    assert r.status_code == 400 and r.get_json() == {
        "error": "invalid_redirect_uri",
        "error_description": "redirect_uri: 'relative/cb' must be an absolute http:// or https:// URI.",
    }


def test_a_registration_without_notify_uri_reads_back_without_one(client, app):
    reg = registered(client, app, thirdPartyNotifyUri=None)
    tok = bearer(reg["registration_access_token"])
    doc = client.get(path_of(reg), headers=tok).data
    assert client.put(path_of(reg), data=doc, content_type="application/atom+xml", headers=tok).status_code == 200
    with sb_of(app).db.sessions() as s:
        assert app_row(s, reg).notify_uri is None


# --- deleting -------------------------------------------------------------------------------


def test_delete_removes_the_registration_with_its_tokens_and_authorizations(client, app):
    reg = registered(client, app)
    kept = demo_grant(app)  # another third party's grant, which must remain
    sb = sb_of(app)
    now = NOW
    with sb.db.transaction() as s:
        a = app_row(s, reg)
        demo = s.scalars(select(Customer).where(Customer.utility_id == a.utility_id, Customer.number == 0)).one()
        auth = Authorization(
            utility_id=a.utility_id,
            uuid="11111111-1111-5111-8111-111111111111",
            subscription_uuid="22222222-2222-5222-8222-222222222222",
            application_id=a.id,
            customer_id=demo.id,
            scope=a.scopes[0],
            authorized_start=now,
            authorized_end=now + dt.timedelta(days=1),
            created_at=now,
        )
        s.add(auth)
        s.flush()
        s.add(
            OAuthToken(
                utility_id=a.utility_id,
                application_id=a.id,
                authorization_id=auth.id,
                kind="customer",
                access_hash=digest("customer-token"),
                scope=a.scopes[0],
                issued_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
        )
        s.add(
            OAuthCode(
                utility_id=a.utility_id,
                code_hash=digest("a-code"),
                application_id=a.id,
                customer_id=demo.id,
                scope=a.scopes[0],
                usage_point_ids=[],
                created_at=now,
                expires_at=now + dt.timedelta(minutes=10),
            )
        )
        s.add(
            ApplicationStatusChange(
                application_id=a.id, old_status="review", new_status="on_hold", changed_at=now, changed_by="staff"
            )
        )
        app_id = a.id
    tok = bearer(reg["registration_access_token"])
    r = client.delete(path_of(reg), headers=tok)
    assert r.status_code == 204 and r.data == b""
    # its registration token went with it: the next call is refused before anything is looked up
    assert client.get(path_of(reg), headers=tok).status_code == 401
    assert client.delete(path_of(reg), headers=tok).status_code == 401
    with sb.db.sessions() as s:
        assert s.get(Application, app_id) is None
        for model in (Authorization, OAuthToken, OAuthCode, ApplicationStatusChange):
            assert s.scalar(select(func.count()).select_from(model).where(model.application_id == app_id)) == 0, model
        # the demo third party's grant remains
        assert s.scalars(select(Authorization.id)).all() == [kept.id]


def test_application_information_carries_every_element_the_registration_gave(client, app):
    """The registration's further metadata is kept and shown (DESIGN.md compatibility): the user
    portal screen, terms, policy, phone and software id and version, in XML and in RFC 7591 JSON."""
    further = {
        "thirdPartyUserPortalScreenURI": "https://gg.example.com/my-account",
        "tos_uri": "https://gg.example.com/terms",
        "policy_uri": "https://gg.example.com/privacy",
        "thirdPartyPhone": "+1 555 0100",
        "software_id": "grid-graph",
        "software_version": "2.4.1",
    }
    reg = registered(client, app, **further)
    tok = bearer(reg["registration_access_token"])
    _, info = info_of(client.get(path_of(reg), headers=tok).data)
    for name, value in further.items():
        assert info.findtext(ESPI + name) == value, name
    j = client.get(path_of(reg), headers=tok | JSON).get_json()
    assert all(j[name] == value for name, value in further.items())
    r = client.put(path_of(reg), json=metadata(app, thirdPartyUserPortalScreenURI="not a uri"), headers=tok)
    assert r.status_code == 400 and "thirdPartyUserPortalScreenURI" in r.get_json()["error_description"]
    _, info = info_of(client.get(path_of(reg), headers=tok).data)
    assert info.findtext(ESPI + "thirdPartyUserPortalScreenURI") == further["thirdPartyUserPortalScreenURI"]
