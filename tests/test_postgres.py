"""The same world on PostgreSQL: a throw-away cluster (Debian's postgresql package) per test session."""

from __future__ import annotations

import base64
import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest
from espi.checks import SAMPLES, check_feed, parse
from sqlalchemy import func, select

from sandbox import create_app
from sandbox.core.models import Customer, UsagePoint
from sandbox.services.dmd import import_green_button, usage_document

pytestmark = pytest.mark.postgres


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        # an error, not a skip: CI installs postgresql, so a missing server is a broken machine, not a choice
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install Debian's "
            "postgresql package (.ci/run does), or deselect these tests with -m 'not postgres'",
            pytrace=False,
        )
    return os.path.dirname(found[-1])


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="session")
def postgres_url():
    bindir = _pg_bin()
    tmp = tempfile.mkdtemp(prefix="sandbox-pg-")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
    data = os.path.join(tmp, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        _as_postgres([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"]), check=True, capture_output=True
    )
    subprocess.run(
        _as_postgres(
            [
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-w",
                "-l",
                os.path.join(tmp, "log"),
                "-o",
                f"-p {port} -k {tmp} -c listen_addresses=''",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres([f"{bindir}/createdb", "-h", tmp, "-p", str(port), "sandbox"]), check=True, capture_output=True
        )
        yield f"postgresql+psycopg://postgres@/sandbox?host={tmp}&port={port}"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_world_on_postgresql(postgres_url, clock):
    app = create_app({"DATABASE_URL": postgres_url, "CUSTOMERS": 2, "RESET": True}, clock=clock)
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        generated = select(func.count(Customer.id)).where(Customer.number >= 0)  # the named identities aside
        assert s.scalar(generated) == len(sb.require_world().utilities) * (2 + 1)
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        demo_id, ups_before = demo.id, s.scalar(select(func.count(UsagePoint.id)))
    # a usage feed from the PostgreSQL world, then a real file imported into it
    root = parse(
        b"".join(
            usage_document(sb, demo_id, None, dt.date(2025, 6, 1), dt.date(2025, 6, 8), True, "http://sandbox.test")
        )
    )
    assert len(check_feed(root)["IntervalBlock"]) >= 14
    with sb.db.sessions() as s:
        summary = import_green_button(sb, s.get(Customer, demo_id), (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes())
    assert summary.readings == 13
    with sb.db.sessions() as s:
        assert s.scalar(select(func.count(UsagePoint.id))) == ups_before + 1
    # ids given explicitly while seeding: the sequence moved past them, so new rows get new ids
    client = app.test_client()
    basic = "Basic " + base64.b64encode(b"demo-third-party:demo-secret").decode()
    r = client.post(
        "/dc/prairie/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
    )
    assert r.status_code == 200 and r.json["resourceURI"].endswith("/Batch/Bulk/demo-third-party")
    assert client.get("/utilities?postal_code=S7K 1A1").json["utilities"][0]["slug"] == "prairie"
    sb.db.engine.dispose()
