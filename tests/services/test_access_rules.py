"""The access matrix as every call reads it (services.access): a resource's rows, indexed once, are the
table's rows in table order, and a token's scope, parsed once, grants what parsing it again grants."""

from __future__ import annotations

from sandbox.espi.scopes import function_blocks
from sandbox.services import access


def test_a_resources_rows_are_the_tables_rows_in_order():
    for resource in access.served():
        assert access.rules_for(resource) == [r for r in access.MATRIX if r.resource == resource]
    assert access.rules_for("NoSuchResource") == []
    rows = access.rules_for("UsagePoint")
    rows.clear()  # a caller's list is its own
    assert access.rules_for("UsagePoint") == [r for r in access.MATRIX if r.resource == "UsagePoint"]


def test_a_scope_read_again_grants_the_same_blocks():
    for scope in ("FB=1_3_4_5_13_14_32_39;IntervalDuration=3600", "FB=4_51", "", "FB=nonsense"):
        assert access._granted_blocks(scope) == function_blocks(scope)
        assert access._granted_blocks(scope) == function_blocks(scope)
