"""seed_data/profiles/: one behaviour profile per file, every knob documented in docs/profiles-and-faults.md, and a
broken file reported by file, key and problem (a typo never behaves as the standard profile)."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT

from sandbox.core.profile import KNOBS, Behaviour
from sandbox.synth.world import SeedDataError, load_world

SEED_DATA = ROOT / "seed_data"
README = (ROOT / "docs" / "profiles-and-faults.md").read_text()


def test_standard_file_spells_out_the_defaults():
    world = load_world(SEED_DATA)
    assert world.profiles["standard"] == Behaviour(name="standard", description=world.profiles["standard"].description)
    text = (SEED_DATA / "profiles" / "standard.toml").read_text()
    for k in KNOBS:
        assert f"[{k.table}]" in text and f"\n{k.key} = " in text, k.name


def test_every_knob_and_every_shipped_profile_is_in_the_readme():
    for k in KNOBS:
        assert f"| `[{k.table}] {k.key}` |" in README, k.name
    for path in sorted((SEED_DATA / "profiles").glob("*.toml")):
        assert f"| `{path.stem}` |" in README, path.name


def test_each_utility_names_its_profile():
    world = load_world(SEED_DATA)
    assert {u.slug: u.profile.behaviour.name for u in world.utilities} == {
        "bayview": "standard",
        "harbour": "standard",
        "lakeshore": "rfc9700",
        "prairie": "lenient",
        "trillium": "ontario",
    }
    trillium = world.utility("trillium")
    assert trillium.time_zone == "America/Toronto" and trillium.currency == "CAD"
    assert set(trillium.commodities) == {"electricity", "gas"}
    assert trillium.profile.behaviour.xml_version == "3.3" and trillium.profile.behaviour.scope_grammar == "fb-only"
    assert not trillium.profile.behaviour.refresh_rotation
    assert 11 not in trillium.profile.function_blocks


def test_an_application_profile_keeps_what_is_the_utilitys_alone():
    world = load_world(SEED_DATA)
    lakeshore = world.utility("lakeshore")
    acting = world.profile_for(lakeshore, "async-batch")
    assert acting.behaviour.batch_mode == "async" and not acting.behaviour.refresh_reuse_detection
    assert (acting.pkce_required, acting.access_token_seconds, acting.approval) == (True, 900, "staff")
    assert world.profile_for(lakeshore, None) is lakeshore.profile
    assert world.profile_for(lakeshore, "gone-since") is lakeshore.profile  # a profile removed from seed_data


def _copy(tmp_path):
    src = tmp_path / "seed"
    shutil.copytree(SEED_DATA, src)
    return src


@pytest.mark.parametrize(
    "text, field, words",
    [
        ('[scope]\ngrammar = "loose"\n', "scope.grammar", "strict or fb-only"),
        ("[refresh]\nrotations = false\n", "refresh.rotations", "not a knob of [refresh]"),
        ("[refresh]\nlifetime_days = -1\n", "refresh.lifetime_days", "between 0 and"),
        ('[batches]\nmode = "async"\n', "batches", "not a profile table"),
        ('[batch]\nretry_after = "soon"\n', "batch.retry_after", "a whole number"),
        ("[refresh]\nrotation = false\nreuse_detection = true\n", "refresh.reuse_detection", "needs refresh.rotation"),
    ],
)
def test_a_bad_profile_file_is_named_with_its_key(tmp_path, text, field, words):
    src = _copy(tmp_path)
    path = src / "profiles" / "mine.toml"
    path.write_text(text)
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert err.value.file == str(path) and err.value.field == field and words in err.value.problem


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ('use = "standard"', 'use = "missing"', "profile.use", "ontario"),  # a profile name that is no file
        (
            "[profile]\n",
            "[profile]\nrefresh_rotation = false\n",
            "profile.refresh_rotation",
            "seed_data/profiles",
        ),  # a behaviour knob left in a utility file points to the profiles
    ],
)
def test_a_utility_profile_table_is_checked(tmp_path, old, new, field, words):
    src = _copy(tmp_path)
    path = src / "utilities" / "bayview.toml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert err.value.field == field and words in err.value.problem


def test_a_profile_file_name_must_be_a_plain_name(tmp_path):
    src = _copy(tmp_path)
    (src / "profiles" / "My Profile.toml").write_text("")
    with pytest.raises(SeedDataError) as err:
        load_world(src)
    assert "lower-case" in err.value.problem
