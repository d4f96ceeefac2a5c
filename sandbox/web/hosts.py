"""Which `Host` a deployment answers to, and which forwarded headers it believes.

A request's `Host` is the caller's to choose, so nothing written for later or for someone else
(notifications, stored links) is ever built from it: those use `Sandbox.base_url()`, the configured
public URL or the listening address. A request's own answer may name its host, because only hosts
listed here get an answer at all (anything else is a 400). Behind a reverse
proxy, `X-Forwarded-*` headers are believed for exactly PROXY_HOPS proxies (Werkzeug's ProxyFix);
with none configured they are ignored.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted
from werkzeug.wrappers import Response

from sandbox.core.config import is_wildcard

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Loopback names are always answered: a request that reaches them comes from this machine.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def trusted_hosts(cfg: Mapping[str, Any]) -> list[str]:
    """The host names a deployment answers to: loopback, the listening host, the public URL's host
    and ALLOWED_HOSTS (comma-separated; a leading dot admits subdomains)."""
    names = list(LOOPBACK_HOSTS)
    host = str(cfg.get("HOST") or "")
    if host and not is_wildcard(host):
        names.append(host.strip("[]"))
    if cfg.get("PUBLIC_URL"):
        names.append(urlsplit(cfg["PUBLIC_URL"]).hostname or "")
    names += [h.strip() for h in str(cfg.get("ALLOWED_HOSTS") or "").split(",") if h.strip()]
    return list(dict.fromkeys(n for n in names if n))


class HostGuard:
    """WSGI middleware that answers 400 to a request whose Host is not a trusted one. Werkzeug's own
    check (Flask's TRUSTED_HOSTS) cannot list an IPv6 literal ("[::1]", which run.py prints when
    `localhost` has both addresses), so literals are compared as addresses and names by Werkzeug."""

    KEEP = 256  # verdicts kept (a flood of made-up hosts empties them rather than growing them)

    def __init__(self, app: WSGIApplication, names: list[str]):
        self.app = app
        self.names = [n for n in names if ":" not in n]
        self.addresses = {ipaddress.ip_address(n) for n in names if ":" in n}
        self._verdicts: dict[str, bool] = {}  # by Host header: the names never change, so neither does the verdict

    def trusted(self, host: str) -> bool:
        found = self._verdicts.get(host)
        if found is None:
            if len(self._verdicts) >= self.KEEP:
                self._verdicts = {}
            found = self._verdicts[host] = self._judged(host)
        return found

    def _judged(self, host: str) -> bool:
        if host.startswith("["):
            literal = host[1:].partition("]")[0]
            try:
                return ipaddress.ip_address(literal) in self.addresses
            except ValueError:
                return False
        return host_is_trusted(host, self.names)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host is None or self.trusted(host):  # no Host (HTTP/1.0): nothing of the caller's to believe
            return self.app(environ, start_response)
        body = {
            "error": "untrusted_host",
            "error_description": f"this sandbox does not answer to the host {host[:200]!r}: start it with "
            "--public-url (SANDBOX_PUBLIC_URL) naming the address its users reach, or "
            "list the name in SANDBOX_ALLOWED_HOSTS",
        }
        return Response(
            json.dumps(body), 400, mimetype="application/json", headers={"X-Sandbox-Reason": "untrusted_host"}
        )(environ, start_response)


def secure_wsgi(app: Flask, cfg: Mapping[str, Any]) -> None:
    """Answer only the trusted hosts, and believe forwarded headers for the configured proxy hops
    (applied first, so a forwarded host is checked like a Host header)."""
    if cfg.get("ALLOWED_HOSTS", "") != "*":
        app.wsgi_app = HostGuard(app.wsgi_app, trusted_hosts(cfg))  # type: ignore[method-assign]
    hops = int(cfg.get("PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
