"""The seeded rows the OAuth tests name: a utility's id, its demo third party and its demo customer."""

from __future__ import annotations

from sqlalchemy import func, select
from web.helpers import sb_of

from sandbox.core.models import Application, Customer, OAuthCode
from sandbox.services import world as world_service


def utility_id(app, slug="bayview") -> int:
    return world_service.utility_id(sb_of(app).db, slug)


def demo_app_id(app, slug="bayview") -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(
            select(Application.id).where(
                Application.client_id == "demo-third-party", Application.utility_id == utility_id(app, slug)
            )
        )


def demo_customer_id(app, slug="bayview") -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(
            select(Customer.id).where(Customer.username == "demo", Customer.utility_id == utility_id(app, slug))
        )


def code_count(app, customer_id: int) -> int:
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(func.count(OAuthCode.id)).where(OAuthCode.customer_id == customer_id))
