"""POSTing a BatchList to a third party, and where the sandbox may POST at all. The one HTTP
client of notifications: the onboarding test notification and the outbox's deliveries use it."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
    allow_prefixes: frozenset[str] = field(default_factory=frozenset)  # exact places (run.py's demo app)

    @classmethod
    def for_listener(cls, listen_host: str, allow: str | None = None) -> "TargetPolicy":
        names = frozenset(h.strip().lower() for h in (allow or "").split(",") if h.strip())
        return cls(open=is_loopback_host(listen_host), allow=names)

    def refusal(self, url: str) -> str | None:
        """Why the sandbox will not POST to `url`, or None."""
        if self.open or any(url.startswith(p) for p in self.allow_prefixes):
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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # no answer, or one that is not HTTP (a bad status line, too many headers, a short body)
        reason = getattr(exc, "reason", exc)
        return NotifyResult(0, elapsed(), f"no answer: {type(reason).__name__}: {reason}"[:NOTIFY_BODY_CHARS])
