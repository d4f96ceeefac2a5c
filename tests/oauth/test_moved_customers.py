"""A customer who has moved out cannot consent, and a move bounds the authorization a code gives
without ever inverting it (an end before its start)."""

from __future__ import annotations

import datetime as dt
import urllib.parse

from conftest import FIXED_NOW
from sqlalchemy import select
from web.helpers import csrf, sb_of, text
from web.oauth_steps import BASIC, CALLBACK, authorize_url, consent, sign_in

from oauth.demo_rows import code_count, demo_customer_id
from sandbox.core.models import Authorization, Customer
from sandbox.services.customers import move_out

NOW = FIXED_NOW.replace(tzinfo=None)


def code_from(resp) -> str:
    assert resp.status_code == 302, text(resp)[:300]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(resp.headers["Location"]).query))["code"]


def test_a_customer_who_has_moved_out_cannot_consent(app, client, world):
    sign_in(client)
    cid = demo_customer_id(app)
    today = sb_of(app).clock.today(world.utility("bayview").time_zone)
    page = text(client.get("/dc/bayview/moving"))
    r = client.post(
        "/dc/bayview/moving", data={"csrf_token": csrf(page), "moving_day": today.isoformat(), "confirm": "1"}
    )
    assert r.status_code == 303, text(r)[:300]
    before = code_count(app, cid)
    r = client.get(authorize_url())
    assert r.status_code == 403 and "Location" not in r.headers, (r.status_code, text(r)[:300])
    assert "ended" in text(r).lower() or "moved" in text(r).lower()
    # a hand-made POST (with a valid CSRF token from another page) issues no code either
    token = csrf(text(client.get("/dc/bayview/moving")))
    ids = [str(up) for up in _usage_point_ids(app, cid)]
    r = client.post(authorize_url(), data={"csrf_token": token, "decision": "accept", "usage_point": ids})
    assert r.status_code == 403 and "Location" not in r.headers, (r.status_code, text(r)[:300])
    assert code_count(app, cid) == before


def _usage_point_ids(app, customer_id):
    with sb_of(app).db.sessions() as s:
        return [up.id for up in s.get(Customer, customer_id).usage_points]


def test_a_scheduled_move_bounds_the_authorization_without_inverting_it(app, client, world):
    sb = sb_of(app)
    tz = world.utility("bayview").time_zone
    today = sb.clock.today(tz)
    result = move_out(sb.db, sb.clock, demo_customer_id(app), today + dt.timedelta(days=10), tz)
    sign_in(client)
    code = code_from(consent(client, authorize_url()))
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers={"Authorization": BASIC},
    )
    assert r.status_code == 200, r.json
    with sb.db.sessions() as s:
        auth = s.scalars(
            select(Authorization).where(Authorization.uuid == r.json["authorizationURI"].rsplit("/", 1)[1])
        ).one()
        assert auth.authorized_start == NOW
        assert auth.authorized_end >= auth.authorized_start
        assert auth.authorized_end == result.ends_at.replace(tzinfo=None)


def test_a_move_out_today_with_a_code_already_issued_gives_no_inverted_authorization(app, client, world):
    """The code was issued before the move; exchanged after, it must not yield an authorization ending
    before it starts."""
    sb = sb_of(app)
    tz = world.utility("bayview").time_zone
    sign_in(client)
    code = code_from(consent(client, authorize_url()))
    move_out(sb.db, sb.clock, demo_customer_id(app), sb.clock.today(tz), tz)
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers={"Authorization": BASIC},
    )
    assert r.status_code in (200, 400), r.json
    with sb.db.sessions() as s:
        for auth in s.scalars(select(Authorization).where(Authorization.customer_id == demo_customer_id(app))):
            assert auth.authorized_end >= auth.authorized_start, (auth.id, auth.authorized_start, auth.authorized_end)
