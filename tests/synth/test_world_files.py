"""seed_data/ is read, checked, and a broken file is reported by file, field and problem."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT

from sandbox.synth.world import SeedDataError, load_world, parse_world, read_seed_dir

SEED_DATA = ROOT / "seed_data"


def test_default_world_has_what_the_design_promises(world):
    zones = {u.time_zone for u in world.utilities}
    assert len(world.utilities) >= 3 and len(zones) == len(world.utilities)
    assert any(
        u.tz.utcoffset(__import__("datetime").datetime(2025, 1, 1))
        == u.tz.utcoffset(__import__("datetime").datetime(2025, 7, 1))
        for u in world.utilities
    ), "one utility without DST"
    assert any(u.electricity_interval == 900 for u in world.utilities)
    assert len({u.currency for u in world.utilities}) >= 2
    assert any(u.tariffs["electricity"].tiers for u in world.utilities)
    for u in world.utilities:
        assert "electricity" in u.commodities
        tou = u.tariffs["electricity"]
        assert len(tou.periods) >= 3 and len(tou.seasons) >= 2
    assert any("gas" in u.commodities for u in world.utilities)
    assert any("water" in u.commodities for u in world.utilities)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("time_zone", '"Mars/Olympus"', "time_zone"),
        ("currency", '"XYZ"', "currency"),
        ("electricity_interval", "600", "electricity_interval"),
        ("latitude", '"north"', "latitude"),
    ],
)
def test_bad_field_is_named_with_file(tmp_path, field, value, expected):
    src = tmp_path / "seed"
    shutil.copytree(SEED_DATA, src)
    path = src / "utilities" / "bayview.toml"
    lines = [f"{field} = {value}" if line.startswith(f"{field} =") else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert err.value.file.endswith("bayview.toml")
    assert err.value.field == expected
    assert str(err.value).startswith(str(path))


def test_missing_tariff_rate_names_the_nested_field(tmp_path):
    src = tmp_path / "seed"
    shutil.copytree(SEED_DATA, src)
    path = src / "utilities" / "lakeshore.toml"
    path.write_text(path.read_text().replace("mid_peak = 0.17, ", "", 1))
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert err.value.field == "tariff.electricity.seasons[0].rates"
    assert "mid_peak" in err.value.problem


def test_invalid_toml_names_the_file(tmp_path):
    src = tmp_path / "seed"
    shutil.copytree(SEED_DATA, src)
    (src / "world.toml").write_text("seed = = 4\n")
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert err.value.file.endswith("world.toml") and "not valid TOML" in err.value.problem


def test_parse_world_is_stable_and_fingerprints_content():
    files = read_seed_dir(SEED_DATA)
    a, b = parse_world(files), parse_world(dict(files))
    assert a.fingerprint == b.fingerprint
    changed = dict(files, **{"world.toml": files["world.toml"].replace("seed = 42", "seed = 43")})
    assert parse_world(changed).fingerprint != a.fingerprint and parse_world(changed).seed == 43
