"""Importing Green Button files (the samples from the field, and hostile ones), and exporting them again."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from sqlalchemy import func, select

from sandbox.core.models import Customer, ImportedReading, UsagePoint
from sandbox.services.dmd import ImportRefused, import_green_button, usage_document

from .checks import ATOM, ESPI, SAMPLES, check_feed, espi_schema, links, parse


def _sample_files():
    schema = espi_schema()
    out = []
    for path in sorted(SAMPLES.glob("*.xml")):
        root = parse(path.read_bytes())
        usage = root.tag == ATOM + "feed" and root.find(f".//{ESPI}UsagePoint") is not None
        out.append((path, schema.validate(root) and usage))
    return out


SAMPLE_FILES = _sample_files()


def _readings_by_stream(root) -> list[list[tuple]]:
    """Per MeterReading (in document order), its (start, duration, value) sorted by start."""
    entries = root.findall(ATOM + "entry")
    mrs = [e for e in entries if e.find(f"{ATOM}content/{ESPI}MeterReading") is not None]
    out = []
    for mr in mrs:
        mr_self = links(mr, "self")[0].split("//")[-1].split("/", 1)[-1]
        rows = []
        for e in entries:
            block = e.find(f"{ATOM}content/{ESPI}IntervalBlock")
            if block is None:
                continue
            up = links(e, "up")[0].split("//")[-1].split("/", 1)[-1]
            if up.rstrip("/").endswith(mr_self.strip("/") + "/IntervalBlock") or up == mr_self + "/IntervalBlock":
                for r in block.findall(ESPI + "IntervalReading"):
                    rows.append(
                        (
                            int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")),
                            int(r.findtext(f"{ESPI}timePeriod/{ESPI}duration")),
                            int(r.findtext(ESPI + "value")),
                        )
                    )
        out.append(sorted(rows))
    return out


def _counts(sb):
    with sb.db.sessions() as s:
        return s.scalar(select(func.count(UsagePoint.id))), s.scalar(select(func.count(ImportedReading.id)))


def _customer(sb, username="demo", slug="bayview"):
    with sb.db.sessions() as s:
        c = s.scalars(
            select(Customer).where(Customer.username == username).where(Customer.utility.has(slug=slug))
        ).one()
        return c.id


def _import(sb, customer_id, data):
    with sb.db.sessions() as s:
        return import_green_button(sb, s.get(Customer, customer_id), data)


def _export(sb, customer_id, start, end, ups=None) -> bytes:
    return b"".join(usage_document(sb, customer_id, ups, start, end, True, "http://sandbox.test"))


@pytest.mark.parametrize("path", [p for p, ok in SAMPLE_FILES if ok], ids=lambda p: p.name)
def test_valid_samples_import_and_export_the_same_readings(app, path):
    sb = app.extensions["sandbox"]
    cid = _customer(sb)
    original = parse(path.read_bytes())
    summary = _import(sb, cid, path.read_bytes())
    assert summary.usage_points == len(original.findall(f".//{ESPI}UsagePoint"))
    with sb.db.sessions() as s:
        imported = [up.id for up in s.get(Customer, cid).usage_points if up.imported]
    exported = parse(_export(sb, cid, dt.date(2000, 1, 1), dt.date(2025, 7, 1), imported))
    check_feed(exported)
    assert _readings_by_stream(exported) == _readings_by_stream(original)


@pytest.mark.parametrize("path", [p for p, ok in SAMPLE_FILES if not ok], ids=lambda p: p.name)
def test_samples_that_are_not_valid_usage_feeds_are_refused(app, path):
    sb = app.extensions["sandbox"]
    before = _counts(sb)
    with pytest.raises(ImportRefused) as err:
        _import(sb, _customer(sb), path.read_bytes())
    assert "not valid" in str(err.value) or "not an Atom feed" in str(err.value)
    assert _counts(sb) == before


HOSTILE = {
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>&lol3;</title></feed>",
        "DTD",
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&xxe;</title></feed>',
        "DTD",
    ),
    "truncated": (None, "not well-formed"),
    "not xml": (b"\x89PNG\r\n\x1a\n binary", "not well-formed"),
    "empty": (b"   ", "empty"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_are_refused_and_store_nothing(app, name):
    sb = app.extensions["sandbox"]
    data, expected = HOSTILE[name]
    if data is None:
        data = (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes()[:-400]
    before = _counts(sb)
    with pytest.raises(ImportRefused) as err:
        _import(sb, _customer(sb), data)
    assert expected in str(err.value)
    assert _counts(sb) == before


def test_oversize_file_is_refused_before_reading(app, monkeypatch):
    import sandbox.services.dmd as dmd

    monkeypatch.setattr(dmd, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(ImportRefused, match="at most 1,000"):
        _import(
            app.extensions["sandbox"],
            _customer(app.extensions["sandbox"]),
            (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes(),
        )


def test_cli_refuses_a_2_gb_file_without_reading_it(tmp_path):
    big = tmp_path / "huge.xml"
    with open(big, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: claims 2 GB, occupies nothing
    env = {**os.environ, "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "SANDBOX_CUSTOMERS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "sandbox",
            "import",
            str(big),
            "--utility",
            "bayview",
            "--customer",
            "demo",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "2,147,483,648 bytes" in proc.stderr and "Nothing was stored" in proc.stderr


def test_export_import_export_round_trip_keeps_readings_and_costs(app):
    sb = app.extensions["sandbox"]
    demo = _customer(sb, "demo", "lakeshore")
    with sb.db.sessions() as s:
        other = (
            s.scalars(select(Customer).where(Customer.username != "demo").where(Customer.utility.has(slug="lakeshore")))
            .first()
            .id
        )
    first = _export(sb, demo, dt.date(2025, 3, 1), dt.date(2025, 3, 15))
    _import(sb, other, first)
    with sb.db.sessions() as s:
        imported = [up.id for up in s.get(Customer, other).usage_points if up.imported]
    again = parse(_export(sb, other, dt.date(2025, 3, 1), dt.date(2025, 3, 15), imported))
    check_feed(again)
    one = parse(first)
    assert _readings_by_stream(again) == _readings_by_stream(one)
    costs = sum(int(r.findtext(ESPI + "cost")) for r in one.iter(ESPI + "IntervalReading"))
    assert sum(int(c.text) for c in again.iter(ESPI + "cost")) == costs
    # importing the same file again updates instead of adding usage points
    before = _counts(sb)
    again_summary = _import(sb, other, _export(sb, other, dt.date(2025, 3, 1), dt.date(2025, 3, 15), imported))
    assert again_summary.replaced == len(imported) and _counts(sb) == before


def test_thirteen_month_export_is_byte_identical_across_processes(tmp_path):
    env = {**os.environ, "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "SANDBOX_CUSTOMERS": "1"}
    outputs = []
    for n in range(2):
        out = tmp_path / f"export{n}.xml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "sandbox",
                "export",
                "--utility",
                "bayview",
                "--customer",
                "demo",
                "--start",
                "2024-06-01",
                "--end",
                "2025-07-01",
                "-o",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    root = parse(outputs[0])
    by_kind = check_feed(root)
    # electricity delivered and received, and gas: a block a day, but for a day whose only reading is missing
    assert 3 * 395 - 3 <= len(by_kind["IntervalBlock"]) <= 3 * 395
    assert len(by_kind["UsageSummary"]) == 2 * 13  # electricity and gas, 13 whole months
