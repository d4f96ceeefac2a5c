"""A customer's bill statements (services.statements): the months the Statement entries list without
computing a reading are the months billed, and a statement found by id is the one the list holds."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from web.helpers import sb_of

from sandbox.core.errors import NotFound
from sandbox.core.models import Customer
from sandbox.services import readings, statements
from sandbox.synth.calendar import local_midnight


@pytest.fixture
def found(app):
    sb = sb_of(app)
    with sb.db.sessions() as s:
        customer = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()
        utility = sb.world.utility("bayview")
        yield sb, utility, customer


def test_periods_are_the_months_billed_and_statements_hold_their_bills(found):
    sb, utility, customer = found
    periods = statements.periods(sb.world, utility, sb.clock, customer)
    full = statements.statements(sb.world, utility, sb.clock, customer)
    assert len(periods) >= 6 and [p.uuid for p in periods] == [st.uuid for st in full]
    history = readings.service_history(sb.world, utility, sb.clock, customer)
    for up in customer.usage_points:
        bills = readings.bills(sb.world, utility, up, history.first, history.end)
        assert [b.first_day for b in bills] == [p.first_day for p in periods]
        assert [b for st in full for u, b in st.bills if u.id == up.id] == bills
    for p in periods:
        assert (
            p.issued == local_midnight(utility.time_zone, p.end_day) and p.file_name == f"bill-{p.first_day:%Y-%m}.pdf"
        )
    assert len({p.uuid for p in periods}) == len(periods)


def test_a_statement_by_id_is_the_listed_one_and_bills_only_the_usage_points_given(found):
    sb, utility, customer = found
    full = statements.statements(sb.world, utility, sb.clock, customer)
    assert statements.statement(sb.world, utility, sb.clock, customer, full[-2].uuid) == full[-2]
    one = customer.usage_points[:1]
    mine = statements.statement(sb.world, utility, sb.clock, customer, full[-2].uuid, one)
    assert [up.id for up, _ in mine.bills] == [one[0].id] and mine.total == full[-2].bills[0][1].total
    with pytest.raises(NotFound):
        statements.statement(sb.world, utility, sb.clock, customer, "00000000-0000-5000-8000-000000000001")
    assert statements.periods(sb.world, utility, sb.clock, customer, []) == []
