"""Where a notification may go (issue 21, item 8): a notification URI's host is resolved once, the
addresses found are checked and they are the only ones connected to, so a name that answers a
public address first and loopback next (DNS rebinding) never reaches loopback; IPv6 forms that
wrap an IPv4 address are judged by that address; run.py's demo app is allowed by its exact URL.

Names are resolved by a resolver the tests give the TargetPolicy, and connections opened through
its connector: a stand-in for the one public address the tests use, a real socket otherwise, so
a loopback listener shows whether anything arrived."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import ipaddress
import re
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from live.third_party import ThirdParty
from sqlalchemy import select
from web.helpers import LoopbackListener, csrf, offered, sb_of, text

from sandbox import create_app
from sandbox.core.errors import Refused
from sandbox.core.models import Application, Notification
from sandbox.services.notifications import delivery, outbox
from sandbox.services.notifications.outbox import Schedule
from sandbox.services.notifications.posting import TargetPolicy, post_notification, reached, tcp_connect

PUBLIC = "93.184.216.34"  # a public address: the connector below stands in for the host there
CLOSED = TargetPolicy(open=False)  # listening beyond loopback
ADMIN_KEY = "targets-key"


class Network:
    """What the policy resolves and connects, recorded. `answers` gives a name's successive
    answers (the last one repeats); a connection to PUBLIC is refused by a stand-in, any other
    is a real one."""

    def __init__(self, **answers: list[list[str]]):
        self.answers = {name.replace("_", "."): list(seq) for name, seq in answers.items()}
        self.asked: list[str] = []
        self.connected: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        seq = self.answers[host]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def connect(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.connected.append(address[0])
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "refused by the test's stand-in for a public host")
        return tcp_connect(address, timeout)

    def policy(self, base: TargetPolicy = CLOSED) -> TargetPolicy:
        return dataclasses.replace(base, resolver=self.resolve, connect=self.connect)


def rebinding() -> Network:
    """rebind.test: a public address the first time it is asked, loopback every time after."""
    return Network(rebind_test=[[PUBLIC], ["127.0.0.1"]])


@pytest.fixture
def listener():
    found = LoopbackListener()
    yield found
    found.close()


# --- IPv6 forms of an IPv4 address ---------------------------------------------------------------

WRAPPED = [  # (form, what it wraps)
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64, the well-known prefix
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("::a01:203", "10.1.2.3"),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("2002:c0a8:101::1", "192.168.1.1"),
]


@pytest.mark.parametrize("form, inner", WRAPPED)
def test_each_ipv6_wrapping_is_judged_by_the_ipv4_address_it_reaches(form, inner):
    assert reached(form) == ipaddress.IPv4Address(inner)


@pytest.mark.parametrize("form", ["::1", "::", "2001:db8::1", "fe80::1%eth0", "2606:4700::1111"])
def test_plain_ipv6_addresses_stay_themselves(form):
    assert reached(form) == ipaddress.ip_address(form.split("%")[0])


@pytest.mark.parametrize("form, inner", WRAPPED)
def test_a_wrapped_private_address_is_refused_as_a_literal_and_as_an_answer(form, inner):
    net = Network(wrapped_example=[[form]])
    for url in (f"http://[{form}]:8080/notify", "http://wrapped.example/notify"):
        with pytest.raises(Refused) as exc:
            net.policy().target(url)
        assert exc.value.field == "notify_uri" and f"reaches {inner}" in exc.value.message, exc.value.message
    assert net.asked == ["wrapped.example"] and net.connected == []  # a literal is not resolved


@pytest.mark.parametrize("form", ["::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1"])
def test_a_wrapped_public_address_is_allowed(form):
    """The check is about where packets go, not about IPv6 forms as such."""
    (address,) = CLOSED.target(f"http://[{form}]/notify").addresses
    assert ipaddress.ip_address(address) == ipaddress.ip_address(form)


@pytest.mark.parametrize("address", ["224.0.0.1", "ff0e::1", "64:ff9b:1::7f00:1", "100.64.0.1", "0.0.0.0", "::"])
def test_multicast_reserved_and_unspecified_addresses_are_refused(address):
    with pytest.raises(Refused):
        Network(odd_example=[[address]]).policy().target("http://odd.example/")


def test_one_private_address_among_public_ones_refuses_the_name():
    with pytest.raises(Refused) as exc:
        Network(mixed_example=[[PUBLIC, "127.0.0.1"]]).policy().target("http://mixed.example/")
    assert "127.0.0.1" in exc.value.message


# --- one resolution --------------------------------------------------------------------------------


def test_a_rebinding_name_is_resolved_once_and_never_reaches_loopback(listener):
    net = rebinding()
    target = net.policy().target(f"http://rebind.test:{listener.port}/notify")
    assert target.addresses == (PUBLIC,)
    result = post_notification(target, b"<x/>", 2)
    assert result.status == 0 and "stand-in" in result.body
    assert net.asked == ["rebind.test"] and net.connected == [PUBLIC]
    assert not listener.arrived()
    # asked again, the name answers loopback, and that is refused before any connection
    with pytest.raises(Refused):
        net.policy().target(f"http://rebind.test:{listener.port}/notify")
    assert net.connected == [PUBLIC] and not listener.arrived()


def test_the_connection_goes_to_the_address_found_and_speaks_to_the_name():
    net = Network(notify_test=[["127.0.0.1"]])
    with ThirdParty() as tp:
        url = f"http://someone:secret@notify.test:{tp.httpd.server_port}/espi/1_1/Notification?x=1#part"
        result = post_notification(net.policy(TargetPolicy()).target(url), b"<x/>", 5)
        assert result.status == 200, result.body
        (got,) = tp.received
    assert got["path"] == "/espi/1_1/Notification?x=1"
    assert got["headers"]["Host"] == f"notify.test:{tp.httpd.server_port}"  # the user name and password are not sent
    assert "Authorization" not in got["headers"]
    assert net.asked == ["notify.test"] and net.connected == ["127.0.0.1"]


def test_on_loopback_a_name_that_does_not_resolve_is_a_failed_attempt_not_a_refusal():
    net = Network()
    target = net.policy(TargetPolicy()).target("http://nowhere.test/notify")
    result = post_notification(target, b"<x/>", 2)
    assert result.status == 0 and "no answer" in result.body and "nowhere.test" in result.body
    assert net.connected == []
    with pytest.raises(Refused, match="does not resolve"):  # beyond loopback it is refused
        net.policy().target("http://nowhere.test/notify")


def test_a_host_named_in_notify_allow_is_resolved_once_too(listener):
    net = Network(inside_test=[["127.0.0.1"], ["10.9.9.9"]])
    policy = net.policy(TargetPolicy(open=False, allow=frozenset({"inside.test"})))
    result = post_notification(policy.target(f"http://inside.test:{listener.port}/n"), b"<x/>", 2)
    assert net.asked == ["inside.test"] and net.connected == ["127.0.0.1"] and listener.arrived()
    assert result.status == 0  # the listener never answers HTTP; it was reached, which is what counts here


# --- the demo app: one exact URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/notifyx",
        "http://127.0.0.1:8081/notify/../admin",
        "http://127.0.0.1:8081/notify?next=1",
        "http://127.0.0.1:8081/notify/",
        "http://127.0.0.1:8082/notify",
    ],
)
def test_the_demo_apps_uri_is_allowed_exactly_and_nothing_it_prefixes(url):
    policy = TargetPolicy(open=False, allow_urls=frozenset({"http://127.0.0.1:8081/notify"}))
    assert policy.target("http://127.0.0.1:8081/notify").addresses == ("127.0.0.1",)
    with pytest.raises(Refused, match="loopback"):
        policy.target(url)


# --- https: the pinned address is verified by name ------------------------------------------------------


def _certificate(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


@pytest.fixture
def tls_receiver(tmp_path):
    """An https receiver on loopback whose certificate names notify.test; what TLS server names it was asked for."""
    cert, key = _certificate("notify.test")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_tls.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda request, address: None  # a client that refuses the certificate is expected
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port, ssl.create_default_context(cadata=cert.decode()), names
    httpd.shutdown()
    httpd.server_close()


def test_https_to_a_pinned_address_checks_the_certificate_against_the_name(tls_receiver):
    port, trusting, names = tls_receiver
    net = Network(notify_test=[["127.0.0.1"]], other_test=[["127.0.0.1"]])
    policy = net.policy(TargetPolicy())
    good = post_notification(policy.target(f"https://notify.test:{port}/n"), b"<x/>", 5, context=trusting)
    assert good.status == 204, good.body
    assert names == ["notify.test"]  # the TLS server name is the URI's host, not the address connected to
    wrong = post_notification(policy.target(f"https://other.test:{port}/n"), b"<x/>", 5, context=trusting)
    assert wrong.status == 0 and "certificate" in wrong.body.lower(), wrong.body  # not issued for other.test
    untrusted = post_notification(policy.target(f"https://notify.test:{port}/n"), b"<x/>", 5)
    assert untrusted.status == 0 and "certificate verify failed" in untrusted.body, untrusted.body
    assert net.connected == ["127.0.0.1"] * 3


# --- through the developer portal and the outbox ---------------------------------------------------------


@pytest.fixture
def beyond_loopback(tmp_path, clock):
    """An app listening on every interface (its notifications go to public hosts only)."""
    a = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'wide.db'}",
            "CUSTOMERS": 1,
            "TESTING": True,
            "HOST": "0.0.0.0",
            "ADMIN_KEY": ADMIN_KEY,
        },
        clock=clock,
    )
    yield a
    sb_of(a).db.engine.dispose()


def _with_network(app, net: Network) -> None:
    worker = app.extensions["notifications"]
    worker.policy = net.policy(worker.policy)


def _developer_app(app, notify_uri: str):
    """A signed-up developer's test client and the id of the application registered with `notify_uri`."""
    client = app.test_client()
    r = client.post(
        "/dc/bayview/developer/signup",
        data={
            "csrf_token": csrf(text(client.get("/dc/bayview/developer/"))),
            "name": "Ann",
            "email": "ann@example.com",
            "password": "correct horse",
        },
    )
    assert r.status_code == 303, text(r)[:300]
    r = client.post(
        "/dc/bayview/developer/apps/new",
        data={
            "csrf_token": csrf(text(client.get("/dc/bayview/developer/apps/new"))),
            "name": "Watt Watcher",
            "description": "",
            "contact_email": "ann@example.com",
            "redirect_uris": "https://ww.example.com/cb",
            "notify_uri": notify_uri,
            "scope_selection_uri": "",
            "client_uri": "",
            "logo_uri": "",
            "scopes": offered(sb_of(app).world)[:1],
        },
    )
    assert r.status_code == 201, text(r)[:500]
    return client, int(re.search(r"/developer/apps/(\d+)/notify-test", text(r)).group(1))


def _notify_test(client, app_id: int):
    page = text(client.get(f"/dc/bayview/developer/apps/{app_id}"))
    return client.post(f"/dc/bayview/developer/apps/{app_id}/notify-test", data={"csrf_token": csrf(page)})


def _last_check(app, app_id: int):
    with sb_of(app).db.sessions() as s:
        row = s.get(Application, app_id)
        return row.notify_check_status, row.notify_check_body


def test_the_portals_test_notification_to_a_rebinding_name_never_reaches_loopback(beyond_loopback, listener):
    net = rebinding()
    _with_network(beyond_loopback, net)
    client, app_id = _developer_app(beyond_loopback, f"http://rebind.test:{listener.port}/notify")
    r = _notify_test(client, app_id)
    assert r.status_code == 303
    page = text(client.get(r.headers["Location"]))
    assert "Test notification not delivered: no answer" in page and "stand-in" in page  # the public host's answer
    assert net.asked == ["rebind.test"] and net.connected == [PUBLIC] and not listener.arrived()
    status, body = _last_check(beyond_loopback, app_id)
    assert status == 0 and "stand-in" in body
    # the next test resolves anew, gets loopback and is refused: nothing is sent, nothing recorded
    r = _notify_test(client, app_id)
    assert r.status_code == 400 and "notify_uri" in text(r) and "127.0.0.1" in text(r)
    assert net.connected == [PUBLIC] and not listener.arrived()
    assert _last_check(beyond_loopback, app_id) == (status, body)


@pytest.mark.parametrize("form", [form for form, inner in WRAPPED if inner == "127.0.0.1"])
def test_the_portal_refuses_each_wrapped_loopback_form(beyond_loopback, listener, form):
    net = Network()
    _with_network(beyond_loopback, net)
    client, app_id = _developer_app(beyond_loopback, f"http://[{form}]:{listener.port}/notify")
    r = _notify_test(client, app_id)
    assert r.status_code == 400 and "notify_uri" in text(r) and "reaches 127.0.0.1" in text(r), text(r)[:800]
    assert net.asked == net.connected == [] and not listener.arrived()
    assert _last_check(beyond_loopback, app_id) == (None, None)


def test_the_outbox_delivers_to_the_address_checked(beyond_loopback, listener):
    """Each attempt resolves once: the first goes to the public answer, the next is refused for loopback."""
    net = rebinding()
    _with_network(beyond_loopback, net)
    sb = sb_of(beyond_loopback)
    client = beyond_loopback.test_client()
    key = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = client.put(
        "/sandbox-api/utilities/bayview/third-parties/demo-third-party/notify-uri",
        headers=key,
        json={"notify_uri": f"http://rebind.test:{listener.port}/notify"},
    )
    assert r.status_code == 200, r.get_json()
    r = client.post(
        "/sandbox-api/authorizations",
        headers=key,
        json={"utility": "bayview", "customer": "demo", "client_id": "demo-third-party", "scope": offered(sb.world)[0]},
    )
    assert r.status_code == 200, r.get_json()
    with sb.db.sessions() as s:
        (nid,) = s.scalars(select(Notification.id)).all()
    policy = beyond_loopback.extensions["notifications"].policy
    tries = []
    for hours in (0, 1):
        assert delivery.claim_due(sb.db, "w", outbox.real_now() + dt.timedelta(hours=hours)) == [nid]
        tries.append(delivery.attempt(sb.db, nid, "w", Schedule(), policy))
    assert [t.result.status for t in tries] == [0, 0]
    assert "stand-in" in tries[0].result.body and "loopback" in tries[1].result.body
    assert net.asked == ["rebind.test"] * 2 and net.connected == [PUBLIC] and not listener.arrived()
