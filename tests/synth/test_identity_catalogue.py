"""The named test identities' catalogue (seed_data/identities.toml): read and checked, each identity
made the same whatever else the world holds, and the generated customers unmoved by it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sandbox.core.errors import SeedDataError
from sandbox.synth.people import PeopleFactory, identity_customer
from sandbox.synth.world import parse_world, read_seed_dir

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = read_seed_dir(ROOT / "seed_data")
ONE = (
    '[[identity]]\nusername = "solo.test"\nutility = "bayview"\nfirst_name = "A"\nlast_name = "B"\n'
    'archetype = "apartment"\nsummary = "s"\n'
)


def _with(catalogue: str) -> dict[str, str]:
    return {**SHIPPED, "identities.toml": catalogue}


def test_every_identity_of_the_file_is_read_at_its_utility():
    listed = tomllib.loads(SHIPPED["identities.toml"])["identity"]
    world = parse_world(SHIPPED)
    found = {i.username: i for u in world.utilities for i in u.identities}
    assert set(found) == {i["username"] for i in listed}
    for i in listed:
        ident = found[i["username"]]
        assert ident.utility == i["utility"] and ident.summary == i["summary"] and ident.archetype == i["archetype"]
        assert world.utility(ident.utility).identity(ident.username) is ident
    numbers = [i.number for i in world.utility("harbour").identities]
    assert numbers == list(range(-1, -len(numbers) - 1, -1))


def test_an_identity_is_the_same_whatever_the_world_s_other_identities_and_customers():
    alone = parse_world(_with(ONE))
    more = parse_world(_with(ONE + ONE.replace("solo.test", "second.test").replace('"bayview"', '"lakeshore"')))
    a, b = (w.utility("bayview") for w in (alone, more))
    assert identity_customer(alone, a, a.identities[0]) == identity_customer(more, b, b.identities[0])


def test_the_catalogue_moves_no_generated_customer():
    without = {k: v for k, v in SHIPPED.items() if k != "identities.toml"}
    for files in (without, SHIPPED):
        world = parse_world(files)
        made = [list(PeopleFactory(world, u, world.seed).customers(5)) for u in world.utilities]
        if files is without:
            first = made
    assert made == first


@pytest.mark.parametrize(
    "change, field, words",
    [
        (('"bayview"', '"nowhere"'), "identity[0].utility", "must be one of"),
        (('"solo.test"', '"solo7"'), "identity[0].username", "not end in a digit"),
        (('"solo.test"', '"demo"'), "identity[0].username", "nor be demo"),
        (('"apartment"', '"castle"'), "identity[0].archetype", "must be one of"),
        (('summary = "s"', 'summary = ""'), "identity[0].summary", "must say"),
        (('summary = "s"', 'summary = "s"\nmeters = 9'), "identity[0].meters", "1 to 6"),
        (
            ('summary = "s"', 'summary = "s"\nusage_point = { fridge = 1 }'),
            "identity[0].usage_point.fridge",
            "not a usage-point",
        ),
        (
            ('summary = "s"', 'summary = "s"\ndata_quality = { zero_share = 0.9 }'),
            "identity[0].data_quality.zero_share",
            "between",
        ),
        (('summary = "s"', 'summary = "s"\nrevokes_after_seconds = 0'), "identity[0].revokes_after_seconds", "1 to"),
        (('summary = "s"', 'summary = "s"\nmoves_out_in_days = 400'), "identity[0].moves_out_in_days", "1 to 90"),
        (('first_name = "A"\n', ""), "identity[0].first_name", "required"),
    ],
)
def test_a_bad_identity_gives_a_seed_data_error_naming_it(change, field, words):
    with pytest.raises(SeedDataError) as err:
        parse_world(_with(ONE.replace(*change)))
    assert err.value.field == field and words in err.value.problem, err.value
    assert err.value.file.endswith("identities.toml")


def test_a_username_twice_at_one_utility_is_refused():
    with pytest.raises(SeedDataError) as err:
        parse_world(_with(ONE + ONE))
    assert err.value.field == "identity[1].username" and "already an identity" in err.value.problem
