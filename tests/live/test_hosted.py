"""A shared deployment as a hosting team runs it, outside containers: PostgreSQL (a throw-away
cluster), `run.py` with two granian workers behind nginx terminating TLS (a self-signed certificate),
and two developers' private sandboxes going through a whole Connect My Data journey at once over
https; then each sandbox's notification is delivered once."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
import requests
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox.testing.client import SandboxClient

from .server import LiveServer
from .third_party import ThirdParty
from .tokens import code_for, signed_in

pytestmark = [pytest.mark.live, pytest.mark.postgres]
KEY = "hosted-operator-key-0123456789abcdef"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tls(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def deployment(tmp_path, tls, postgres_url, monkeypatch):  # noqa: F811
    """(the deployment's https URL, its SandboxClient): nginx on a free port in front of run.py."""
    if not Path(NGINX).exists():
        pytest.fail("nginx not found: install Debian's nginx package (.ci/run does)", pytrace=False)
    cert, key = tls
    port = _free_port()
    public = f"https://127.0.0.1:{port}"
    env = {"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_QUOTA_REQUESTS_PER_MINUTE": "0"}
    args = ("--database", postgres_url, "--reset", "--customers", "1", "--workers", "2", "--no-demo-app")
    with LiveServer(*args, "--proxy-hops", "1", "--public-url", public, env=env) as server:
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{
      proxy_pass {server.url};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_buffering off;
    }}
  }}
}}
"""
        )
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
        try:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # requests (tokens.py) trusts the certificate
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # and so does urllib (SandboxClient)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{public}/healthz", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, (tmp_path / "nginx-error.log").read_text()
                    time.sleep(0.05)  # polling a proxy that is starting
            yield public, SandboxClient(public, KEY), server
        finally:
            nginx.terminate()
            nginx.wait(10)


def _with_referer(request, base: str):
    def sent(self, method, url, **kw):
        kw.setdefault("headers", {}).setdefault("Referer", f"{base}/")
        return request(self, method, url, **kw)

    return sent


def _journey(public: str, sandbox: SandboxClient, out: dict) -> None:
    """A customer's consent and the third party's token and data, through the proxy."""
    base = sandbox.url
    answer = code_for(base, "bayview", SCOPE, signed_in(base, "bayview"))
    secret = sandbox.made["demo"]["third_party"]["client_secret"]
    tokens = requests.post(
        f"{base}/dc/bayview/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": "http://127.0.0.1:9/callback",
        },
        auth=("demo-third-party", secret),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    t = tokens.json()
    assert t["resourceURI"].startswith(f"{base}/dc/bayview/")  # https, the proxy's address, the sandbox's prefix
    feed = requests.get(t["resourceURI"], headers={"Authorization": f"Bearer {t['access_token']}"}, timeout=60)
    assert feed.status_code == 200 and f'href="{base}/dc/bayview/'.encode() in feed.content
    out[sandbox.made["id"]] = t


def test_two_sandboxes_journeys_at_once_through_tls_then_one_delivery_each(deployment):
    public, operator, _ = deployment
    a, b = operator.create_sandbox(customers=1), operator.create_sandbox(customers=1)
    assert a.url.startswith(f"{public}/s/")
    done: dict = {}
    journeys = [threading.Thread(target=_journey, args=(public, s, done)) for s in (a, b)]
    # a browser names the page a form was on (Referer): under https the forms' CSRF check asks for it
    with mock.patch.object(requests.Session, "request", _with_referer(requests.Session.request, public)):
        for j in journeys:
            j.start()
        for j in journeys:
            j.join(120)
    assert set(done) == {a.made["id"], b.made["id"]}, "".join(deployment[2]._stderr_chunks)[-4000:]  # its log
    crossed = requests.get(
        done[a.made["id"]]["resourceURI"].replace(a.url, b.url),
        headers={"Authorization": f"Bearer {done[a.made['id']]['access_token']}"},
        timeout=30,
    )
    assert crossed.status_code == 401
    receivers = {s.made["id"]: ThirdParty() for s in (a, b)}
    try:
        for s in (a, b):
            s.set_notify_uri(receivers[s.made["id"]].url)
            s.advance(days=1)  # a day published in each: one BatchList each
        for s in (a, b):
            delivered = s.wait_for_notifications(1, client_id="demo-third-party", state="delivered", timeout=60)
            assert delivered
        for s in (a, b):
            bodies = [got["body"] for got in receivers[s.made["id"]].received]
            assert bodies and all(f"{s.url}/dc/".encode() in body for body in bodies)
            notes = s.notifications(client_id="demo-third-party", state="delivered")
            assert len(bodies) == sum(len(n["deliveries"]) for n in notes)  # each attempt once, across workers
    finally:
        for r in receivers.values():
            r.close()
