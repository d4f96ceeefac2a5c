"""What an authorization shares now: its customer, the usage points ticked at consent, and the
content its scope grants (ESPI.md 6.2). The resource server asks here for a customer token's
subscription, a data custodian's view of any subscription, and a third party's bulk request.

A Subscription has the id of its Authorization (deployed third parties build one URL from
the other). Access itself (is the token good, is this its subscription) was judged before by
the access policy; this module only finds, and answers NotFound for what is not there.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager, object_session, selectinload

from sandbox.core.errors import NotFound
from sandbox.core.models import Application, Authorization, Customer, UsagePoint, authorization_usage_point
from sandbox.espi.scopes import Content, content_of, parse_scope
from sandbox.services import access
from sandbox.services.access import ClientRole

_SHARED_POINT = (select(UsagePoint)
                 .join(authorization_usage_point, authorization_usage_point.c.usage_point_id == UsagePoint.id)
                 .join(Customer, UsagePoint.customer_id == Customer.id)
                 .where(authorization_usage_point.c.authorization_id == bindparam("authorization_id"),
                        UsagePoint.uuid == bindparam("uuid"))
                 .options(contains_eager(UsagePoint.customer)))
_SHARED_POINTS = (select(UsagePoint)
                  .join(authorization_usage_point, authorization_usage_point.c.usage_point_id == UsagePoint.id)
                  .where(authorization_usage_point.c.authorization_id == bindparam("authorization_id"))
                  .order_by(UsagePoint.id))


@dataclass
class Shared:
    """One authorization's subscription: whose, which usage points, and what of them.

    Built from a loaded Authorization (its customer and usage points read from it), or from the
    values a customer token's call judged (`of_token`): then the customer and the usage points are
    loaded only when asked for, and an entry GET's one query for its usage point loads the customer
    with it."""

    session: Session
    authorization_id: int
    id: str  # the subscription's id (the Subscription/{id} of its URLs)
    customer_id: int
    content: Content
    auth: Authorization | None = None

    @property
    def customer(self) -> Customer:
        if self.auth is not None and self.auth.customer is not None:
            return self.auth.customer
        found = self.session.get(Customer, self.customer_id)  # from the identity map after usage_point()
        if found is None:
            raise NotFound(self.id)
        return found

    @property
    def usage_points(self) -> list[UsagePoint]:
        if self.auth is not None:
            return list(self.auth.usage_points)
        return list(self.session.scalars(_SHARED_POINTS, {"authorization_id": self.authorization_id}))

    def usage_point(self, uuid: str) -> UsagePoint:
        """One of the subscription's usage points, its customer loaded with it (one query: an
        entry GET needs no other); NotFound for any other id, another customer's included."""
        up = self.session.scalars(_SHARED_POINT, {"authorization_id": self.authorization_id, "uuid": uuid}).first()
        if up is None:
            raise NotFound(uuid)
        return up

    def earliest(self, now: dt.datetime, tz_name: str) -> dt.date | None:
        """The first local day HistoryLength lets the third party see, if the scope bounds it."""
        seconds = self.content.history_seconds
        if seconds is None:
            return None
        return (now - dt.timedelta(seconds=seconds)).astimezone(ZoneInfo(tz_name)).date()


def shared(auth: Authorization) -> Shared:
    """A loaded authorization's subscription."""
    s = object_session(auth)
    if auth.customer_id is None or s is None:
        raise NotFound(auth.subscription_uuid)  # a client's authorization has an empty subscription
    return Shared(s, auth.id, auth.subscription_uuid, auth.customer_id, content_of(auth.scope), auth)


def of_token(s: Session, p: access.Presented) -> Shared:
    """A customer token's own subscription, from what judging the call read."""
    auth = p.authorization
    if auth is None or auth.customer_id is None:
        raise NotFound("subscription")
    return Shared(s, auth.id, auth.subscription_uuid, auth.customer_id, content_of(auth.scope))


def by_id(s: Session, utility_id: int, subscription_id: str) -> Shared:
    """Any customer subscription of the utility (a data custodian's view)."""
    auth = s.scalars(select(Authorization).where(Authorization.utility_id == utility_id,
                                                 Authorization.subscription_uuid == subscription_id,
                                                 Authorization.customer_id.is_not(None))).first()
    if auth is None:
        raise NotFound(subscription_id)
    return shared(auth)


def for_request(s: Session, utility_id: int, p: access.Presented, subscription_id: str) -> Shared:
    """The subscription a path names, as the caller may see it: its own for a customer token
    (the policy checked the id), any of the utility's for the data custodian."""
    if p.kind == access.TokenKind.CUSTOMER:
        return of_token(s, p)
    return by_id(s, utility_id, subscription_id)


def bulk_request_of(auth: Authorization) -> str | None:
    """The BR term of an authorization's scope (its third party reads it in bulk), or None."""
    try:
        return parse_scope(auth.scope, strict=False).bulk_request
    except ValueError:
        return None


def bulk_id_of(auth: Authorization) -> str:
    """The bulk an authorization belongs to: its scope's BR term, else its third party's default
    bulk, named by the client_id (the client token's resourceURI)."""
    return bulk_request_of(auth) or auth.application.client_id


def bulk(s: Session, utility_id: int, p: access.Presented, bulk_id: str, now: dt.datetime) -> list[Shared]:
    """The subscriptions of a bulk request: every authorization of the caller's application (any
    third party's, for the data custodian) that grants access now and belongs to `bulk_id`."""
    q = select(Authorization).where(Authorization.utility_id == utility_id, Authorization.customer_id.is_not(None))
    if p.kind != access.TokenKind.CUSTODIAN:
        q = q.where(Authorization.application_id == p.application.id)
    q = q.options(selectinload(Authorization.application), selectinload(Authorization.customer),
                  selectinload(Authorization.usage_points))
    members = [a for a in s.scalars(q.order_by(Authorization.id)) if bulk_id_of(a) == bulk_id]
    if not members and not _default_bulk(s, utility_id, p, bulk_id):
        raise NotFound(bulk_id)  # no bulk of the caller's has this id (another third party's is not there)
    return [shared(a) for a in members if access.grants_access(a, now)]


def _default_bulk(s: Session, utility_id: int, p: access.Presented, bulk_id: str) -> bool:
    """Whether `bulk_id` names the caller's default bulk (its client_id), empty or not; for the data
    custodian, any third party's."""
    if p.kind != access.TokenKind.CUSTODIAN:
        return bulk_id == p.application.client_id
    return s.scalar(select(Application.id).where(Application.utility_id == utility_id,
                                                 Application.client_id == bulk_id)) is not None


def authorizations_visible(s: Session, utility_id: int, p: access.Presented) -> list[Authorization]:
    """The Authorization collection as the caller sees it: its own application's, or every one
    for the data custodian."""
    q = select(Authorization).where(Authorization.utility_id == utility_id).options(
        selectinload(Authorization.customer), selectinload(Authorization.application))  # a feed streams them later
    if p.kind != access.TokenKind.CUSTODIAN:
        q = q.where(Authorization.application_id == p.application.id)
    return list(s.scalars(q.order_by(Authorization.id)))


def authorization_visible(s: Session, utility_id: int, p: access.Presented, authorization_id: str) -> Authorization:
    auth = s.scalars(select(Authorization).where(Authorization.utility_id == utility_id,
                                                 Authorization.uuid == authorization_id)).first()
    if auth is None or (p.kind != access.TokenKind.CUSTODIAN and auth.application_id != p.application.id):
        raise NotFound(authorization_id)  # another third party's is not there for this caller
    return auth


def third_party_applications(s: Session, utility_id: int) -> list[Application]:
    return list(s.scalars(select(Application).where(Application.utility_id == utility_id,
                                                    Application.role == ClientRole.THIRD_PARTY)
                          .order_by(Application.id)))


def customer_by_uuid(s: Session, utility_id: int, customer_uuid: str) -> Customer:
    c = s.scalars(select(Customer).where(Customer.utility_id == utility_id, Customer.uuid == customer_uuid)).first()
    if c is None:
        raise NotFound(customer_uuid)
    return c


def usage_points_of_utility(s: Session, utility_id: int) -> list[UsagePoint]:
    """Every usage point of the utility, each with its customer loaded by the same query."""
    return list(s.scalars(select(UsagePoint).join(Customer).where(Customer.utility_id == utility_id)
                          .options(contains_eager(UsagePoint.customer)).order_by(UsagePoint.id)))
