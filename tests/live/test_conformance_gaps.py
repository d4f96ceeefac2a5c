"""What deployed clients send, accepted (issue "Conformance gaps that real clients found", items 2, 3 and
6): int64 paging counts, a lowercase `z` in date-times, trailing slashes, a typed self link on every
feed, and FB 16's costAdditionalLastPeriod. Against the real run.py on a free loopback port."""

from __future__ import annotations

import pytest
import requests
from espi.checks import ATOM, ESPI, assert_valid, parse

from live.tokens import CUSTODIAN, client_token, customer_token, offered_scopes

pytestmark = pytest.mark.live

SLUG = "bayview"


@pytest.fixture(scope="module")
def grant(live) -> dict:
    """A customer token of the demo third party with the utility's usage scope (FB 16 in it)."""
    scope = offered_scopes(live, SLUG)[0]
    assert "_16_" in scope.split(";")[0] + "_"
    return customer_token(live, SLUG, scope)


@pytest.fixture(scope="module")
def custodian(live) -> str:
    return client_token(live, SLUG, CUSTODIAN)["access_token"]


def get(url: str, bearer: str, **params) -> requests.Response:
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {bearer}"}, timeout=60)


def usage_points_url(grant: dict) -> str:
    return grant["resourceURI"].replace("/Batch/Subscription/", "/Subscription/") + "/UsagePoint"


# --- item 3: int64 paging counts ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["max-results", "start-index", "depth"])
def test_ten_digit_and_int64_counts_are_accepted(live, grant, name):
    url = usage_points_url(grant)
    everything = parse(get(url, grant["access_token"]).content)
    count = len(everything.findall(ATOM + "entry"))
    assert count >= 1
    for value in ("2147483647", "9223372036854775807"):
        r = get(url, grant["access_token"], **{name: value})
        assert r.status_code == 200, r.text
        got = parse(r.content)
        assert_valid(got)
        # beyond what exists: all of it, or (start-index past the end) none
        assert len(got.findall(ATOM + "entry")) == (0 if name == "start-index" else count)


@pytest.mark.parametrize("name", ["max-results", "start-index", "depth"])
def test_counts_beyond_int64_or_not_integers_are_refused_by_name(live, grant, name):
    url = usage_points_url(grant)
    for value, words in (
        ("9223372036854775808", "64-bit"),
        ("ten", "not an integer"),
        ("1.5", "not an integer"),
        ("-1", "below"),
    ):
        r = get(url, grant["access_token"], **{name: value})
        assert r.status_code == 400, (value, r.text)
        described = r.json()["error_description"]
        assert name in described and words in described, described


# --- item 6: lowercase z, trailing slashes, typed links -----------------------------------------


def test_a_lowercase_z_is_a_utc_date_time(live, grant):
    url = grant["resourceURI"]
    upper = get(url, grant["access_token"], **{"published-min": "2025-01-01T00:00:00Z"})
    lower = get(url, grant["access_token"], **{"published-min": "2025-01-01t00:00:00z"})
    assert upper.status_code == 200 and lower.status_code == 200, lower.text
    assert len(parse(lower.content).findall(ATOM + "entry")) == len(parse(upper.content).findall(ATOM + "entry"))


def test_a_trailing_slash_is_the_path_without_it(live, grant, custodian):
    for url, bearer in (
        (grant["resourceURI"], grant["access_token"]),
        (usage_points_url(grant), grant["access_token"]),
        (f"{live}/dc/{SLUG}/espi/1_1/resource/ReadServiceStatus", client_token(live, SLUG)["access_token"]),
        (f"{live}/dc/{SLUG}/espi/1_1/resource/UsagePoint", custodian),
    ):
        plain, slashed = get(url, bearer), get(url + "/", bearer)
        assert plain.status_code == 200, plain.text
        assert slashed.status_code == 200, (url, slashed.status_code, slashed.text[:200])
        assert slashed.content == plain.content  # the same self links: the path without the slash


def test_every_link_of_every_feed_carries_a_type(live, grant, custodian):
    feeds = [
        (grant["resourceURI"], grant["access_token"]),
        (usage_points_url(grant), grant["access_token"]),
        (f"{live}/dc/{SLUG}/espi/1_1/resource/Authorization", custodian),
        (f"{live}/dc/{SLUG}/espi/1_1/resource/ReadingType", custodian),
    ]
    for url, bearer in feeds:
        r = get(url, bearer)
        assert r.status_code == 200, r.text
        root = parse(r.content)
        untyped = [x.get("href") for x in root.iter(ATOM + "link") if not x.get("type")]
        assert not untyped, (url, untyped[:3])
        own = root.find(ATOM + "link")
        assert own.get("rel") == "self" and own.get("type").startswith("espi-feed/"), own.attrib
        assert_valid(root, "3.3")  # ESPI 3.3's atom.xsd requires a type on every link


# --- item 2: costAdditionalLastPeriod -------------------------------------------------------------


def test_every_usage_summary_carries_its_details_total(live, grant):
    root = parse(get(grant["resourceURI"], grant["access_token"]).content)
    summaries = list(root.iter(ESPI + "UsageSummary"))
    assert summaries, "no UsageSummary in a 13-month feed granted FB 15 and 16"
    for s in summaries:
        details = [int(d.findtext(ESPI + "amount")) for d in s.findall(ESPI + "costAdditionalDetailLastPeriod")]
        total = s.findtext(ESPI + "costAdditionalLastPeriod")
        assert details and total is not None, "FB_16: costAdditionalLastPeriod in each UsageSummary"
        assert int(total) == sum(details)
        assert int(s.findtext(ESPI + "billLastPeriod")) == sum(
            details
        )  # energy, fixed charge and credits make the bill
