"""An application put on hold or blocked gets no client token, and does not earn the onboarding
checklist's client-token item; released, the same credentials work."""

from __future__ import annotations

import base64

import pytest
from conftest import FIXED_NOW
from web.helpers import sb_of
from web.oauth_steps import BASIC, SCOPE

from oauth.demo_rows import demo_app_id, utility_id
from sandbox.core.models import Application
from sandbox.services import onboarding, third_parties


@pytest.mark.parametrize("action", ["hold", "block"])
def test_a_suspended_application_gets_no_client_token(app, client, action):
    sb = sb_of(app)
    third_parties.set_application_status(sb.db, sb.clock, utility_id(app), demo_app_id(app), action)
    r = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": BASIC}
    )
    assert r.status_code in (400, 401), r.json
    assert r.json["error"] in ("unauthorized_client", "invalid_client") and "access_token" not in r.json


@pytest.mark.parametrize("action", ["hold", "block"])
def test_a_suspended_application_does_not_earn_the_client_token_check(app, client, world, action):
    sb = sb_of(app)
    meta = onboarding.Metadata(
        name="Held App",
        redirect_uris=["https://held.example/cb"],
        scopes=[SCOPE],
        contact_email="dev@held.example",
        notify_uri="https://held.example/notify",
    )
    issued = onboarding.register(sb.db, sb.clock, utility_id(app), sb.world.seed, meta)
    third_parties.set_application_status(sb.db, sb.clock, utility_id(app), issued.app.id, action)
    basic = "Basic " + base64.b64encode(f"{issued.app.client_id}:{issued.client_secret}".encode()).decode()
    r = client.post(
        "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
    )
    assert r.status_code in (400, 401) and r.json["error"] in ("unauthorized_client", "invalid_client"), r.json
    with sb.db.sessions() as s:
        row = s.get(Application, issued.app.id)
        assert row.client_token_at is None
        checks = {c.key: c.done for c in onboarding.checklist(row, world.utility("bayview").profile, now=FIXED_NOW)}
    assert checks["client_token"] is False
    # released, the same credentials work and the item is earned (the refusal was the status, not the secret)
    if action == "hold":
        third_parties.set_application_status(sb.db, sb.clock, utility_id(app), issued.app.id, "release")
        r = client.post(
            "/dc/bayview/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
        )
        assert r.status_code == 200, r.json
        with sb.db.sessions() as s:
            assert s.get(Application, issued.app.id).client_token_at is not None
