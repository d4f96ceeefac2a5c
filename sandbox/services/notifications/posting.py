"""POSTing a BatchList to a third party, and where the sandbox may POST at all. The one HTTP
client of notifications: the onboarding test notification and the outbox's deliveries use it.

A notification URI's host is resolved once (`TargetPolicy.target`): the addresses found are the
ones checked and the only ones connected to. Resolving again to connect would let a name that
answers a public address to the check and a loopback one to the connection (DNS rebinding)
reach inside. Over https the pinned address is still verified by name: the request's Host, the
TLS server name and the certificate check all use the URI's host."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union
from urllib.parse import urlsplit

from sandbox.core.errors import Refused

NOTIFY_TIMEOUT = 5.0  # seconds
NOTIFY_BODY_CHARS = 2000  # what is kept of the third party's answer

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Resolver = Callable[[str, int], Sequence[str]]  # (host, port) -> addresses, in the order to try them
Connector = Callable[[tuple[str, int], float], socket.socket]  # ((address, port), timeout) -> a connected socket


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


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for `host`, each address once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def tcp_connect(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout)


# IPv6 forms whose last 32 bits are an IPv4 address the packets reach: the NAT64 well-known prefix
# (RFC 6052) and IPv4-compatible addresses (RFC 4291 2.5.5.1, deprecated, still routed by some stacks)
_IPV4_IN_LAST_32_BITS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))


def reached(address: str) -> IPAddress:
    """The address a connection to `address` ends at: an IPv6 form that wraps an IPv4 address
    (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is that IPv4 address."""
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 zone (fe80::1%eth0) names no other host
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    wrapped = ip.ipv4_mapped or ip.sixtofour
    if wrapped is None and int(ip) > 1 and any(ip in net for net in _IPV4_IN_LAST_32_BITS):  # :: and ::1 are IPv6's
        wrapped = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return wrapped or ip


def is_public(ip: IPAddress) -> bool:
    """A unicast address on the internet (not private, loopback, link-local, shared, reserved or multicast)."""
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


@dataclass(frozen=True)
class Target:
    """Where one POST goes: the URI's host, found at `addresses` by a single resolution."""

    url: str  # the request URL (a user name or password in the URI is not sent)
    host: str  # the name: Host header, TLS server name and certificate check
    port: int
    addresses: tuple[str, ...]  # connected to in order, and nothing else
    unresolved: str = ""  # why there are no addresses
    connect: Connector = field(default=tcp_connect, compare=False, repr=False)

    def open(self, timeout: float) -> socket.socket:
        """A socket connected to the first of `addresses` that answers."""
        error: OSError = OSError(f"the host {self.host} does not resolve: {self.unresolved}")
        for address in self.addresses:
            try:
                return self.connect((address, self.port), timeout)
            except OSError as exc:
                error = exc
        raise error


@dataclass(frozen=True)
class TargetPolicy:
    """Where the sandbox may POST a notification. Listening on loopback only (the default), the
    only callers are on this machine, so any URL is allowed. Listening beyond loopback (as in the
    container), a caller could make the sandbox reach into its network (server-side request
    forgery): then only hosts whose every address is public, hosts named in `allow`
    (SANDBOX_NOTIFY_ALLOW) and the exact URLs in `allow_urls` (run.py's demo app) are allowed.
    `resolver` and `connect` are the network as the sandbox sees it (tests give their own)."""

    open: bool = True
    allow: frozenset[str] = field(default_factory=frozenset)
    allow_urls: frozenset[str] = field(default_factory=frozenset)
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)
    connect: Connector = field(default=tcp_connect, compare=False, repr=False)

    @classmethod
    def for_listener(cls, listen_host: str, allow: str | None = None) -> "TargetPolicy":
        names = frozenset(h.strip().lower() for h in (allow or "").split(",") if h.strip())
        return cls(open=is_loopback_host(listen_host), allow=names)

    def target(self, url: str) -> Target:
        """Where a POST to `url` goes: its host resolved once and, unless this policy trusts it,
        every address found checked. Refused (field notify_uri) says why not."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise Refused("notify_uri: only http and https URLs can be notified.", "notify_uri")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise Refused("notify_uri: the port is not a number from 0 to 65535.", "notify_uri") from None
        request_url = parts._replace(netloc=parts.netloc.rpartition("@")[2], fragment="").geturl()
        trusted = self.open or url in self.allow_urls or host in self.allow
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            if not trusted:
                raise Refused(f"notify_uri: the host {host} does not resolve.", "notify_uri") from None
            return Target(request_url, host, port, (), f"{type(exc).__name__}: {exc}", self.connect)
        if not trusted:
            for address in addresses:
                ip = reached(address)
                if not is_public(ip):
                    shown = address if str(ip) == address.split("%")[0] else f"{address}, which reaches {ip}"
                    raise Refused(
                        f"notify_uri: {host} is a private, loopback or link-local address ({shown}); this "
                        "sandbox listens beyond loopback, so it notifies only public hosts and those named "
                        "in SANDBOX_NOTIFY_ALLOW.",
                        "notify_uri",
                    )
        return Target(request_url, host, port, addresses, connect=self.connect)

    def _resolve(self, host: str, port: int) -> tuple[str, ...]:
        try:
            return (str(ipaddress.ip_address(host)),)  # a literal address: nothing to resolve
        except ValueError:
            pass
        addresses = tuple(self.resolver(host, port))
        if not addresses:
            raise OSError(f"no address for {host}")
        return addresses


class _Pinned:
    """An http.client connection that opens its socket to the target's addresses, not to a fresh
    resolution of its host name (which it keeps for the Host header and, over TLS, the server
    name and the certificate check)."""

    def __init__(self, host: str, *, target: Target, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)  # type: ignore[call-arg]
        # http.client's own seam for opening the socket: connect() (and TLS after it) stays http.client's
        self._create_connection = lambda _address, timeout, _source=None: target.open(timeout)


class _PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    pass


class _ToTarget(urllib.request.HTTPHandler):
    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target

    def http_open(self, req):
        return self.do_open(lambda host, **kw: _PinnedHTTPConnection(host, target=self.target, **kw), req)


class _ToTargetTLS(urllib.request.HTTPSHandler):
    def __init__(self, target: Target, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self.target, self.tls = target, context

    def https_open(self, req):
        return self.do_open(
            lambda host, **kw: _PinnedHTTPSConnection(host, target=self.target, **kw), req, context=self.tls
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is the answer; it is not followed
        return None


def post_notification(
    target: Target | str, body: bytes, timeout: float = NOTIFY_TIMEOUT, *, context: ssl.SSLContext | None = None
) -> NotifyResult:
    """POST a BatchList to a third party (Content-Type application/xml) at the addresses of
    `target` only (a URL: resolved once, any host allowed); never raises for the third party's
    failures. No proxy is used (the sandbox talks to the developer's own machine). `context`: the
    TLS settings (default: the system's trusted certificates, host name checked)."""
    start = time.perf_counter()

    def elapsed() -> int:
        return int(round((time.perf_counter() - start) * 1000))

    if isinstance(target, str):
        try:
            target = TargetPolicy().target(target)
        except Refused as exc:
            return NotifyResult(0, elapsed(), exc.message)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirect(), _ToTarget(target), _ToTargetTLS(target, context)
    )
    req = urllib.request.Request(
        target.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/xml", "Accept": "*/*", "User-Agent": "GreenButtonSandbox-Notifier"},
    )
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
