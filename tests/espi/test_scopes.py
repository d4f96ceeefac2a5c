"""A stored scope is read the same way whichever utility's parsing rule accepted it."""
import pytest

from sandbox.espi.scopes import (
    EVERYTHING,
    PLAIN_WORDS,
    ScopeError,
    allowed_by,
    commodities_of,
    content_of,
    function_blocks,
    grants_customer_data,
    plain_words,
    standard_scopes,
    summary_words,
)


def test_a_leniently_accepted_scope_keeps_its_meaning():
    registered = "FB=1_3_4_5_10_46;IntervalDuration=3600"
    lenient = "fb=1_3_4_5_46;intervalduration=3600"
    allowed_by([registered], lenient, "lenient")  # a lenient utility accepts it and stores it as written
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


# --- the scope grammars of behaviour profiles ------------------------------------------------

FULL = "FB=1_3_4_5_13_14_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"


@pytest.mark.parametrize("grammar, scope, term", [
    ("fb-only", FULL, "IntervalDuration"),
    ("fb-only", "FB=1_3_4_5;AccountCollection=2", "AccountCollection"),
    ("requires-params", "FB=1_3_4_5", "FB=1_3_4_5"),
    ("requires-params", "FB=1_3_4_5;IntervalDuration=3600", "FB=1_3_4_5;IntervalDuration=3600"),
    ("strict", "fb=1_3_4_5", "fb=1_3_4_5"),
])
def test_a_grammar_refuses_by_term(grammar, scope, term):
    with pytest.raises(ScopeError) as err:
        allowed_by([FULL], scope, grammar)
    assert err.value.term == term


@pytest.mark.parametrize("grammar, scope", [
    ("fb-only", "FB=1_3_4_5"), ("requires-params", FULL), ("strict", FULL), ("lenient", "fb=1_3_4_5;Colour=blue"),
    ("requires-params", "FB=1_3_4_5;BR=bulk-1"),  # a bulk request names no data shape
])
def test_a_grammar_accepts_what_it_should(grammar, scope):
    assert allowed_by([FULL + ";BR=bulk-1"], scope, grammar).function_blocks[:4] == (1, 3, 4, 5)


def test_a_function_block_the_utility_does_not_serve_is_named():
    with pytest.raises(ScopeError) as err:
        allowed_by(["FB=1_3_4_5_11"], "FB=1_3_4_5_11", "strict", frozenset({1, 3, 4, 5}))
    assert "function block 11 (Water) is not offered by this utility" in str(err.value)


def test_offered_scopes_follow_the_grammar_and_the_served_blocks():
    plain = standard_scopes(("electricity", "gas"), 3600)
    fb_only = standard_scopes(("electricity", "gas"), 3600, "fb-only", frozenset(range(1, 60)) - {12, 16})
    assert all("IntervalDuration" in s for s in plain)
    assert all(s.startswith("FB=") and ";" not in s for s in fb_only)
    assert all(not {12, 16} & function_blocks(s) for s in fb_only)
    for s in fb_only:
        allowed_by(fb_only, s, "fb-only")


def test_a_function_block_only_registration_limits_no_interval():
    # an application registered at an fb-only utility, then answered as requires-params
    assert allowed_by(["FB=1_3_4_5_13_14_32_39"], FULL, "requires-params").interval_durations == (3600,)


# --- net metering (FB 7) and forward and reverse metering (FB 8), each its own stream -----------

NET_AND_RECEIVED = {  # function blocks beside 1_3_4_5 -> (received stream, net stream)
    "": (False, False), "_7": (False, True), "_8": (True, False), "_7_8": (True, True),
}


@pytest.mark.parametrize("extra", list(NET_AND_RECEIVED))
def test_fb_7_grants_the_net_stream_and_fb_8_the_received_one(extra):
    content = content_of(f"FB=1_3_4_5{extra}_13_14;IntervalDuration=3600")
    received, net = NET_AND_RECEIVED[extra]
    assert (content.received, content.net) == (received, net)
    served = {flow for flow in ("delivered", "received", "net") if content.serves("electricity", flow, 3600)}
    assert served == {"delivered", *(["received"] if received else []), *(["net"] if net else [])}
    words = summary_words(f"FB=1_3_4_5{extra}")
    assert ("Solar export (energy received)" in words) == received
    assert ("Net metering (delivered minus received)" in words) == net
    plain = plain_words(f"FB=1_3_4_5{extra}")
    assert (PLAIN_WORDS[7] in plain) == net and (PLAIN_WORDS[8] in plain) == received


def test_the_customers_own_download_holds_every_stream():
    assert all(EVERYTHING.serves("electricity", flow, 900) for flow in ("delivered", "received", "net"))


def test_fb_7_stays_offered_beside_fb_8_for_electricity():
    for scope in standard_scopes(("electricity", "gas"), 900):
        assert {7, 8} <= function_blocks(scope)
    assert not {7, 8} & function_blocks(standard_scopes(("gas",), 3600)[0])
