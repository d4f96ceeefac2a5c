"""A stored scope is read the same way whichever utility's parsing rule accepted it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.espi import scopes
from sandbox.espi.scopes import (
    EVERYTHING,
    HISTORY_13_MONTHS,
    PLAIN_WORDS,
    ScopeError,
    allowed_by,
    commodities_of,
    content_of,
    function_blocks,
    grants_customer_data,
    history_seconds,
    history_words,
    parse_scope,
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


@pytest.mark.parametrize(
    "grammar, scope, term",
    [
        ("fb-only", FULL, "IntervalDuration"),
        ("fb-only", "FB=1_3_4_5;AccountCollection=2", "AccountCollection"),
        ("requires-params", "FB=1_3_4_5", "FB=1_3_4_5"),
        ("requires-params", "FB=1_3_4_5;IntervalDuration=3600", "FB=1_3_4_5;IntervalDuration=3600"),
        ("strict", "fb=1_3_4_5", "fb=1_3_4_5"),
    ],
)
def test_a_grammar_refuses_by_term(grammar, scope, term):
    with pytest.raises(ScopeError) as err:
        allowed_by([FULL], scope, grammar)
    assert err.value.term == term


@pytest.mark.parametrize(
    "grammar, scope",
    [
        ("fb-only", "FB=1_3_4_5"),
        ("requires-params", FULL),
        ("strict", FULL),
        ("lenient", "fb=1_3_4_5;Colour=blue"),
        ("requires-params", "FB=1_3_4_5;BR=bulk-1"),  # a bulk request names no data shape
    ],
)
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
    "": (False, False),
    "_7": (False, True),
    "_8": (True, False),
    "_7_8": (True, True),
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


# --- HistoryLength: one reading (seconds, as ESPI defines it), shown, checked and served the same ------

_WORDS = {"month": scopes.MONTH_SECONDS, "months": scopes.MONTH_SECONDS, "day": 86400, "days": 86400}


def _shown_seconds(line: str) -> float:
    """The seconds a shown history line means ("Up to 13 months of history", "History: up to 30 days back")."""
    words = line.split()
    i = next(i for i, w in enumerate(words) if w in _WORDS)
    return int(words[i - 1]) * _WORDS[words[i]]


def _history_line(lines: list[str]) -> str:
    return next(line for line in lines if "history" in line.lower())


def test_history_length_13_is_13_months_on_the_consent_page_and_in_what_is_served():
    """The issue's case: the consent page said "Up to 0 months of history" while 395 days were served."""
    scope = "FB=1_3_4_5_13_14;IntervalDuration=3600;BlockDuration=daily;HistoryLength=13"
    assert content_of(scope).history_seconds == HISTORY_13_MONTHS == 395 * 86400
    assert "Up to 13 months of history" in plain_words(scope)
    assert "History: up to 13 months back" in summary_words(scope)
    assert parse_scope(scope, strict=False).history_seconds == HISTORY_13_MONTHS


def test_history_length_is_seconds_and_a_number_below_a_day_is_months():
    assert history_seconds(34128000) == 34128000 and history_seconds(86400) == 86400
    assert history_seconds(13) == HISTORY_13_MONTHS and history_seconds(0) == 0
    assert history_seconds(86399) == round(86399 * scopes.MONTH_SECONDS)  # the largest number read as months
    assert history_words(HISTORY_13_MONTHS) == "13 months" and history_words(history_seconds(1)) == "1 month"
    assert history_words(2592000) == "30 days" and history_words(94608000) == "1095 days"
    assert history_words(86400) == "1 day"


@pytest.mark.parametrize("grammar", ["strict", "requires-params"])
@pytest.mark.parametrize("written", [0, 1, 13, 86399])
def test_strict_grammars_refuse_a_history_length_that_is_no_plausible_number_of_seconds(grammar, written):
    registered = standard_scopes(("electricity",), 900)[0]
    requested = f"FB=1_3_4_5;IntervalDuration=3600;BlockDuration=daily;HistoryLength={written}"
    with pytest.raises(ScopeError, match="HistoryLength is in seconds") as err:
        allowed_by([registered], requested, grammar)
    assert err.value.term == f"HistoryLength={written}"
    plausible = requested.replace(f"HistoryLength={written}", "HistoryLength=86400")
    assert allowed_by([registered], plausible, grammar).history_seconds == 86400


def test_a_lenient_grammar_reads_a_small_history_length_as_months_and_checks_it_so():
    registered = standard_scopes(("electricity",), 900)[0]  # HistoryLength=34128000: 13 months
    assert allowed_by([registered], "FB=1_3_4_5;HistoryLength=13", "lenient").history_seconds == HISTORY_13_MONTHS
    with pytest.raises(ScopeError, match=r"at most 34128000 seconds of history \(13 months\)"):
        allowed_by([registered], "FB=1_3_4_5;HistoryLength=14", "lenient")
    with pytest.raises(ScopeError, match="at most"):
        allowed_by([registered], f"FB=1_3_4_5;HistoryLength={HISTORY_13_MONTHS + 1}", "lenient")
    # a registered scope in months limits requests in seconds by what it means
    assert (
        allowed_by(
            ["FB=1_3_4_5;HistoryLength=13"], f"FB=1_3_4_5;HistoryLength={HISTORY_13_MONTHS}", "lenient"
        ).history_length
        == HISTORY_13_MONTHS
    )


def test_the_scope_as_written_is_kept():
    """The reading is for what is served and shown; the stored scope string stays the one asked for."""
    assert str(parse_scope("FB=1_3;HistoryLength=13", strict=False)) == "FB=1_3;HistoryLength=13"


@given(st.integers(min_value=0, max_value=10**9))
def test_every_reader_reads_a_history_length_the_same(written):
    scope = f"FB=1_3_4_5_13_14;IntervalDuration=3600;HistoryLength={written}"
    served = content_of(scope).history_seconds
    assert served == parse_scope(scope, strict=False).history_seconds == history_seconds(written)
    assert served is not None
    for line in (_history_line(plain_words(scope)), _history_line(summary_words(scope))):
        # what is shown is what is served: whole months exactly, else days to the nearest day
        assert abs(_shown_seconds(line) - served) <= (1 if "month" in line else 43200), line


# --- IntervalDuration and BlockDuration: one reading each, for every reader ----------------------------


def test_a_named_interval_is_read_as_its_seconds_by_every_reader():
    scope = "FB=1_3_4_5_13_14;IntervalDuration=daily_900;BlockDuration=billingPeriod"
    assert content_of(scope).intervals == {86400, 900}
    assert "Usage readings (electricity), 15-minute, daily" in summary_words(scope)
    assert "Readings daily and every 15 minutes" in plain_words(scope)
    # the blocks served are monthly, and so they are shown
    assert content_of(scope).block == "monthly" and "Delivered in monthly blocks" in plain_words(scope)


def test_covers_compares_intervals_and_blocks_by_what_they_mean():
    registered = "FB=1_3_4_5;IntervalDuration=900_86400;BlockDuration=daily"
    assert allowed_by([registered], "FB=1_3_4_5;IntervalDuration=daily;BlockDuration=86400", "lenient")
    with pytest.raises(ScopeError, match="interval 3600 is not offered"):
        allowed_by([registered], "FB=1_3_4_5;IntervalDuration=3600", "lenient")
    for block in ("monthly", "seasonal"):
        with pytest.raises(ScopeError, match="only daily is offered"):
            allowed_by([registered], f"FB=1_3_4_5;BlockDuration={block}", "lenient")
