"""Customers: their account's state, moving out, and finding them (staff)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Customer, UsagePoint
from sandbox.espi.scopes import commodities_of
from sandbox.services import authorizations
from sandbox.services.readings import quality_of
from sandbox.synth.quality import DataQuality, QualityError, check_knobs
from sandbox.synth.world import WorldDef

MOVE_MAX_DAYS_AHEAD = 90
SEARCH_LIMIT = 50


def normalise_postal_code(code: str) -> str:
    return code.replace(" ", "").replace("-", "").upper()


def normalise_account_number(text: str) -> str:
    return "".join(ch for ch in text if ch not in " -")


def account_state(customer: Customer, today: dt.date) -> str:
    """'open', 'closing' (a move-out is scheduled) or 'closed' (the moving day has come)."""
    if customer.service_end is None:
        return "open"
    return "closed" if customer.service_end <= today else "closing"


@dataclass(frozen=True)
class MoveResult:
    service_end: dt.date
    ends_at: dt.datetime  # aware UTC: local midnight starting the moving day
    authorizations_ended: int


def move_out(db: Database, clock: Clock, customer_id: int, moving_day: dt.date, tz_name: str) -> MoveResult:
    """End service at the customer's address at the start of `moving_day` (local time).

    The day may be today (service ends at once: the account is closed) up to
    MOVE_MAX_DAYS_AHEAD days ahead. Published data never disappears, because data is
    published only up to yesterday. Every active authorization covering the customer that
    would outlast the move ends at that instant (status_reason 'moved out').
    """
    today = clock.today(tz_name)
    if moving_day < today:
        raise Refused(f"The moving day cannot be in the past: choose {today.isoformat()} or later.", "moving_day")
    if moving_day > today + dt.timedelta(days=MOVE_MAX_DAYS_AHEAD):
        raise Refused(
            f"The moving day can be at most {MOVE_MAX_DAYS_AHEAD} days ahead "
            f"({(today + dt.timedelta(days=MOVE_MAX_DAYS_AHEAD)).isoformat()}).",
            "moving_day",
        )
    with db.transaction() as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise NotFound(customer_id)
        if customer.service_end is not None:
            raise Refused(f"Service at this address already ends on {customer.service_end.isoformat()}.", "moving_day")
        if moving_day <= customer.service_start:
            raise Refused("The moving day must come after the start of service.", "moving_day")
        customer.service_end = moving_day
        cut = authorizations.service_end_instant(customer, tz_name)
        assert cut is not None
        ended = sum(
            authorizations.cut_short(auth, cut, authorizations.MOVED_OUT)
            for auth in authorizations.of_customer(s, customer_id)
        )
    return MoveResult(moving_day, cut.replace(tzinfo=dt.timezone.utc), ended)


# --- finding customers (staff) -----------------------------------------------------------


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_customers(db: Database, utility_id: int, query: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers whose name, account number, username, e-mail or address match every word of `query`.

    Digits typed with spaces or dashes also match account numbers; an empty query lists the first customers.
    """
    words = query.split()
    stmt = select(Customer).where(Customer.utility_id == utility_id)
    if words:
        number = normalise_account_number(query)
        conds = []
        for w in words:
            p = _like(w)
            conds.append(
                or_(
                    *(
                        col.ilike(p, escape="\\")
                        for col in (
                            Customer.first_name,
                            Customer.last_name,
                            Customer.username,
                            Customer.email,
                            Customer.account_number,
                            Customer.street,
                            Customer.city,
                            Customer.postal_code,
                        )
                    )
                )
            )
        match_words = and_(*conds)
        if number.isdigit():
            match_words = or_(match_words, Customer.account_number.like(_like(number), escape="\\"))
        stmt = stmt.where(match_words)
    with db.sessions() as s:
        return list(s.scalars(stmt.order_by(Customer.number).limit(limit)))


def by_username(s: Session, utility_id: int, username: str) -> Customer | None:
    """The utility's customer with this username, whatever its case (as signing in finds them)."""
    return s.scalars(
        select(Customer).where(
            Customer.utility_id == utility_id, func.lower(Customer.username) == username.strip().lower()
        )
    ).first()


def customer_of_utility(s: Session, utility_id: int, customer_id: int) -> Customer:
    """The customer (in session `s`, usage points loaded), or NotFound if it is not this utility's."""
    c = s.scalars(
        select(Customer)
        .where(Customer.id == customer_id, Customer.utility_id == utility_id)
        .options(selectinload(Customer.usage_points), selectinload(Customer.utility))
    ).one_or_none()
    if c is None:
        raise NotFound(customer_id)
    for up in c.usage_points:  # its readings need the customer (data quality), also after the session ends
        set_committed_value(up, "customer", c)
    return c


def shareable_usage_points(customer: Customer, scope: str) -> list[UsagePoint]:
    """The customer's usage points a scope can share: those of the commodities it asks for (all, if
    it names none). The consent page offers these, and the control API shares them by default."""
    wanted = commodities_of(scope)
    return [up for up in customer.usage_points if wanted is None or up.commodity in wanted]


def chosen_usage_points(customer: Customer, ids: list[int]) -> list[UsagePoint]:
    """The customer's usage points with these ids, in the customer's order; NotFound if any is not theirs."""
    by_id = {up.id: up for up in customer.usage_points}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(missing[0])
    wanted = set(ids)
    return [up for up in customer.usage_points if up.id in wanted]


# --- data quality ---------------------------------------------------------------------------


def data_quality(db: Database, world: WorldDef, customer_id: int) -> DataQuality:
    """The customer's data-quality knobs in effect (its own, else the world's)."""
    with db.sessions() as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise NotFound(customer_id)
        return quality_of(world, customer)


def set_data_quality(db: Database, world: WorldDef, customer_id: int, knobs: dict) -> DataQuality:
    """Give the customer these knobs (those left out: the world's; none: back to the world's), in one
    transaction; the knobs in effect. Refused naming the bad knob, nothing changed."""
    try:
        stored = check_knobs(knobs)
    except QualityError as exc:
        raise Refused(f"{exc.field}: {exc.problem}", exc.field) from None
    with db.transaction() as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise NotFound(customer_id)
        customer.data_quality = stored or None
        return quality_of(world, customer)
