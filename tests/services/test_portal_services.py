"""The portal's plain-Python services (sandbox.accounts, sandbox.web.charts) without HTTP."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import select
from web.helpers import demo_grant, overlapping, sb_of

from sandbox.core import errors
from sandbox.core.models import Application, Authorization, Customer
from sandbox.espi.scopes import summary_words
from sandbox.services import authorizations, customers, dmd, signin, summaries, third_parties
from sandbox.services.readings import History
from sandbox.synth.usage import Stream
from sandbox.web import charts, context


def ids(app, slug="bayview"):
    """The demo customer's utility and row id, and its consent to the demo third party (made here)."""
    auth = demo_grant(app, slug)
    with sb_of(app).db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug=slug))).one()
        return demo.utility_id, demo.id, auth.id, auth.application_id


# --- sign-in rules ------------------------------------------------------------------------


def test_lockout_counts_failures_in_a_row_and_expires_by_the_clock(app, clock):
    sb = sb_of(app)
    uid, cid, _, _ = ids(app)
    results = [signin.login_with_password(sb.db, clock, uid, "demo", "bad") for _ in range(signin.MAX_FAILURES)]
    assert [r.locked for r in results] == [False] * (signin.MAX_FAILURES - 1) + [True]
    assert results[-1].locked_until == clock.now() + signin.LOCKOUT
    assert signin.login_with_password(sb.db, clock, uid, "demo", "demo").locked
    assert signin.sign_in_lock(sb.db, clock, uid, cid).locked_until == results[-1].locked_until
    clock.advance(signin.LOCKOUT)
    assert signin.sign_in_lock(sb.db, clock, uid, cid) is None
    ok = signin.login_with_password(sb.db, clock, uid, "DEMO ", "demo")
    assert ok.ok and ok.customer_id == cid


def test_failures_sent_at_once_all_count(app, clock):
    """Wrong passwords racing each other (threads released together) still lock the login: each
    failure is counted, none overwrites another's count."""
    sb = sb_of(app)
    uid, cid, _, _ = ids(app)
    results = overlapping(lambda i: signin.login_with_password(sb.db, clock, uid, "demo", "bad"), signin.MAX_FAILURES)
    assert sum(r.locked for r in results) == 1  # the fifth failure, whichever thread it was, locked it
    assert signin.login_with_password(sb.db, clock, uid, "demo", "demo").locked


def test_lockout_is_per_utility(app, clock):
    sb = sb_of(app)
    bay = ids(app)[0]
    lake = ids(app, "lakeshore")[0]
    for _ in range(signin.MAX_FAILURES):
        signin.login_with_password(sb.db, clock, bay, "demo", "bad")
    assert signin.login_with_password(sb.db, clock, lake, "demo", "demo").ok


def test_staff_login_is_the_fixed_pair(app, clock):
    uid = ids(app)[0]
    assert signin.staff_login(sb_of(app).db, clock, uid, "staff", "staff").ok
    assert not signin.staff_login(sb_of(app).db, clock, uid, "staff", "Staff").ok
    assert signin.staff_login(sb_of(app).db, clock, uid, "staff", "staff").customer_id is None


def test_session_logins_are_kept_per_role_and_utility():
    store = {}
    context.remember_login(store, "customer", "bayview", 7)
    context.remember_login(store, "customer", "lakeshore", 9)
    context.remember_login(store, "staff", "bayview", "staff")
    context.logout(store, "customer", "bayview")
    assert context.logged_in(store, "customer", "bayview") is None
    assert context.logged_in(store, "customer", "lakeshore") == 9
    assert context.logged_in(store, "staff", "bayview") == "staff"


# --- moving, revoking, blocking -------------------------------------------------------------


def test_move_out_only_shortens_authorizations_that_outlast_it(app, clock):
    sb = sb_of(app)
    _, cid, auth_id, _ = ids(app)
    with sb.db.transaction() as s:
        a = s.get(Authorization, auth_id)
        short_end = dt.datetime(2025, 7, 20)
        a.authorized_end = short_end
    result = customers.move_out(sb.db, clock, cid, dt.date(2025, 8, 1), "America/Los_Angeles")
    assert result.authorizations_ended == 0
    with sb.db.sessions() as s:
        a = s.get(Authorization, auth_id)
        assert a.authorized_end == short_end and a.status_reason is None


def test_revoke_refuses_another_customers_authorization(app, clock):
    sb = sb_of(app)
    _, cid, _, _ = ids(app)
    other_auth = ids(app, "lakeshore")[2]
    with pytest.raises(errors.NotFound):
        authorizations.revoke_by_customer(sb.db, clock, cid, other_auth)


def test_unblock_restores_the_status_before_the_block(app, clock):
    sb = sb_of(app)
    uid, _, _, app_id = ids(app)
    with sb.db.transaction() as s:
        s.get(Application, app_id).status = "on_hold"
    third_parties.set_application_blocked(sb.db, clock, uid, app_id, True)
    assert third_parties.set_application_blocked(sb.db, clock, uid, app_id, False).status == "on_hold"
    with pytest.raises(errors.Refused):
        third_parties.set_application_blocked(sb.db, clock, uid, app_id, False)
    with sb.db.transaction() as s:  # blocked without a recorded change (e.g. by hand): back to review
        s.get(Application, app_id).status = "blocked"
    assert third_parties.set_application_blocked(sb.db, clock, uid, app_id, False).status == "review"


def test_search_treats_wildcards_literally(app):
    uid = ids(app)[0]
    assert customers.find_customers(sb_of(app).db, uid, "%") == []
    assert customers.find_customers(sb_of(app).db, uid, "_") == []
    assert len(customers.find_customers(sb_of(app).db, uid, "")) == 4


# --- Download My Data periods ---------------------------------------------------------------

H = History(dt.date(2024, 3, 10), dt.date(2025, 7, 15))


def test_presets_are_whole_months_before_the_data_ends():
    assert dmd.dmd_period("last_month", None, None, H, 1098) == (dt.date(2025, 6, 1), dt.date(2025, 7, 1))
    assert dmd.dmd_period("last_12_months", None, None, H, 1098) == (dt.date(2024, 7, 1), dt.date(2025, 7, 1))
    short = History(dt.date(2025, 2, 20), dt.date(2025, 7, 15))
    assert dmd.dmd_period("last_12_months", "", "", short, 1098) == (dt.date(2025, 2, 20), dt.date(2025, 7, 1))
    moved = History(dt.date(2023, 1, 1), dt.date(2025, 3, 1))
    assert dmd.dmd_period("last_month", None, None, moved, 1098) == (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    new = History(dt.date(2025, 7, 3), dt.date(2025, 7, 15))
    with pytest.raises(errors.Refused, match="no whole month"):
        dmd.dmd_period("last_month", None, None, new, 1098)


def test_custom_period_end_is_inclusive_and_bounded():
    assert dmd.dmd_period("custom", "2024-03-10", "2025-07-14", H, 1098) == (dt.date(2024, 3, 10), dt.date(2025, 7, 15))
    assert dmd.dmd_period("custom", "2025-01-01", "2025-01-01", H, 1098) == (dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    for start, end, param in [
        ("2024-03-09", "2024-04-01", "start"),
        ("2025-07-01", "2025-07-15", "end"),
        ("2025-02-01", "2025-01-31", "end"),
        ("2024-04-01", "2024-05-01", "end"),
    ]:
        with pytest.raises(errors.Refused) as err:
            dmd.dmd_period("custom", start, end, H, 30)
        assert err.value.param == param


# --- what a scope shares --------------------------------------------------------------------


def test_describe_scope():
    lines = summary_words(
        "FB=1_3_4_5_8_10_12_13_14_15_16;IntervalDuration=900_3600_86400;BlockDuration=daily;HistoryLength=34128000"
    )
    assert lines[0] == "Usage readings (electricity, gas), 15-minute, hourly, daily"
    assert "Costs and bills" in lines and "History: up to 13 months back" in lines
    assert "Your name, contact details, account and service address" not in lines
    pii = summary_words("FB=1_3_4_5_13_14_39_51_56;HistoryLength=13")
    assert "History: up to 13 months back" in pii and pii[-1].startswith("Your name")
    assert summary_words("garbage") == ["Usage readings"]


# --- numbers and charts -----------------------------------------------------------------------


def _stream(unit, mult, flow="delivered"):
    return Stream("k", "electricity", flow, 3600, unit, mult, 1000, "t")


def test_quantities_honour_the_power_of_ten_multiplier():
    assert summaries.format_quantity(1234567, _stream("Wh", 0)) == "1,234.567 kWh"
    assert summaries.format_quantity(1234567, _stream("Wh", -3)) == "1.234567 kWh"
    assert summaries.format_quantity(12, _stream("Wh", 3)) == "12 kWh"
    assert summaries.format_quantity(30366, _stream("therm", -3)) == "30.366 therms"
    assert summaries.quantity(5, _stream("gal", 0)) == Decimal(5)


def test_money_rounds_half_up_to_cents():
    assert summaries.format_money(123456, "USD") == "$1.23"
    assert summaries.format_money(500, "USD") == "$0.01"
    assert summaries.format_money(-4023000, "CAD") == "−$40.23"
    assert summaries.format_money(None, "USD") == "—"


def test_bar_chart_axes_share_gridlines_and_zero():
    svg = str(
        charts.bar_chart(
            ident="x",
            title="T <&>",
            desc="D",
            up=[1.0, 3.2, 2.0],
            down=[0.5, 0, 1.4],
            y_unit="kWh",
            ticks=[charts.Tick(0, "Mon")],
            segments=[charts.Segment(0, 2, 4.0, "a"), charts.Segment(2, 3, -1.0, "b")],
            line_unit="$",
            line_label="cost",
        )
    )
    assert 'role="img"' in svg and '<title id="x-t">T &lt;&amp;&gt;</title>' in svg and '<desc id="x-d">D</desc>' in svg
    rows = re.findall(
        r'<text class="axis" x="\d+" y="([\d.]+)" text-anchor="end">([-\d.,]+)</text>'
        r'<text class="axis cost" x="\d+" y="([\d.]+)">([-\d.,]+)</text>',
        svg,
    )
    assert rows, svg
    assert all(a == c for a, _, c, _ in rows)  # each cost label sits on a usage gridline
    zero = [(u, c) for _, u, _, c in rows if u == "0"]
    assert zero == [("0", "0")]  # both axes have zero on the same line
    values = {float(u): float(c) for _, u, _, c in rows}
    assert max(values) >= 3.2 and min(values) <= -1.4 and max(values.values()) >= 4 and min(values.values()) <= -1
    assert "<title>a</title>" in svg and "<title>b</title>" in svg
