"""The test notification: POSTing a BatchList to the application's notification URI and recording the answer."""
from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TargetPolicy:
    """Where the sandbox may POST a notification. Listening on loopback only (the default), the
    only callers are on this machine, so any URL is allowed. Listening beyond loopback (as in the
    container), a caller could make the sandbox reach into its network (server-side request
    forgery): then only hosts that resolve to public addresses, or hosts named in `allow`
    (SANDBOX_NOTIFY_ALLOW), are allowed."""

    open: bool = True
    allow: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_listener(cls, listen_host: str, allow: str | None = None) -> "TargetPolicy":
        names = frozenset(h.strip().lower() for h in (allow or "").split(",") if h.strip())
        return cls(open=is_loopback_host(listen_host), allow=names)

    def refusal(self, url: str) -> str | None:
        """Why the sandbox will not POST to `url`, or None."""
        if self.open:
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return "notify_uri: only http and https URLs can be notified."
        if host in self.allow:
            return None
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                       proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return f"notify_uri: the host {host} does not resolve."
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not address.is_global:
                return (f"notify_uri: {host} is a private, loopback or link-local address ({address}); this sandbox "
                        "listens beyond loopback, so it notifies only public hosts and those named in "
                        "SANDBOX_NOTIFY_ALLOW.")
        return None


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
        Authorization.status == AuthState.ACTIVE).order_by(Authorization.id).limit(limit)).all()
    root = resource_root.rstrip("/")
    if subs:
        return [urls.href(root, "BatchSubscription", subscription_id=sub) for sub in subs]
    return [urls.href(root, "BatchBulk", bulk_id=app.client_id)]


def send_test_notification(db: Database, clock: Clock, utility_id: int, app_id: int, resource_root: str,
                           profile: Profile, *, developer_id: int | None = None,
                           timeout: float = NOTIFY_TIMEOUT, policy: TargetPolicy | None = None) -> NotifyResult:
    """POST a schema-valid BatchList to the application's notification URI and record the answer
    (status, latency, start of the body). The HTTP call happens outside any transaction. A URI
    the `policy` refuses is Refused (field notify_uri) and nothing is sent or recorded."""
    with db.sessions() as s:
        app = application(s, utility_id, app_id, developer_id)
        url = app.notify_uri
        if not url:
            raise Refused("notify_uri: register a notification URI first.", "notify_uri")
        uris = notification_uris(s, app, resource_root)
    refusal = (policy or TargetPolicy()).refusal(url)
    if refusal:
        raise Refused(refusal, "notify_uri")
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
