"""Private sandboxes through the real run.py (granian, two worker processes over one SQLite file): made
by the control API, used through whichever worker a connection reaches, isolated, and deleted for every
worker at once."""

from __future__ import annotations

import pytest

from sandbox.testing.client import ControlRefused, SandboxClient

from .server import LiveServer

pytestmark = pytest.mark.live
KEY = "private-sandboxes-operator-key"
SCOPE = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("private") / "world.db")
    with LiveServer(
        "--database", db, "--customers", "1", "--reset", "--workers", "2", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as s:
        yield SandboxClient(s.url, KEY)


def test_two_sandboxes_serve_their_own_data_through_every_worker(deployment):
    a = deployment.create_sandbox(label="a", customers=1)
    b = deployment.create_sandbox(label="b", customers=1)
    assert a.url.endswith(f"/s/{a.made['id']}") and a.url.startswith(deployment.url)
    tokens_a, tokens_b = a.authorize("demo", SCOPE), b.authorize("demo", SCOPE)
    assert tokens_a["resourceURI"].startswith(a.url + "/dc/bayview/")
    for _ in range(6):  # new connections each time: both workers answer some
        assert a.get(tokens_a["resourceURI"], tokens_a).status == 200
        assert b.get(tokens_b["resourceURI"], tokens_b).status == 200
        crossed = b.get(tokens_a["resourceURI"].replace(a.url, b.url), tokens_a)
        assert crossed.status == 401 and b"<feed" not in crossed.body
    a.advance(days=2)
    assert b.clock()["offset_seconds"] == 0 and deployment.clock()["offset_seconds"] == 0
    with pytest.raises(ControlRefused) as refused:
        SandboxClient(b.url, a.admin_key).clock()  # a neighbour's admin key
    assert refused.value.status == 401


def test_a_sandbox_deleted_through_one_worker_is_gone_for_every_worker(deployment):
    c = deployment.create_sandbox(customers=0)
    for _ in range(4):
        assert c.request("GET", "/healthz").status == 200
    deployment.delete_sandbox(c)
    for _ in range(6):  # whichever worker answers, it knows at once
        gone = c.request("GET", "/healthz")
        assert gone.status == 404 and gone.headers["X-Sandbox-Reason"] == "no_such_sandbox"
