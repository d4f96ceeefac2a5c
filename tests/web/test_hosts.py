"""web.hosts and the base URL: the hosts an app answers to, the proxy hops it believes, and where the
URLs it writes without a request come from (never a request's Host)."""

from __future__ import annotations

import pytest

from sandbox import create_app
from sandbox.core.config import ConfigError, load_config
from sandbox.core.state import Sandbox
from sandbox.web.hosts import HostGuard, trusted_hosts


def _app(tmp_path, clock, **config):
    return create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "CUSTOMERS": 1, "TESTING": True, **config}, clock=clock
    )


def test_loopback_the_listening_host_the_public_url_and_allowed_hosts_are_answered():
    names = trusted_hosts(
        {"HOST": "10.0.0.5", "PUBLIC_URL": "https://gb.example.org/", "ALLOWED_HOSTS": " a.test, .b.test"}
    )
    assert names == ["localhost", "127.0.0.1", "::1", "10.0.0.5", "gb.example.org", "a.test", ".b.test"]
    assert "0.0.0.0" not in trusted_hosts({"HOST": "0.0.0.0"})  # every interface names no host
    guard = HostGuard(lambda *a: [], names)
    for host in ("localhost", "127.0.0.1:8080", "[::1]", "[::1]:8080", "gb.example.org:443", "x.b.test", "a.test"):
        assert guard.trusted(host), host
    for host in ("attacker.invalid", "gb.example.org.evil", "[::2]", "[nonsense]", "a.test.evil", "b.test.evil", ""):
        assert not guard.trusted(host), host


def test_kept_verdicts_are_the_same_verdicts_and_a_flood_of_hosts_keeps_no_more_than_its_bound():
    guard = HostGuard(lambda *a: [], ["localhost", ".b.test"])
    for _ in range(2):  # judged, then kept
        assert guard.trusted("localhost:8080") and guard.trusted("x.b.test")
        assert not guard.trusted("attacker.invalid") and not guard.trusted("b.test.evil")
    for n in range(3 * HostGuard.KEEP):
        assert not guard.trusted(f"h{n}.invalid")
    assert len(guard._verdicts) <= HostGuard.KEEP
    assert guard.trusted("x.b.test") and not guard.trusted("attacker.invalid")


def test_an_unknown_host_gets_a_400_and_reaches_no_view(tmp_path, clock):
    app = _app(tmp_path, clock)
    c = app.test_client()
    r = c.get("/healthz", headers={"Host": "attacker.invalid"})
    assert r.status_code == 400 and r.json["error"] == "untrusted_host"
    assert r.headers["X-Sandbox-Reason"] == "untrusted_host"
    assert c.get("/healthz").status_code == 200  # the test client's localhost


def test_allowed_hosts_star_answers_any_host(tmp_path, clock):
    app = _app(tmp_path, clock, ALLOWED_HOSTS="*")
    assert app.test_client().get("/healthz", headers={"Host": "anything.test"}).status_code == 200


def test_forwarded_headers_count_only_for_configured_hops(tmp_path, clock):
    meta = "/dc/bayview/.well-known/oauth-authorization-server"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gb.example.org"}
    plain = _app(tmp_path, clock, ALLOWED_HOSTS="gb.example.org").test_client()
    assert plain.get(meta, headers=forwarded).json["issuer"].startswith("http://localhost/")
    proxied = _app(tmp_path, clock, ALLOWED_HOSTS="gb.example.org", PROXY_HOPS=1).test_client()
    assert proxied.get(meta, headers=forwarded).json["issuer"].startswith("https://gb.example.org/")


def test_the_base_url_never_comes_from_a_request(tmp_path, clock):
    app = _app(tmp_path, clock, ALLOWED_HOSTS="*")
    sb: Sandbox = app.extensions["sandbox"]
    app.test_client().get("/healthz", headers={"Host": "attacker.invalid"})
    assert sb.base_url() == "http://127.0.0.1:8080/"  # the configured host and port, nothing of the caller's
    sb.listen_url = "http://127.0.0.1:5000/"
    assert sb.base_url() == "http://127.0.0.1:5000/"
    sb.config["PUBLIC_URL"] = "https://gb.example.org/"
    assert sb.base_url() == "https://gb.example.org/"
    sb.config.update(PUBLIC_URL=None, HOST="::")
    sb.listen_url = None
    assert sb.base_url() == "http://127.0.0.1:8080/"  # every interface: loopback's address


@pytest.mark.parametrize(
    "value, words",
    [
        ("ftp://gb.example.org", "not an http"),
        ("gb.example.org", "not an http"),
        ("https://gb.example.org/?x=1", "query or fragment"),
        ("https://gb.example.org:99999/", "invalid port"),
    ],
)
def test_a_bad_public_url_is_refused_naming_the_setting(value, words):
    with pytest.raises(ConfigError) as refused:
        load_config({"PUBLIC_URL": value}, environ={})
    assert "SANDBOX_PUBLIC_URL" in str(refused.value) and words in str(refused.value)


def test_the_public_url_is_normalised_and_proxy_hops_bounded():
    assert (
        load_config({"PUBLIC_URL": "https://gb.example.org/sandbox//"}, environ={})["PUBLIC_URL"]
        == "https://gb.example.org/sandbox/"
    )
    with pytest.raises(ConfigError, match="SANDBOX_PROXY_HOPS"):
        load_config(environ={"SANDBOX_PROXY_HOPS": "11"})
