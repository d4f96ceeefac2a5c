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

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, contains_eager, object_session, selectinload

from sandbox.core.clock import to_naive_utc
from sandbox.core.db import Database
from sandbox.core.errors import NotFound
from sandbox.core.models import Application, Authorization, Customer, UsagePoint, authorization_usage_point
from sandbox.core.profile import Behaviour
from sandbox.espi.scopes import Content, content_of, parse_scope
from sandbox.services import access
from sandbox.services.access import ClientRole
from sandbox.services.tokens import CallAuthorization

_SHARED_POINT = (
    select(UsagePoint)
    .join(authorization_usage_point, authorization_usage_point.c.usage_point_id == UsagePoint.id)
    .join(Customer, UsagePoint.customer_id == Customer.id)
    .where(
        authorization_usage_point.c.authorization_id == bindparam("authorization_id"),
        UsagePoint.uuid == bindparam("uuid"),
    )
    .options(contains_eager(UsagePoint.customer))
)
_SHARED_POINTS = (
    select(UsagePoint)
    .join(authorization_usage_point, authorization_usage_point.c.usage_point_id == UsagePoint.id)
    .where(authorization_usage_point.c.authorization_id == bindparam("authorization_id"))
    .order_by(UsagePoint.id)
)


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
    provisioned: bool = True  # False while a profile's provisioning delay hides its usage points

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
        if not self.provisioned:
            return []
        if self.auth is not None:
            return list(self.auth.usage_points)
        return list(self.session.scalars(_SHARED_POINTS, {"authorization_id": self.authorization_id}))

    def usage_point(self, uuid: str) -> UsagePoint:
        """One of the subscription's usage points, its customer loaded with it (one query: an
        entry GET needs no other); NotFound for any other id, another customer's included."""
        if not self.provisioned:
            raise NotFound(uuid)
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


def of_token(s: Session, p: access.Presented, pending: bool = False) -> Shared:
    """A customer token's own subscription, from what judging the call read (`pending`: its usage
    points are still being provisioned, see `provisioning`)."""
    auth = p.authorization
    if auth is None or auth.customer_id is None:
        raise NotFound("subscription")
    return Shared(s, auth.id, auth.subscription_uuid, auth.customer_id, content_of(auth.scope), provisioned=not pending)


_COUNT_PENDING = (
    update(Authorization)
    .where(Authorization.id == bindparam("auth_id"), Authorization.pending_calls < bindparam("calls"))
    .values(pending_calls=Authorization.pending_calls + 1)
)


def provisioning(db: Database, auth: CallAuthorization, behaviour: Behaviour, now: dt.datetime) -> bool:
    """Whether a new authorization's usage points are still being provisioned, as platforms that
    provision meters in a back-office job answer: until `delay_seconds` after it was made, or for its
    first `delay_calls` subscription reads (this one counted), whichever ends first."""
    if not behaviour.provisioning_delayed:
        return False
    delay = behaviour.provisioning_delay_seconds
    if delay and auth.created_at is not None and to_naive_utc(now) - auth.created_at >= dt.timedelta(seconds=delay):
        return False
    if not behaviour.provisioning_delay_calls:
        return True
    if (auth.pending_calls or 0) >= behaviour.provisioning_delay_calls:  # counted out already: no write
        return False
    with db.transaction() as s:  # one conditional UPDATE: two racing reads count as two
        counted = (
            s.connection()
            .execute(_COUNT_PENDING, {"auth_id": auth.id, "calls": behaviour.provisioning_delay_calls})
            .rowcount
        )
    return counted == 1


def by_id(s: Session, utility_id: int, subscription_id: str) -> Shared:
    """Any customer subscription of the utility (a data custodian's view)."""
    auth = s.scalars(
        select(Authorization).where(
            Authorization.utility_id == utility_id,
            Authorization.subscription_uuid == subscription_id,
            Authorization.customer_id.is_not(None),
        )
    ).first()
    if auth is None:
        raise NotFound(subscription_id)
    return shared(auth)


def for_request(
    s: Session, utility_id: int, p: access.Presented, subscription_id: str, pending: bool = False
) -> Shared:
    """The subscription a path names, as the caller may see it: its own for a customer token
    (the policy checked the id; `pending` as of_token), any of the utility's for the data custodian."""
    if p.kind == access.TokenKind.CUSTOMER:
        return of_token(s, p, pending)
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
    q = q.options(
        selectinload(Authorization.application),
        selectinload(Authorization.customer),
        selectinload(Authorization.usage_points),
    )
    members = [a for a in s.scalars(q.order_by(Authorization.id)) if bulk_id_of(a) == bulk_id]
    if not members and not _default_bulk(s, utility_id, p, bulk_id):
        raise NotFound(bulk_id)  # no bulk of the caller's has this id (another third party's is not there)
    return [shared(a) for a in members if access.grants_access(a, now)]


def _default_bulk(s: Session, utility_id: int, p: access.Presented, bulk_id: str) -> bool:
    """Whether `bulk_id` names the caller's default bulk (its client_id), empty or not; for the data
    custodian, any third party's."""
    if p.kind != access.TokenKind.CUSTODIAN:
        return bulk_id == p.application.client_id
    return (
        s.scalar(select(Application.id).where(Application.utility_id == utility_id, Application.client_id == bulk_id))
        is not None
    )


def authorizations_visible(s: Session, utility_id: int, p: access.Presented) -> list[Authorization]:
    """The Authorization collection as the caller sees it: its own application's, or every one
    for the data custodian."""
    q = (
        select(Authorization)
        .where(Authorization.utility_id == utility_id)
        .options(selectinload(Authorization.customer), selectinload(Authorization.application))
    )  # a feed streams them later
    if p.kind != access.TokenKind.CUSTODIAN:
        q = q.where(Authorization.application_id == p.application.id)
    return list(s.scalars(q.order_by(Authorization.id)))


def authorization_visible(s: Session, utility_id: int, p: access.Presented, authorization_id: str) -> Authorization:
    auth = s.scalars(
        select(Authorization).where(Authorization.utility_id == utility_id, Authorization.uuid == authorization_id)
    ).first()
    if auth is None or (p.kind != access.TokenKind.CUSTODIAN and auth.application_id != p.application.id):
        raise NotFound(authorization_id)  # another third party's is not there for this caller
    return auth


def third_party_applications(s: Session, utility_id: int) -> list[Application]:
    return list(
        s.scalars(
            select(Application)
            .where(Application.utility_id == utility_id, Application.role == ClientRole.THIRD_PARTY)
            .order_by(Application.id)
        )
    )


def customer_by_uuid(s: Session, utility_id: int, customer_uuid: str) -> Customer:
    c = s.scalars(select(Customer).where(Customer.utility_id == utility_id, Customer.uuid == customer_uuid)).first()
    if c is None:
        raise NotFound(customer_uuid)
    return c


def customers_of_utility(s: Session, utility_id: int) -> list[Customer]:
    """Every customer of the utility (the data custodian's view of the PII), their usage points loaded."""
    return list(
        s.scalars(
            select(Customer)
            .where(Customer.utility_id == utility_id)
            .options(selectinload(Customer.usage_points))
            .order_by(Customer.id)
        )
    )


def usage_points_of_utility(s: Session, utility_id: int) -> list[UsagePoint]:
    """Every usage point of the utility, each with its customer loaded by the same query."""
    return list(
        s.scalars(
            select(UsagePoint)
            .join(Customer)
            .where(Customer.utility_id == utility_id)
            .options(contains_eager(UsagePoint.customer))
            .order_by(UsagePoint.id)
        )
    )
