"""Resets under load and hostile uploads (issue item 10) against real run.py processes: requests that
arrive while the world is rebuilt wait or get 503 with Retry-After, never a 500; two processes'
resets take turns in the database; memory goes back to where it was after hostile uploads."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from test_postgres import postgres_url  # noqa: F401  (the session's throw-away cluster)

from sandbox.testing.client import ControlRefused, SandboxClient

from ..server import LiveServer

pytestmark = pytest.mark.live
KEY = "resets-key"


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _hammer(urls: list[str], stop: threading.Event, headers: dict[str, str]) -> list[tuple[int, str]]:
    """GET the URLs round and round until `stop`; every answer's status and Retry-After."""
    seen = []
    with requests.Session() as http:
        while not stop.is_set():
            for url in urls:
                r = http.get(url, headers=headers, timeout=60)
                seen.append((r.status_code, r.headers.get("Retry-After", "")))
    return seen


def _resets_under_load(servers: list[LiveServer], resets_each: int) -> list[tuple[int, str]]:
    """Each server reset `resets_each` times (all servers at once) while four threads read from each."""
    tokens = SandboxClient(servers[0].url, KEY).authorize("demo")
    stop = threading.Event()
    with ThreadPoolExecutor(4 * len(servers) + len(servers)) as pool:
        readers = [
            pool.submit(
                _hammer,
                [
                    f"{s.url}/healthz",
                    f"{s.url}/dc/bayview/",
                    f"{s.url}/sandbox-api/clock",
                    tokens["resourceURI"].replace(servers[0].url, s.url),
                ],
                stop,
                {"Authorization": f"Bearer {tokens['access_token']}"},
            )
            for s in servers
            for _ in range(4)
        ]
        resetters = [
            pool.submit(lambda s=s: [_reset(SandboxClient(s.url, KEY)) for _ in range(resets_each)]) for s in servers
        ]
        try:
            for r in resetters:
                r.result()  # a reset that failed raises here
        finally:
            stop.set()
        return [answer for r in readers for answer in r.result()]


def _reset(c: SandboxClient, attempts: int = 20) -> None:
    """A reset, asked again as a 503's Retry-After says while another worker's reset holds the world."""
    for _ in range(attempts - 1):
        try:
            c.reset()
            return
        except ControlRefused as refused:
            if refused.status != 503:
                raise
            time.sleep(1)  # the Retry-After the 503 gives
    c.reset()


def _no_server_errors(answers: list[tuple[int, str]]) -> None:
    assert answers
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 401, 403, 503}, statuses  # the token dies with the world: 401 after a reset
    assert all(retry for status, retry in answers if status == 503)


def test_requests_during_resets_wait_or_get_503_never_500(tmp_path):
    with LiveServer(
        "--database",
        str(tmp_path / "world.db"),
        "--customers",
        "2",
        "--reset",
        "--no-demo-app",
        env={"SANDBOX_ADMIN_KEY": KEY},
    ) as s:
        # run.py's workers are processes; a reset is one transaction, so none sees a world half made
        _no_server_errors(_resets_under_load([s], resets_each=3))
        assert SandboxClient(s.url, KEY).authorize("demo")["access_token"]  # the world works after them


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_resets_from_two_processes_take_turns(tmp_path, request, store):
    db = str(tmp_path / "world.db") if store == "sqlite" else request.getfixturevalue("postgres_url")
    with (
        LiveServer(
            "--database", db, "--customers", "2", "--reset", "--no-demo-app", env={"SANDBOX_ADMIN_KEY": KEY}
        ) as a,
        LiveServer("--database", db, "--no-demo-app", env={"SANDBOX_ADMIN_KEY": KEY}) as b,
    ):
        # a reset is one transaction: the other process sees the old world or the new one, never a 500
        _no_server_errors(_resets_under_load([a, b], resets_each=2))
        for s in (a, b):  # one whole world afterwards, whoever reset last: its demo customer's consent works
            c = SandboxClient(s.url, KEY)
            assert c.authorize("demo", utility="bayview")["access_token"]
            assert c.authorize("demo", utility="lakeshore")["access_token"]


def test_memory_goes_back_after_hostile_uploads(tmp_path):
    """The demo app (in run.py's process) parses what a visitor uploads: a file of a million small elements
    makes a tree many times its size, which used to stay with the process after the answer."""
    with LiveServer(
        "--database", str(tmp_path / "world.db"), "--customers", "1", "--reset", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as s:
        assert s.proc and s.demo_url
        with requests.Session() as http:
            form = http.get(f"{s.demo_url}/upload", timeout=30).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)

            def upload(body: bytes):
                return http.post(
                    f"{s.demo_url}/upload",
                    data={"csrf_token": token},
                    files={"file": ("hostile.xml", body, "text/xml")},
                    timeout=120,
                )

            upload(b"<feed/>")  # the first upload's one-off costs (imports, templates) before the baseline
            before = _rss_mb(s.proc.pid)
            big = b"<x>" + b"<a>1</a>" * 1_900_000 + b"</x>"  # under the element limit: parsed, then refused
            for _ in range(3):
                r = upload(big)
                assert r.status_code == 400 and "not an Atom feed" in r.text
            assert _rss_mb(s.proc.pid) < before + 80
            tiny = b"<x>" + b"<a/>" * 8_000_000 + b"</x>"  # past it: refused before any tree is made
            r = upload(tiny)
            assert r.status_code == 400 and "elements" in r.text
            assert _rss_mb(s.proc.pid) < before + 80
