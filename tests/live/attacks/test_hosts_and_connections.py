"""Base URLs, hosts and connections (issue items 1 and 6) against the real run.py: a caller's `Host`
never becomes the base of what the sandbox writes, unknown hosts get a 400, forwarded headers count
only for configured proxy hops, idle and half-sent connections do not stop the server, and the
`slow` fault cannot take every request thread."""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from sandbox.testing.client import SandboxClient

from ..server import LiveServer
from ..third_party import ThirdParty

pytestmark = pytest.mark.live
KEY = "hosts-key"


def _get(url: str, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hosts")
    with LiveServer(
        "--database",
        str(folder / "world.db"),
        "--customers",
        "1",
        "--reset",
        "--threads",
        "4",
        env={"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_SLOW_FAULT_MAX": "2", "SANDBOX_IDLE_TIMEOUT": "2"},
    ) as s:
        yield s


def test_a_host_the_deployment_does_not_answer_to_gets_a_400_naming_it(server):
    status, _, body = _get(server.url, "/healthz", {"Host": "attacker.invalid"})
    assert status == 400
    answer = json.loads(body)
    assert answer["error"] == "untrusted_host" and "attacker.invalid" in answer["error_description"]
    assert "--public-url" in answer["error_description"]
    for name in ("localhost", "127.0.0.1", "[::1]"):  # loopback names are answered, with or without a port
        port = urlsplit(server.url).port
        assert _get(server.url, "/healthz", {"Host": f"{name}:{port}"})[0] == 200
        assert _get(server.url, "/healthz", {"Host": name})[0] == 200


def test_the_demo_app_answers_only_the_deployments_hosts(server):
    assert server.demo_url
    assert _get(server.demo_url, "/healthz", {"Host": "attacker.invalid"})[0] == 400
    assert _get(server.demo_url, "/healthz")[0] == 200


def test_forwarded_headers_are_ignored_without_configured_proxy_hops(server):
    status, _, body = _get(
        server.url,
        "/dc/bayview/.well-known/oauth-authorization-server",
        {"X-Forwarded-Host": "attacker.invalid", "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/evil"},
    )
    assert status == 200
    issuer = json.loads(body)["issuer"]
    assert issuer.startswith(server.url) and "attacker" not in body.decode() and "/evil" not in body.decode()


def _notified(server: LiveServer, receiver: ThirdParty) -> str:
    """The bodies POSTed to `receiver` once a day is published for a new authorization at bayview."""
    c = SandboxClient(server.url, KEY)
    c.set_notify_uri(receiver.url)
    c.freeze()
    c.authorize("demo")
    c.advance(days=1)
    receiver.wait_for(1)
    return b"".join(p["body"] for p in receiver.received).decode()


def test_notifications_never_name_the_host_of_a_caller(tmp_path):
    """Even a deployment that answers every host (ALLOWED_HOSTS=*) builds notifications from its own
    address: the first request's Host used to become the base of every BatchList a process wrote."""
    with (
        ThirdParty() as receiver,
        LiveServer(
            "--database",
            str(tmp_path / "world.db"),
            "--customers",
            "1",
            "--reset",
            "--no-demo-app",
            env={"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_ALLOWED_HOSTS": "*"},
        ) as s,
    ):
        assert _get(s.url, "/healthz", {"Host": "attacker.invalid"})[0] == 200  # the first request of the process
        bodies = _notified(s, receiver)
        assert "attacker.invalid" not in bodies
        assert f"{s.url}/dc/bayview/espi/1_1/resource/" in bodies


def test_the_public_url_is_the_base_of_notifications_and_a_host_answered(tmp_path):
    public = "https://gb.example.org/sandbox"
    with (
        ThirdParty() as receiver,
        LiveServer(
            "--database",
            str(tmp_path / "world.db"),
            "--customers",
            "1",
            "--reset",
            "--no-demo-app",
            "--public-url",
            public,
            env={"SANDBOX_ADMIN_KEY": KEY},
        ) as s,
    ):
        assert _get(s.url, "/healthz", {"Host": "gb.example.org"})[0] == 200
        bodies = _notified(s, receiver)
        assert f"{public}/dc/bayview/espi/1_1/resource/Batch/Subscription/" in bodies
        assert s.url not in bodies


def test_forwarded_headers_are_believed_for_the_configured_hops_only(tmp_path):
    with LiveServer(
        "--database",
        str(tmp_path / "world.db"),
        "--customers",
        "1",
        "--reset",
        "--no-demo-app",
        "--proxy-hops",
        "1",
        "--public-url",
        "https://gb.example.org",
        env={"SANDBOX_ADMIN_KEY": KEY},
    ) as s:
        meta = "/dc/bayview/.well-known/oauth-authorization-server"
        status, _, body = _get(
            s.url,
            meta,
            {"X-Forwarded-Host": "gb.example.org", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        )
        assert status == 200 and json.loads(body)["issuer"].startswith("https://gb.example.org/dc/bayview")
        # a forwarded host the deployment does not answer to is refused like a Host header
        assert _get(s.url, meta, {"X-Forwarded-Host": "attacker.invalid"})[0] == 400
        # two hops claimed where one is configured: only the nearest proxy's value counts
        status, _, body = _get(
            s.url, meta, {"X-Forwarded-Host": "attacker.invalid, gb.example.org", "X-Forwarded-Proto": "https"}
        )
        assert status == 200 and "attacker" not in body.decode()


def test_a_bad_public_url_stops_start_up_naming_the_flag(tmp_path):
    s = LiveServer(
        "--database",
        str(tmp_path / "world.db"),
        "--customers",
        "1",
        "--reset",
        "--no-demo-app",
        "--public-url",
        "ftp://gb.example.org",
        timeout=60,
    )
    with pytest.raises(RuntimeError) as failed:
        s.start()
    assert "--public-url" in str(failed.value) and "ftp://gb.example.org" in str(failed.value)


def _open_idle(url: str, count: int, half_sent: bool) -> list[socket.socket]:
    parts = urlsplit(url)
    socks = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        if half_sent:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")  # never finished
        socks.append(sock)
    return socks


def test_hundreds_of_idle_and_half_sent_connections_do_not_block_healthz(server):
    socks = []
    try:
        for url in (server.url, server.demo_url):
            socks += _open_idle(url, 200, half_sent=False) + _open_idle(url, 100, half_sent=True)
        for url in (server.url, server.demo_url):
            t0 = time.monotonic()
            status, _, _ = _get(url, "/healthz", timeout=10)
            assert status == 200 and time.monotonic() - t0 < 5
    finally:
        for sock in socks:
            sock.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(server):
    """SANDBOX_IDLE_TIMEOUT=2 here: the server closes the socket, which the blocked recv() sees as EOF."""
    (sock,) = _open_idle(server.url, 1, half_sent=True)
    sock.settimeout(30)
    t0 = time.monotonic()
    try:
        assert sock.recv(1024) == b""
    finally:
        sock.close()
    assert 1.5 <= time.monotonic() - t0 < 20


def test_the_slow_fault_is_capped_in_length_and_in_calls_at_once(server):
    """--threads 4: the slow fault may hold two calls at once, each at most SLOW_FAULT_MAX (2 s here) however
    long it asks for; the rest are told at once (503, Retry-After) and /healthz answers meanwhile."""
    c = SandboxClient(server.url, KEY)
    tokens = c.authorize("demo")
    uri = tokens["resourceURI"]

    def slow_call(_):
        t0 = time.monotonic()
        status, headers, _ = _get(
            server.url,
            urlsplit(uri).path,
            {"Authorization": f"Bearer {tokens['access_token']}", "X-Sandbox-Fault": "slow:30"},
            timeout=60,
        )
        return status, headers, time.monotonic() - t0

    with ThreadPoolExecutor(8) as pool:
        calls = [pool.submit(slow_call, i) for i in range(8)]
        t0 = time.monotonic()
        assert _get(server.url, "/healthz", timeout=10)[0] == 200
        healthz = time.monotonic() - t0
        answers = [f.result() for f in calls]
    assert healthz < 1.5
    delayed = [a for a in answers if a[0] == 200]
    busy = [a for a in answers if a[0] == 503]
    assert len(delayed) + len(busy) == 8 and 1 <= len(delayed) <= 2 * 2  # two at a time, at most two rounds
    assert all(2 <= took < 10 for _, _, took in delayed)  # capped at 2 s, not the 30 asked for
    assert busy and all(h["x-sandbox-reason"] == "fault:slow-busy" and int(h["retry-after"]) >= 1 for _, h, _ in busy)
