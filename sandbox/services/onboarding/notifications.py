"""The test notification: POSTing a BatchList to the application's notification URI and recording the answer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import Refused
from sandbox.core.models import Application, Authorization
from sandbox.core.profile import Profile
from sandbox.espi import urls
from sandbox.espi.resources import batch_list
from sandbox.services.authorizations import AuthState
from sandbox.services.notifications.posting import NOTIFY_TIMEOUT, NotifyResult, TargetPolicy, post_notification
from sandbox.services.onboarding.applications import application
from sandbox.services.onboarding.status import evaluate


def notification_uris(s: Session, app: Application, resource_root: str, limit: int = 10) -> list[str]:
    """What a notification for this application names: the Batch/Subscription of each of its
    active customer authorizations, or, with none, its Batch/Bulk URL (bulk id = client_id)."""
    subs = s.scalars(
        select(Authorization.subscription_uuid)
        .where(
            Authorization.application_id == app.id,
            Authorization.customer_id.is_not(None),
            Authorization.status == AuthState.ACTIVE,
        )
        .order_by(Authorization.id)
        .limit(limit)
    ).all()
    root = resource_root.rstrip("/")
    if subs:
        return [urls.href(root, "BatchSubscription", subscription_id=sub) for sub in subs]
    return [urls.href(root, "BatchBulk", bulk_id=app.client_id)]


def send_test_notification(
    db: Database,
    clock: Clock,
    utility_id: int,
    app_id: int,
    resource_root: str,
    profile: Profile,
    *,
    developer_id: int | None = None,
    timeout: float = NOTIFY_TIMEOUT,
    policy: TargetPolicy | None = None,
) -> NotifyResult:
    """POST a schema-valid BatchList to the application's notification URI and record the answer
    (status, latency, start of the body). The HTTP call happens outside any transaction. A URI
    the `policy` refuses is Refused (field notify_uri) and nothing is sent or recorded."""
    with db.sessions() as s:
        app = application(s, utility_id, app_id, developer_id)
        url = app.notify_uri
        if not url:
            raise Refused("notify_uri: register a notification URI first.", "notify_uri")
        uris = notification_uris(s, app, resource_root)
    target = (policy or TargetPolicy()).target(url)  # Refused; resolved once: the POST goes where was checked
    result = post_notification(target, batch_list(uris), timeout)
    result = NotifyResult(result.status, result.ms, result.body, tuple(uris))
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        if app.notify_uri == url:  # changed meanwhile: this result is not about the URI on file
            now = clock.naive_now()
            app.notify_check_at, app.notify_check_status = now, result.status
            app.notify_check_ms, app.notify_check_body = result.ms, result.body
            evaluate(app, profile, now)
    return result
