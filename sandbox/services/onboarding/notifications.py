"""The test notification: POSTing a BatchList to the application's notification URI and recording the answer."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock
from sandbox.core.db import Database
from sandbox.core.errors import Refused
from sandbox.core.models import Application, Authorization
from sandbox.core.profile import Profile
from sandbox.espi import urls
from sandbox.espi.resources import batch_list
from sandbox.services.onboarding.applications import application
from sandbox.services.onboarding.status import evaluate

NOTIFY_TIMEOUT = 5.0  # seconds
NOTIFY_BODY_CHARS = 2000  # what is kept of the third party's answer


@dataclass(frozen=True)
class NotifyResult:
    status: int  # HTTP status; 0 when no HTTP answer came
    ms: int
    body: str  # the answer's start, or the error for status 0
    uris: tuple[str, ...] = ()  # what the BatchList named

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is the answer; it is not followed
        return None


def post_notification(url: str, body: bytes, timeout: float = NOTIFY_TIMEOUT) -> NotifyResult:
    """POST a BatchList to a third party (Content-Type application/xml); never raises for the
    third party's failures. No proxy is used (the sandbox talks to the developer's own machine)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/xml", "Accept": "*/*",
                                          "User-Agent": "GreenButtonSandbox-Notifier"})
    start = time.perf_counter()

    def elapsed() -> int:
        return int(round((time.perf_counter() - start) * 1000))

    try:
        with opener.open(req, timeout=timeout) as resp:
            data = resp.read(NOTIFY_BODY_CHARS * 4)
            return NotifyResult(resp.status, elapsed(), data.decode("utf-8", "replace")[:NOTIFY_BODY_CHARS])
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read(NOTIFY_BODY_CHARS * 4)
        except Exception:  # noqa: BLE001  (the body of an error may be unreadable)
            data = b""
        return NotifyResult(exc.code, elapsed(), data.decode("utf-8", "replace")[:NOTIFY_BODY_CHARS])
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return NotifyResult(0, elapsed(), f"no answer: {type(reason).__name__}: {reason}"[:NOTIFY_BODY_CHARS])


def notification_uris(s: Session, app: Application, resource_root: str, limit: int = 10) -> list[str]:
    """What a notification for this application names: the Batch/Subscription of each of its
    active customer authorizations, or, with none, its Batch/Bulk URL (bulk id = client_id)."""
    subs = s.scalars(select(Authorization.subscription_uuid).where(
        Authorization.application_id == app.id, Authorization.customer_id.is_not(None),
        Authorization.status == "active").order_by(Authorization.id).limit(limit)).all()
    root = resource_root.rstrip("/")
    if subs:
        return [urls.href(root, "BatchSubscription", subscription_id=sub) for sub in subs]
    return [urls.href(root, "BatchBulk", bulk_id=app.client_id)]


def send_test_notification(db: Database, clock: Clock, utility_id: int, app_id: int, resource_root: str,
                           profile: Profile, *, developer_id: int | None = None,
                           timeout: float = NOTIFY_TIMEOUT) -> NotifyResult:
    """POST a schema-valid BatchList to the application's notification URI and record the answer
    (status, latency, start of the body). The HTTP call happens outside any transaction."""
    with db.sessions() as s:
        app = application(s, utility_id, app_id, developer_id)
        url = app.notify_uri
        if not url:
            raise Refused("notify_uri: register a notification URI first.", "notify_uri")
        uris = notification_uris(s, app, resource_root)
    result = post_notification(url, batch_list(uris), timeout)
    result = NotifyResult(result.status, result.ms, result.body, tuple(uris))
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        if app.notify_uri == url:  # changed meanwhile: this result is not about the URI on file
            now = clock.naive_now()
            app.notify_check_at, app.notify_check_status = now, result.status
            app.notify_check_ms, app.notify_check_body = result.ms, result.body
            evaluate(app, profile, now)
    return result
