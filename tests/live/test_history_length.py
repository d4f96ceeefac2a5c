"""HistoryLength against a live server: the consent page says how far back the data goes, and the
data served goes back exactly that far (seconds as ESPI defines them; a small number, as the
reference data writes `HistoryLength=13`, is months at a lenient utility and refused at a strict one)."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from lxml import etree

from sandbox.espi.scopes import MONTH_SECONDS

from .tokens import CALLBACK, DEMO, csrf, signed_in, token

pytestmark = pytest.mark.live

ATOM, ESPI = "{http://www.w3.org/2005/Atom}", "{http://naesb.org/espi}"
SHAPE = "FB=1_3_4_5_13_14;IntervalDuration=3600;BlockDuration=daily"
_SHOWN = re.compile(r"Up to (\d+) (month|months|day|days) of history")


def _authorize_url(base: str, slug: str, scope: str) -> str:
    q = {"client_id": DEMO[0], "redirect_uri": CALLBACK, "response_type": "code", "scope": scope, "state": "st"}
    return f"{base}/dc/{slug}/oauth/authorize?" + urlencode(q)


def _consent(base: str, slug: str, scope: str) -> tuple[requests.Session, str, str]:
    customer = signed_in(base, slug)
    url = _authorize_url(base, slug, scope)
    page = customer.get(url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    return customer, url, html.unescape(page.text)


def _served_days(base: str, customer: requests.Session, url: str, page: str) -> float:
    """Accept on the consent page, get the token and its subscription: how many days back the first
    interval block starts from the server's clock."""
    ids = re.findall(r'name="usage_point" value="(\d+)"', page)
    r = customer.post(
        url,
        data={"csrf_token": csrf(page), "decision": "accept", "usage_point": ids[:1]},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text[:300]
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    answer = token(base, "prairie", grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert answer.status_code == 200, answer.text
    feed = requests.get(
        answer.json()["resourceURI"], timeout=120, headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
    )
    assert feed.status_code == 200, feed.text[:300]
    starts = [
        int(s)
        for s in etree.fromstring(feed.content).xpath(
            "//espi:IntervalBlock/espi:interval/espi:start/text()", namespaces={"espi": ESPI[1:-1]}
        )
    ]
    assert starts
    return (dt.datetime.now(dt.timezone.utc).timestamp() - min(starts)) / 86400  # the live server keeps real time


@pytest.mark.parametrize("written, shown", [("13", "13 months"), ("2", "2 months"), ("2592000", "30 days")])
def test_the_consent_page_says_the_history_that_is_served(live, written, shown):
    customer, url, page = _consent(live, "prairie", f"{SHAPE};HistoryLength={written}")  # prairie: lenient
    found = _SHOWN.search(page)
    assert found and found.group(0) == f"Up to {shown} of history", found and found.group(0)
    n, unit = int(found.group(1)), found.group(2)
    said_days = n * (MONTH_SECONDS / 86400 if unit.startswith("month") else 1)
    served = _served_days(live, customer, url, page)
    # the first day served is the local day the history starts on: back to its midnight, less than a day more
    assert said_days - 1 <= served <= said_days + 1, (served, said_days)


def test_a_strict_utility_refuses_a_history_length_that_is_no_number_of_seconds(live):
    customer = signed_in(live, "bayview")  # the standard profile's strict grammar
    r = customer.get(_authorize_url(live, "bayview", f"{SHAPE};HistoryLength=13"), allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    assert answer["error"] == "invalid_scope" and "HistoryLength is in seconds" in answer["error_description"]
