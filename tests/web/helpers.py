"""Helpers the Flask test-client tests share: the app's services, page text and CSRF tokens,
the scopes a utility offers, and certificates and URLs for the developer-portal tests.

Import as `web.helpers` (tests/ is on sys.path), so that tests/browser gets the same module."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading

from conftest import ADMIN_KEY, FIXED_NOW
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from sandbox.core.models import Application, Authorization
from sandbox.espi.scopes import standard_scopes

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def sb_of(app):
    return app.extensions["sandbox"]


def text(resp) -> str:
    return resp.get_data(as_text=True)


def csrf(html: str) -> str:
    """The first CSRF token in a page."""
    return TOKEN.search(html).group(1)


def token_from(default_path: str):
    """A `token(client, path=default_path)` that fetches a page and returns its CSRF token."""

    def token(client, path: str = default_path) -> str:
        return csrf(text(client.get(path)))

    return token


def offered(world, slug: str = "bayview") -> list[str]:
    """The standard scopes the utility offers."""
    u = world.utility(slug)
    return standard_scopes(u.commodities, u.electricity_interval)


def app_count(app) -> int:
    """Third-party applications (each utility also has its own upload and admin clients)."""
    with sb_of(app).db.sessions() as s:
        return s.scalar(select(func.count(Application.id)).where(Application.role == "third_party"))


def make_certificate(
    cn: str = "app.example.com", not_before: dt.datetime | None = None, not_after: dt.datetime | None = None
) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a self-signed certificate; times are aware UTC."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test TP")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or FIXED_NOW - dt.timedelta(days=30))
        .not_valid_after(not_after or FIXED_NOW + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def sha256_fingerprint(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex(":").upper()


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/notify"


def overlapping(fn, n: int = 2) -> list:
    """fn(i) in n threads (i = 0 .. n-1) released together by a barrier, so that the calls really
    overlap; their results in thread order (an exception in a thread is raised here)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001  (raised below)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a request did not finish"
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def utility_count(app) -> int:
    """The seeded utilities (each has one demo third party)."""
    return len(sb_of(app).require_world().utilities)


def kept_secret(app, secret: str) -> str:
    """What the database should keep of a client secret or a registration access token: HMAC-SHA256 under
    the world's digest key (computed here, not by the code under test)."""
    import hashlib
    import hmac

    from sandbox.core.models import WorldState

    with sb_of(app).db.sessions() as s:
        key = s.get(WorldState, 1).digest_key
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


class LoopbackListener:
    """A real socket listening on loopback; `arrived()` says whether a connection came (the kernel
    queues a connection as soon as it is made, so asking after the call under test is enough)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def arrived(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


def demo_consent(client, admin_key: str, scope: str) -> dict:
    """The demo customer's consent to the demo third party at bayview, made through the control API:
    the token response (access_token, resourceURI, subscription_id...)."""
    r = client.post(
        "/sandbox-api/authorizations",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": scope},
    )
    assert r.status_code == 200, r.data[:300]
    return r.get_json()


def demo_grant(app, slug: str = "bayview", admin_key: str = ADMIN_KEY):
    """The demo customer's consent to the demo third party at `slug` (its first offered scope, every
    usage point), made through the control API as the token endpoint makes it: the Authorization row.
    The world seeds no grant."""
    sb = sb_of(app)
    r = app.test_client().post(
        "/sandbox-api/authorizations",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={
            "utility": slug,
            "customer": "demo",
            "client_id": "demo-third-party",
            "scope": offered(sb.world, slug)[0],
        },
    )
    assert r.status_code == 200, r.data[:300]
    with sb.db.sessions() as s:
        return s.scalars(select(Authorization).where(Authorization.uuid == r.get_json()["authorization_id"])).one()
