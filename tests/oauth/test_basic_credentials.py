"""Malformed HTTP Basic client credentials at the token and revocation endpoints are `invalid_client`
(401), never an error."""

from __future__ import annotations

import base64

import pytest
from web.helpers import text

MALFORMED_BASIC = {
    "empty": "Basic ",
    "not base64": "Basic !!!notbase64",
    "no colon": "Basic " + base64.b64encode(b"demo-third-party").decode(),
    "not utf-8": "Basic " + base64.b64encode(b"\xff\xfe\xfd:\xc3\x28").decode(),
    "not utf-8 user only": "Basic " + base64.b64encode(b"\x80\x81\x82").decode(),
    "bad padding": "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()[:-2],
}


@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
@pytest.mark.parametrize(
    "endpoint,data",
    [
        ("token", {"grant_type": "client_credentials"}),
        ("revoke", {"token": "whatever", "token_type_hint": "access_token"}),
    ],
    ids=["token", "revoke"],
)
def test_malformed_basic_credentials_are_invalid_client(client, endpoint, data, header):
    r = client.post(f"/dc/bayview/oauth/{endpoint}", data=data, headers={"Authorization": header})
    assert r.status_code == 401, (r.status_code, text(r)[:300])
    assert r.is_json and r.json["error"] == "invalid_client"
