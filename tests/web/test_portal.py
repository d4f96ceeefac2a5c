"""The customer portal through the Flask test client: sign-in, lock-out, home, Download My
Data, sharing and moving. Expected numbers are computed here from `readings`, not taken
from the portal's own helpers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from espi.checks import ATOM, ESPI, assert_valid
from lxml import etree
from sqlalchemy import select
from web.helpers import demo_grant, sb_of, text, token_from

from sandbox.core.models import Application, Authorization, Customer, LoginThrottle, UsagePoint
from sandbox.services import readings

token = token_from("/dc/bayview/")


def customer(app, slug="bayview", username="demo") -> Customer:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Customer).where(Customer.username == username, Customer.utility.has(slug=slug))).one()


def other_customer(app, slug="bayview") -> Customer:
    with sb_of(app).db.sessions() as s:
        return s.scalars(select(Customer).where(Customer.number == 1, Customer.utility.has(slug=slug))).one()


def login(client, slug="bayview", username="demo", password="demo"):
    return client.post(
        f"/dc/{slug}/login",
        data={
            "csrf_token": token(client, f"/dc/{slug}/"),
            "method": "password",
            "username": username,
            "password": password,
        },
    )


def login_account(client, number, postal, slug="bayview"):
    return client.post(
        f"/dc/{slug}/login",
        data={
            "csrf_token": token(client, f"/dc/{slug}/"),
            "method": "account",
            "account_number": number,
            "postal_code": postal,
        },
    )


# --- sign-in ------------------------------------------------------------------------------


def test_login_page_shows_utility_demo_logins_and_lockout_rule(client, app):
    demo = customer(app)
    html = text(client.get("/dc/bayview/"))
    assert "Bayview Power &amp; Light" in html and "utility-bayview" in html and "/utilities.css" in html  # its colours
    assert demo.account_number in html and demo.postal_code in html
    assert "<code>demo</code>" in html and "<code>staff</code>" in html
    assert "5 failed attempts in a row" in html and "locked for 5 minutes" in html
    assert html.count('name="csrf_token"') == 2
    assert "Prairie Sky Power" in text(client.get("/dc/prairie/"))


def test_unknown_utility_is_404(client):
    assert client.get("/dc/nowhere/").status_code == 404


def test_post_without_csrf_token_is_refused(client):
    r = client.post("/dc/bayview/login", data={"method": "password", "username": "demo", "password": "demo"})
    assert r.status_code == 400 and "CSRF" in text(r)
    assert "Hello" not in text(client.get("/dc/bayview/"))


def test_login_with_username_and_password_sets_a_safe_cookie(client):
    r = login(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/dc/bayview/")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = text(client.get("/dc/bayview/"))
    assert "Your account" in html and "Sign out" in html


def test_login_with_account_number_and_postal_code(client, app):
    demo = customer(app, "prairie")
    spaced = f"{demo.account_number[:4]} {demo.account_number[4:]}"
    r = login_account(client, spaced, demo.postal_code.lower().replace(" ", ""), "prairie")
    assert r.status_code == 303
    assert demo.account_number in text(client.get("/dc/prairie/"))


def test_wrong_credentials_give_one_message_that_names_no_field(client, app):
    demo = customer(app)
    answers = [
        login(client, password="wrong"),
        login(client, username="nobody-here"),
        login_account(client, demo.account_number, "00000"),
        login_account(client, "1234567890", demo.postal_code),
    ]
    messages = {re.search(r'id="login-error">([^<]+)<', text(r)).group(1) for r in answers}
    assert len(messages) == 1 and all(r.status_code == 401 for r in answers)
    (message,) = messages
    for word in ("password", "username", "account number", "postal code"):
        assert word not in message.lower()


def test_five_failures_lock_the_login_for_five_minutes_by_the_clock(client, app, clock):
    for _ in range(4):
        assert login(client, password="wrong").status_code == 401
    fifth = login(client, password="wrong")
    assert fifth.status_code == 429 and "locked" in text(fifth)
    right = login(client)  # even the right password is refused while locked
    assert right.status_code == 429 and 0 < int(right.headers["Retry-After"]) <= 300
    demo = customer(app)
    assert login_account(client, demo.account_number, demo.postal_code).status_code == 429  # the account, not the form
    clock.advance(dt.timedelta(minutes=4, seconds=59))
    assert login(client).status_code == 429
    clock.advance(dt.timedelta(seconds=2))
    assert login(client).status_code == 303


def test_a_success_resets_the_count_and_unknown_names_lock_too(client, app, clock):
    for _ in range(4):
        login(client, password="wrong")
    assert login(client).status_code == 303
    for _ in range(4):
        assert login(client, password="wrong").status_code == 401  # counting from zero again
    for _ in range(4):
        assert login(client, username="ghost").status_code == 401
    assert login(client, username="ghost").status_code == 429
    with sb_of(app).db.sessions() as s:
        assert s.scalars(select(LoginThrottle).where(LoginThrottle.key == "username:ghost")).one().locked_until


def test_missing_fields_and_bad_method_are_400_and_not_counted(client, app):
    r = client.post("/dc/bayview/login", data={"csrf_token": token(client), "method": "password", "username": "demo"})
    assert r.status_code == 400 and "password" in text(r)
    r = client.post("/dc/bayview/login", data={"csrf_token": token(client), "method": "magic"})
    assert r.status_code == 400 and "method" in text(r)
    with sb_of(app).db.sessions() as s:
        assert s.scalars(select(LoginThrottle)).all() == []


@pytest.mark.parametrize(
    "target, followed",
    [
        ("/dc/bayview/sharing?x=1", True),
        ("https://evil.example/", False),
        ("//evil.example/dc/bayview/", False),
        ("/dc/lakeshore/sharing", False),
    ],
)
def test_sign_in_returns_to_a_page_of_the_same_utility_only(client, target, followed):
    page = text(client.get("/dc/bayview/", query_string={"next": target}))
    assert ('name="next"' in page) == followed
    r = client.post(
        "/dc/bayview/login",
        data={
            "csrf_token": token(client),
            "method": "password",
            "username": "demo",
            "password": "demo",
            "next": target,
        },
    )
    assert r.status_code == 303
    assert r.headers["Location"] == (target if followed else "/dc/bayview/")


def test_logout_and_logins_are_per_utility(client):
    login(client)
    assert "Your account" in text(client.get("/dc/bayview/"))
    assert "Your account" not in text(client.get("/dc/lakeshore/"))  # not signed in at another utility
    login(client, "lakeshore")
    r = client.post("/dc/bayview/logout", data={"csrf_token": token(client)})
    assert r.status_code == 303
    assert "Your account" not in text(client.get("/dc/bayview/"))
    assert "Your account" in text(client.get("/dc/lakeshore/"))
    assert client.get("/dc/bayview/download").status_code == 302


# --- home ---------------------------------------------------------------------------------


def _sums(app, slug, username, start, end):
    """{stream key: (value, cost)} per usage point id, straight from readings."""
    sb = sb_of(app)
    utility = sb.world.utility(slug)
    out = {}
    with sb.db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.username == username, Customer.utility.has(slug=slug))).one()
        for up in c.usage_points:
            for st in readings.streams(sb.world, utility, up):
                series = readings.series(sb.world, utility, up, st.key, start, end)
                out[(up.id, st.key)] = (
                    int(series.values.sum()),
                    int(series.costs.sum()) if series.costs is not None else 0,
                )  # net: unpriced
    return out


def test_home_shows_account_usage_points_charts_with_numbers_and_bills(client, app, clock):
    login(client)
    html = text(client.get("/dc/bayview/"))
    demo = customer(app)
    assert demo.account_number in html and demo.street in html
    with sb_of(app).db.sessions() as s:
        ups = s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id)).all()
    for up in ups:
        assert f'data-usage-point="{up.id}"' in html and up.label in html
    # the 30 days shown end yesterday (local time)
    today = clock.now().astimezone(ZoneInfo("America/Los_Angeles")).date()
    start = today - dt.timedelta(days=30)
    assert f'data-period-start="{start}" data-period-end="{today}"' in html
    sums = _sums(app, "bayview", "demo", start, today)
    for (_up_id, key), (value, cost) in sums.items():
        if key.endswith("-net"):  # delivered minus received: charting it beside them would count twice
            assert f'data-stream="{key}"' not in html
            continue
        assert f'data-stream="{key}" data-value="{value}" data-cost="{cost}"' in html
    assert any(key.endswith("-net") for _, key in sums)  # the demo home has solar
    electricity = sums[(ups[0].id, "electricity")][0]
    assert f"{Decimal(electricity) / 1000:,.3f} kWh" in html
    # accessible charts: an SVG with title and description, and tables of the numbers
    assert html.count('class="chart wide"') == html.count('class="chart narrow"') == 2 * len(ups)
    assert html.count('role="img"') == 4 * len(ups) and "<desc id=" in html and "<caption>" in html
    # thirteen bills, newest first, each the sum of the usage points' bills
    bills = re.findall(
        r"<tr><th scope=\"row\"><a class=\"bill-pdf\"[^>]*><span class=\"wide-only\">(\w{3} \d{4})</span>",
        html.split('id="bills"')[1],
    )
    assert len(bills) == 13 and bills[0] == "Jun 2025" and bills[-1] == "Jun 2024"


# --- Download My Data ---------------------------------------------------------------------


def dmd_post(client, slug="bayview", **form):
    data = {"csrf_token": token(client, f"/dc/{slug}/download"), "period": "custom", "cost": "1", "format": "xml"}
    data.update(form)
    return client.post(f"/dc/{slug}/download", data=data)


def test_download_is_a_valid_file_of_exactly_the_chosen_usage_points_and_period(client, app):
    login(client, "lakeshore")
    demo = customer(app, "lakeshore")
    with sb_of(app).db.sessions() as s:
        ups = s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id).order_by(UsagePoint.number)).all()
    chosen = [ups[0], ups[-1]]
    r = dmd_post(client, "lakeshore", usage_point=[str(u.id) for u in chosen], start="2025-05-03", end="2025-05-09")
    assert r.status_code == 200, text(r)[:500]
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "lakeshore" in disposition
    assert "20250503" in disposition and "20250509" in disposition
    assert demo.account_number not in disposition and demo.last_name not in disposition
    root = etree.fromstring(r.data)
    assert_valid(root)
    up_entries = [e for e in root.iter(ATOM + "entry") if e.find(f"{ATOM}content/{ESPI}UsagePoint") is not None]
    assert sorted(e.findtext(ATOM + "title") for e in up_entries) == sorted(u.label for u in chosen)
    starts = [int(x.text) for x in root.iter(ESPI + "start") if x.getparent().tag == ESPI + "timePeriod"]
    tz = ZoneInfo("America/New_York")
    assert min(starts) == int(dt.datetime(2025, 5, 3, tzinfo=tz).timestamp())
    assert max(starts) < int(dt.datetime(2025, 5, 10, tzinfo=tz).timestamp())
    assert max(starts) >= int(dt.datetime(2025, 5, 9, tzinfo=tz).timestamp())


def test_an_espi_3_3_utility_downloads_espi_3_3_files(client, app):
    login(client, "trillium")
    demo = customer(app, "trillium")
    ids = [str(i) for i in customer_usage_point_ids(app, demo)]
    r = dmd_post(client, "trillium", usage_point=ids, start="2025-03-08", end="2025-03-11")
    assert r.status_code == 200, text(r)[:500]
    root = etree.fromstring(r.data)
    assert_valid(root, "3.3")
    assert all(link.get("type") for link in root.iter(ATOM + "link"))  # 3.3's atom.xsd requires it
    assert root.find(ATOM + "link").get("type") == "espi-feed/UsagePoint"  # the feed's own self link, as written
    assert {int(x.text) for x in root.iter(ESPI + "commodity")} == {1, 7}  # electricity and natural gas
    assert root.find(f"{ATOM}entry/{ATOM}content/{ESPI}LocalTimeParameters") is not None


def test_csv_holds_the_same_readings_as_the_file(client, app):
    login(client)
    demo = customer(app)
    with sb_of(app).db.sessions() as s:
        up = s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id, UsagePoint.number == 0)).one()
    r = dmd_post(client, usage_point=str(up.id), start="2025-03-08", end="2025-03-10", format="csv")  # a DST change
    assert r.status_code == 200 and r.headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(text(r))))
    sums = _sums(app, "bayview", "demo", dt.date(2025, 3, 8), dt.date(2025, 3, 11))
    delivered = [x for x in rows if x["flow"] == "delivered"]
    received = [x for x in rows if x["flow"] == "received"]
    assert len(delivered) + len(received) == len(rows)  # the net series only when asked (test_net_metering)
    assert sum(Decimal(x["quantity"]) for x in delivered) * 1000 == sums[(up.id, "electricity")][0]
    assert sum(Decimal(x["cost"]) for x in delivered) * 100000 == sums[(up.id, "electricity")][1]
    assert sum(Decimal(x["quantity"]) for x in received) * 1000 == sums[(up.id, "electricity-received")][0]
    assert {x["start"][-6:] for x in delivered} == {"-08:00", "-07:00"}


def test_no_cost_download_has_no_cost(client, app):
    login(client)
    demo = customer(app)
    ids = [str(i) for i in customer_usage_point_ids(app, demo)]
    r = dmd_post(client, usage_point=ids, start="2025-06-01", end="2025-06-02", cost="")
    assert r.status_code == 200 and b"<espi:cost>" not in r.data and b"<espi:value>" in r.data
    r = dmd_post(client, usage_point=ids, start="2025-06-01", end="2025-06-02", cost="", format="csv")
    assert "cost" not in text(r).splitlines()[0]


def test_last_month_and_last_12_months_are_whole_months(client, app):
    login(client)
    demo = customer(app)
    with sb_of(app).db.sessions() as s:
        ids = [str(u.id) for u in s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id))]
    r = dmd_post(client, usage_point=ids, period="last_month")
    assert r.status_code == 200 and "20250601-20250630" in r.headers["Content-Disposition"]
    assert b"<espi:IntervalBlock>" in r.data
    r = dmd_post(client, usage_point=ids, period="last_12_months", format="csv")
    assert r.status_code == 200 and "20240701-20250630" in r.headers["Content-Disposition"]
    rows = text(r).splitlines()
    assert rows[1].split(",")[4].startswith("2024-07-01T00:00:00") and rows[-1].split(",")[4].startswith("2025-06-30")
    form = text(client.get("/dc/bayview/download"))
    assert "June 2025" in form and 'min="2023-01-01"' in form and 'max="2025-07-14"' in form


@pytest.mark.parametrize(
    "form, field",
    [
        ({"start": "2025-06-10", "end": "2025-06-01"}, "end date comes before the start"),
        ({"start": "2022-12-31", "end": "2023-01-05"}, "data starts on 2023-01-01"),
        ({"start": "2025-07-10", "end": "2025-07-15"}, "data runs to 2025-07-14"),
        ({"start": "2023-01-01", "end": "2025-07-01", "period": "custom"}, None),  # within the span: accepted
        ({"start": "June", "end": "2025-06-03"}, "start: enter a date"),
        ({"start": "2025-06-01", "end": "2025-06-03", "period": "forever"}, "period must be one of"),
        ({"start": "2025-06-01", "end": "2025-06-03", "format": "pdf"}, "format must be"),
        ({"start": "2025-06-01", "end": "2025-06-03", "usage_point": "x"}, "usage_point"),
        ({"start": "2025-06-01", "end": "2025-06-03", "usage_point": []}, "usage_point: choose at least one"),
    ],
)
def test_bad_requests_are_refused_with_a_message_and_no_file(client, app, form, field):
    login(client)
    demo = customer(app)
    with sb_of(app).db.sessions() as s:
        ids = [str(u.id) for u in s.scalars(select(UsagePoint).where(UsagePoint.customer_id == demo.id))]
    r = dmd_post(client, **{"usage_point": ids, **form})
    if field is None:
        assert r.status_code == 200 and "Content-Disposition" in r.headers and r.data.endswith(b"</feed>\n")
        return
    assert r.status_code == 400 and "Content-Disposition" not in r.headers
    assert field in text(r)


def test_a_period_longer_than_the_allowed_span_is_refused(client, app, monkeypatch):
    import sandbox.services.dmd as dmd

    monkeypatch.setattr(dmd, "MAX_SPAN_DAYS", 31)
    login(client)
    demo = customer(app)
    r = dmd_post(client, usage_point=str(customer_usage_point_ids(app, demo)[0]), start="2025-01-01", end="2025-02-01")
    assert r.status_code == 400 and "at most 31 days" in text(r) and "Content-Disposition" not in r.headers


def customer_usage_point_ids(app, c) -> list[int]:
    with sb_of(app).db.sessions() as s:
        return [
            u.id
            for u in s.scalars(select(UsagePoint).where(UsagePoint.customer_id == c.id).order_by(UsagePoint.number))
        ]


def test_another_customers_usage_point_is_404(client, app):
    login(client)
    theirs = customer_usage_point_ids(app, other_customer(app))[0]
    r = dmd_post(client, usage_point=str(theirs), start="2025-06-01", end="2025-06-02")
    assert r.status_code == 404 and "Content-Disposition" not in r.headers


def test_download_requires_sign_in(client):
    r = client.post("/dc/bayview/download", data={"csrf_token": token(client), "period": "last_month"})
    assert r.status_code == 302 and "Content-Disposition" not in r.headers


# --- sharing ------------------------------------------------------------------------------


def test_a_consent_is_the_only_grant_the_sharing_page_lists(client, app):
    """The world seeds no grant: after one consent to the demo third party, its Sharing page lists one."""
    login(client)
    assert 'id="no-authorizations"' in text(client.get("/dc/bayview/sharing"))
    demo_grant(app)
    current = (
        text(client.get("/dc/bayview/sharing")).split('id="current-authorizations"')[1].split("</ul>\n</section>")[0]
    )
    assert current.count("data-authorization=") == 1 and current.count("<h3>Demo Energy App</h3>") == 1


def test_sharing_lists_authorizations_and_the_directory(client, app):
    login(client)
    auth = demo_grant(app)
    html = text(client.get("/dc/bayview/sharing"))
    current = html.split('id="current-authorizations"')[1].split("</ul>\n</section>")[0]
    assert "Demo Energy App" in current and f'data-authorization="{auth.id}"' in current
    assert "Usage readings (electricity, gas)" in current and "Costs and bills" in current
    assert auth.authorized_end.strftime("%Y") in current
    assert "Demo Energy App" in html.split('id="directory"')[1]


def test_revoke_has_a_confirm_step_and_ends_access_at_once(client, app, clock):
    login(client)
    auth = demo_grant(app)
    page = text(client.get(f"/dc/bayview/sharing/{auth.id}/revoke"))
    assert "Stop sharing with Demo Energy App?" in page
    with sb_of(app).db.sessions() as s:
        assert s.get(Authorization, auth.id).status == "active"  # looking at the confirm step changes nothing
    r = client.post(f"/dc/bayview/sharing/{auth.id}/revoke", data={"csrf_token": token(client)})
    assert r.status_code == 303
    with sb_of(app).db.sessions() as s:
        a = s.get(Authorization, auth.id)
        assert a.status == "revoked" and a.ended_at == clock.now().replace(tzinfo=None)
    html = text(client.get("/dc/bayview/sharing"))
    assert "no longer be able" not in html and "can no longer get your data" in html
    assert (
        'id="no-authorizations"' in html
        and f'data-authorization="{auth.id}"' in html.split('id="past-authorizations"')[1]
    )
    again = client.post(
        f"/dc/bayview/sharing/{auth.id}/revoke", data={"csrf_token": token(client)}, follow_redirects=True
    )
    assert "already ended" in text(again)


def test_another_customers_authorization_is_404(client, app):
    login(client, "bayview")
    theirs = demo_grant(app, "lakeshore")
    assert client.get(f"/dc/bayview/sharing/{theirs.id}/revoke").status_code == 404
    assert client.post(f"/dc/bayview/sharing/{theirs.id}/revoke", data={"csrf_token": token(client)}).status_code == 404
    with sb_of(app).db.sessions() as s:
        assert s.get(Authorization, theirs.id).status == "active"


# --- moving -------------------------------------------------------------------------------


def moving_post(client, day, confirm="1"):
    return client.post(
        "/dc/bayview/moving",
        data={"csrf_token": token(client, "/dc/bayview/moving"), "moving_day": day, "confirm": confirm},
    )


def test_moving_ends_service_and_authorizations_then_closes_the_account(client, app, clock):
    login(client)
    auth = demo_grant(app)
    r = moving_post(client, "2025-08-01")
    assert r.status_code == 303
    move_out = dt.datetime(2025, 8, 1, tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(dt.timezone.utc)
    with sb_of(app).db.sessions() as s:
        a = s.get(Authorization, auth.id)
        assert a.authorized_end == move_out.replace(tzinfo=None) and a.status_reason == "moved out"
        assert s.get(Customer, auth.customer_id).service_end == dt.date(2025, 8, 1)
    home = text(client.get("/dc/bayview/"))
    assert "Open until 01 Aug 2025" in home and "account is closed" not in home
    assert "01 Aug 2025 00:00" in text(client.get("/dc/bayview/sharing"))  # until the move (local time)
    clock.advance(dt.timedelta(days=20))
    home = text(client.get("/dc/bayview/"))
    assert "Closed since 01 Aug 2025" in home and "This account is closed" in home
    sharing = text(client.get("/dc/bayview/sharing"))
    assert 'id="no-authorizations"' in sharing and "Ended when you moved out" in sharing
    # the data ends on the moving day
    assert 'max="2025-07-31"' in text(client.get("/dc/bayview/download"))
    assert "already ends" in text(moving_post(client, "2025-09-01"))


@pytest.mark.parametrize(
    "day, confirm, message",
    [
        ("2025-07-14", "1", "cannot be in the past"),
        ("2025-12-01", "1", "at most 90 days ahead"),
        ("someday", "1", "moving_day: enter a date"),
        ("2025-08-01", "", "confirm: tick the box"),
    ],
)
def test_bad_moving_requests_change_nothing(client, app, day, confirm, message):
    login(client)
    r = moving_post(client, day, confirm)
    assert r.status_code == 400 and message in text(r)
    demo = customer(app)
    assert demo.service_end is None
    assert demo_grant(app).status_reason is None


def test_moving_today_closes_the_account_at_once(client, app):
    login(client)
    assert moving_post(client, "2025-07-15").status_code == 303
    assert "This account is closed" in text(client.get("/dc/bayview/"))
    sharing = text(client.get("/dc/bayview/sharing"))
    assert 'id="no-authorizations"' in sharing


def test_the_directory_leaves_out_blocked_third_parties(client, app):
    login(client)
    demo_grant(app)
    with sb_of(app).db.transaction() as s:
        s.scalars(
            select(Application).where(Application.utility.has(slug="bayview"), Application.role == "third_party")
        ).one().status = "blocked"
    html = text(client.get("/dc/bayview/sharing"))
    assert "Demo Energy App" not in html.split('id="directory"')[1]
    assert "blocked by BPL" in html


def test_csrf_covers_html_forms_but_not_the_machine_endpoints(app):
    """The token and revocation endpoints, the ESPI API and the control API authenticate
    otherwise; every other POST (HTML forms, e.g. OAuth consent) needs the token."""
    probes = {
        "/dc/<slug>/espi/1_1/resource/csrf-probe": "/dc/bayview/espi/1_1/resource/csrf-probe",
        "/sandbox-api/csrf-probe": "/sandbox-api/csrf-probe",
        "/dc/<slug>/oauth/revoke/csrf-probe": "/dc/bayview/oauth/revoke/csrf-probe",
        "/dc/<slug>/oauth/authorize/csrf-probe": "/dc/bayview/oauth/authorize/csrf-probe",
        "/dc/<slug>/tokenish/csrf-probe": "/dc/bayview/tokenish/csrf-probe",
    }
    for rule in probes:
        app.add_url_rule(rule, rule, lambda slug=None: "reached", methods=["POST"])
    client = app.test_client()
    for rule, path in probes.items():
        exempt = "espi" in rule or "sandbox-api" in rule or "revoke" in rule
        r = client.post(path)
        assert (r.get_data(as_text=True) == "reached") == exempt, path
        assert (r.status_code == 400 and "CSRF token is missing" in r.get_data(as_text=True)) == (not exempt), path
    token_endpoint = client.post("/dc/bayview/oauth/token", data={"grant_type": "nonsense"})
    assert "CSRF" not in token_endpoint.get_data(as_text=True)
