"""Over-long names at every sign-in form are refused (400 or 401), never an error, and a long name
that keeps failing is throttled like any other."""

from __future__ import annotations

from web.helpers import csrf, text

from sandbox.services.signin import BAD_LOGIN

LONG = "u" * 300


def _refused_sign_in(what, r, message=BAD_LOGIN):
    assert r.status_code in (400, 401), (what, r.status_code, text(r)[:300])
    if r.status_code == 401:
        assert message in text(r), what


def long_name_sign_ins(client):
    """Each sign-in form with a 300-character name: (what, response)."""
    out = []
    page = text(client.get("/dc/bayview/"))
    out.append(
        (
            "customer",
            client.post(
                "/dc/bayview/login",
                data={"method": "password", "username": LONG, "password": "demo", "csrf_token": csrf(page)},
            ),
        )
    )
    out.append(
        (
            "customer unicode",
            client.post(
                "/dc/bayview/login",
                data={"method": "password", "username": "ü" * 300, "password": "x", "csrf_token": csrf(page)},
            ),
        )
    )
    out.append(
        (
            "account",
            client.post(
                "/dc/bayview/login",
                data={
                    "method": "account",
                    "account_number": "9" * 300,
                    "postal_code": "X" * 300,
                    "csrf_token": csrf(page),
                },
            ),
        )
    )
    page = text(client.get("/dc/bayview/admin/"))
    out.append(
        (
            "staff",
            client.post(
                "/dc/bayview/admin/login", data={"username": LONG, "password": "staff", "csrf_token": csrf(page)}
            ),
        )
    )
    page = text(client.get("/dc/bayview/developer/"))
    out.append(
        (
            "developer",
            client.post(
                "/dc/bayview/developer/login",
                data={"email": LONG + "@example.com", "password": "correct horse", "csrf_token": csrf(page)},
            ),
        )
    )
    return out


def test_a_300_character_name_is_refused_not_an_error(client):
    for what, r in long_name_sign_ins(client):
        _refused_sign_in(what, r)
    # and a long name that fails five times locks like any other (the throttle key stays bounded)
    for _ in range(5):
        page = text(client.get("/dc/bayview/"))
        r = client.post(
            "/dc/bayview/login",
            data={"method": "password", "username": LONG + "x", "password": "no", "csrf_token": csrf(page)},
        )
    assert r.status_code == 429
