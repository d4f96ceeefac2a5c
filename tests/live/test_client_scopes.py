"""Issue 22 items 4 and 6e against the real run.py: the client-credentials grant issues the token kind
its scope names (the certification suite's `FB=36_40` gets the registration access token, `FB=35` a
client access token), a mix is refused naming the block, and a refresh at a utility that does not
rotate refresh tokens still answers with one."""

from __future__ import annotations

import pytest
import requests

from live.tokens import DEMO, customer_token, offered_scopes, token

pytestmark = pytest.mark.live

SLUG = "bayview"
JSON = {"Accept": "application/json"}


def resource(base: str, path: str = "", slug: str = SLUG) -> str:
    return f"{base}/dc/{slug}/espi/1_1/resource/{path}"


def bearer(t: dict) -> dict:
    return {"Authorization": "Bearer " + t["access_token"]}


def granted(base: str, scope: str, credentials: tuple[str, str] = DEMO, slug: str = SLUG) -> dict:
    r = token(base, slug, credentials, grant_type="client_credentials", scope=scope)
    assert r.status_code == 200, r.text
    return r.json()


def test_fb_36_40_gets_the_registration_access_token_the_certification_suite_asks_for(live):
    t = granted(live, "FB=36_40")
    assert t["scope"] == "FB=36_40" and "refresh_token" not in t
    own = t["resourceURI"]
    assert own.startswith(resource(live, "ApplicationInformation/")), own
    r = requests.get(own, headers=bearer(t) | JSON, timeout=30)
    assert r.status_code == 200 and r.json()["client_id"] == DEMO[0], r.text
    entry = requests.get(t["authorizationURI"], headers=bearer(t), timeout=30)
    assert entry.status_code == 403  # nowhere but its registration...
    for path in ("ReadServiceStatus", f"Batch/Bulk/{DEMO[0]}", "ApplicationInformation"):
        r = requests.get(resource(live, path), headers=bearer(t), timeout=30)
        assert r.status_code == 403 and r.json()["reason"] == "wrong_token_kind", (path, r.text)
        assert "registration access token cannot" in r.json()["error_description"]


@pytest.mark.parametrize("scope", ["FB=35", "FB=34"])
def test_part_of_fb_34_35_is_a_client_access_token_with_that_scope(live, scope):
    t = granted(live, scope)
    assert t["scope"] == scope and t["resourceURI"] == resource(live, f"Batch/Bulk/{DEMO[0]}")
    r = requests.get(resource(live, "ReadServiceStatus"), headers=bearer(t), timeout=30)
    assert r.status_code == 200, r.text


def test_a_mix_of_the_two_kinds_is_invalid_scope_naming_the_block_and_the_choices(live):
    r = token(live, SLUG, grant_type="client_credentials", scope="FB=34_35_36")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    desc = r.json()["error_description"]
    assert (
        "function block 36" in desc
        and "FB=34_35 (a third party's client access token)" in desc
        and "FB=36_40 (a registration access token)" in desc
    )


def test_a_registration_token_from_client_credentials_reads_updates_and_deletes_its_registration(live):
    offered = offered_scopes(live, SLUG)[0]
    body = {"client_name": "Cert Runner", "redirect_uris": ["https://cert.example.com/cb"], "scope": offered}
    reg = requests.post(f"{live}/dc/{SLUG}/espi/1_1/register", json=body, headers=JSON, timeout=30).json()
    t = granted(live, "FB=36_40", (reg["client_id"], reg["client_secret"]))
    where = reg["registration_client_uri"]
    assert t["resourceURI"] == where
    put = requests.put(where, json=body | {"client_name": "Cert Runner 2"}, headers=bearer(t) | JSON, timeout=30)
    assert put.status_code == 200 and put.json()["client_name"] == "Cert Runner 2", put.text
    assert requests.get(where, headers=bearer(t) | JSON, timeout=30).json()["client_name"] == "Cert Runner 2"
    assert requests.delete(where, headers=bearer(t), timeout=30).status_code == 204
    assert requests.get(where, headers=bearer(t), timeout=30).status_code == 401  # gone with its registration


@pytest.mark.parametrize("slug", ["prairie", "trillium"])  # lenient and ontario: refresh tokens that do not rotate
def test_a_refresh_that_does_not_rotate_answers_with_the_same_refresh_token(live, slug):
    scope = offered_scopes(live, slug)[0]
    first = customer_token(live, slug, scope)
    r = token(live, slug, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] == first["refresh_token"]
    again = token(live, slug, grant_type="refresh_token", refresh_token=r.json()["refresh_token"])
    assert again.status_code == 200 and again.json()["refresh_token"] == first["refresh_token"], again.text
