"""Ids are computed without uuid.UUID objects for speed; the standard library is the oracle."""

import uuid

from sandbox.espi.uuids import resource_uuid, resource_uuid_str, uuid_family, world_namespace


def test_ids_are_the_standard_library_version_5_uuids():
    for n in range(3000):
        expected = uuid.uuid5(world_namespace(n % 7), f"usage-point/{n}/meter-reading/electricity")
        text = resource_uuid_str(n % 7, "usage-point", n, "meter-reading", "electricity")
        assert text == str(expected) == str(resource_uuid(n % 7, "usage-point", n, "meter-reading", "electricity"))
        parsed = uuid.UUID(text)
        assert parsed.version == 5 and parsed.variant == uuid.RFC_4122


def test_a_family_hashes_its_prefix_once_and_gives_the_same_ids():
    make = uuid_family(42, "interval-block", "0f1e")
    for day in ("2024-03-10", "2024-11-03", "2025-01-01"):
        assert make(day) == str(uuid.uuid5(world_namespace(42), f"interval-block/0f1e/{day}"))
