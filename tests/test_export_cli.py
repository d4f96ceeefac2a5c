"""The export command: a file is written whole or not at all, and bad options are named."""

from __future__ import annotations

import pytest

from sandbox.services import dmd

ARGS = ["export", "--utility", "bayview", "--customer", "demo", "--start", "2025-06-01", "--end", "2025-06-03"]


def test_export_writes_the_file_and_says_so(app, tmp_path):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "dmd.xml"
    result = app.test_cli_runner().invoke(args=ARGS + ["-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"<?xml") and out.read_bytes().endswith(b"</feed>\n")
    assert f"Wrote {out}" in result.output
    assert [p.name for p in out.parent.iterdir()] == ["dmd.xml"]


def test_a_failed_export_leaves_the_earlier_file_and_no_partial_one(app, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "dmd.xml"
    out.write_bytes(b"the earlier export")
    real = dmd.usage_document

    def breaks_midway(*args, **kwargs):
        chunks = real(*args, **kwargs)
        yield next(chunks)
        raise OSError("disk full")

    monkeypatch.setattr(dmd, "usage_document", breaks_midway)
    result = app.test_cli_runner().invoke(args=ARGS + ["-o", str(out)])
    assert result.exit_code != 0
    assert out.read_bytes() == b"the earlier export"
    assert [p.name for p in out.parent.iterdir()] == ["dmd.xml"]


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--usage-point", "zz"], "--usage-point"),
        (["-o", "/nonexistent-dir/x.xml"], "/nonexistent-dir/x.xml"),
    ],
)
def test_bad_options_are_named(app, extra, named):
    result = app.test_cli_runner().invoke(args=ARGS + extra)
    assert result.exit_code != 0 and named in result.output


def test_a_start_before_the_data_says_where_the_data_begins(app):
    args = ["export", "--utility", "bayview", "--customer", "demo", "--start", "1999-01-01", "--end", "2025-06-03"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2 and "data is available from" in result.output


@pytest.mark.parametrize(
    "dates",
    [
        ["--end", "0001-01-01"],
        ["--start", "0001-01-01", "--end", "9999-12-31"],
        ["--start", "9999-12-31"],
        ["--end", "9999-12-31"],
    ],
)
def test_the_calendars_edges_are_refused_naming_the_options(app, dates):
    result = app.test_cli_runner().invoke(args=["export", "--utility", "bayview", "--customer", "demo", *dates])
    assert result.exit_code == 2 and "--start/--end" in result.output, result.output
