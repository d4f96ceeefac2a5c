"""A stored scope is read the same way whichever utility's parsing rule accepted it."""
from sandbox.espi.scopes import allowed_by, commodities_of, function_blocks, grants_customer_data, summary_words


def test_a_leniently_accepted_scope_keeps_its_meaning():
    registered = "FB=1_3_4_5_10_46;IntervalDuration=3600"
    lenient = "fb=1_3_4_5_46;intervalduration=3600"
    allowed_by([registered], lenient, strict=False)  # a lenient utility accepts it and stores it as written
    for scope in (lenient, lenient.upper().replace("INTERVALDURATION", "IntervalDuration")):
        assert function_blocks(scope) == {1, 3, 4, 5, 46}
        assert grants_customer_data(scope)
        assert commodities_of(scope) == {"electricity"}
        assert summary_words(scope)[-1] == "Your name, contact details, account and service address"


def test_every_customer_data_block_is_named_in_the_summary():
    for block in (46, 47, 49, 50, 51, 55, 56, 58, 59, 60):
        scope = f"FB=1_3_4_5_{block}"
        assert grants_customer_data(scope)
        assert "Your name, contact details, account and service address" in summary_words(scope)
    assert "Your name, contact details, account and service address" not in summary_words("FB=1_3_4_5_13")
