"""Every function block a utility offers is in what it serves: for each utility of the default world (GET
/utilities) and each block in its metadata's `scopes_supported` (RFC 8414), a customer token whose scope
grants that block (plus the minimum it needs: FB 1_3_4 and the commodity) gets a feed holding what ESPI.md
says the block contains (6.2, the conformance checklist of section 11, and the Alliance's certification
rules it cites). A block a utility does not offer is not tested there; it must not be granted there either.

The table BLOCKS is written from ESPI.md, not from the sandbox's code. The demo customer (README: rooftop
solar and gas, water where the utility has water) is the one customer who has every kind of data.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from espi.checks import (
    ATOM,
    CUST,
    ESPI,
    blocks_of,
    check_feed,
    check_usage_structure,
    links,
    parse,
    reading_type_of,
    readings_of,
)
from lxml import etree

from sandbox.testing.client import SandboxClient

from . import tokens
from .server import small_world
from .third_party import ThirdParty

pytestmark = pytest.mark.live

KEY = "function-blocks-key"
HISTORY = "HistoryLength=7776000"  # 90 days: small feeds that still hold whole billing periods
ESPI_VERSION = {"trillium": "3.3"}  # README's world table: Trillium answers in ESPI 3.3, the others in 4.0
HTTP = requests.Session()
HTTP.trust_env = False  # loopback only, never a proxy


def fb_numbers(scope: str) -> set[int]:
    m = re.match(r"FB=([\d_]+)", scope)
    return {int(x) for x in m.group(1).split("_")} if m else set()


# --- the feed a granted token reads ---------------------------------------------------------------------


@dataclass
class Granted:
    """A customer token of the demo third party at one utility and what it reads."""

    base: str
    slug: str
    token: dict
    blocks: set[int]
    receiver: ThirdParty
    _cache: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return ESPI_VERSION.get(self.slug, "4.0")

    def get(self, url: str, query: dict | None = None, token: str | None = None) -> requests.Response:
        bearer = self.token["access_token"] if token is None else token
        return HTTP.get(url, params=query, headers={"Authorization": f"Bearer {bearer}"}, timeout=120)

    def read(self, url: str, query: dict | None = None) -> etree._Element:
        r = self.get(url, query)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/atom+xml"), r.headers["Content-Type"]
        return parse(r.content)

    @cached_property
    def feed(self) -> etree._Element:
        """The subscription's Batch feed (the token's resourceURI)."""
        return self.read(self.token["resourceURI"])

    @cached_property
    def by_kind(self) -> dict[str, list]:
        return check_feed(self.feed, version=self.version)

    @cached_property
    def pii(self) -> dict[str, list]:
        """The customer's PII feed (customerResourceURI), entries by kind."""
        assert self.token.get("customerResourceURI"), f"no customerResourceURI for {self.token['scope']}"
        return check_feed(self.read(self.token["customerResourceURI"]), prefix="cust", version=self.version)

    def reading_types(self) -> list[dict[str, int]]:
        """The ReadingType of every MeterReading that has interval data."""
        return [reading_type_of(mr, self.feed) for mr in self.by_kind["MeterReading"] if blocks_of(mr, self.by_kind)]


def has_reading_type(g: Granted, **codes: int) -> None:
    found = g.reading_types()
    assert any(all(rt.get(k) == v for k, v in codes.items()) for rt in found), (
        f"no ReadingType with {codes} among {[{k: rt.get(k) for k in codes} for rt in found]}"
    )


def service_kinds(g: Granted) -> set[int]:
    return {
        int(up.findtext(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind"))
        for up in g.by_kind["UsagePoint"]
    }


def summaries(g: Granted) -> list:
    found = [s.find(f"{ATOM}content/{ESPI}UsageSummary") for s in g.by_kind.get("UsageSummary", [])]
    assert found, "no UsageSummary in the feed"
    return found


def cust(g: Granted, name: str) -> list:
    found = [e.find(f"{ATOM}content/{CUST}{name}") for e in g.pii.get(name, [])]
    assert found, f"no cust:{name} in the PII feed (kinds: {sorted(g.pii)})"
    return found


# --- what each block contains (ESPI.md 6.2 and 11) -------------------------------------------------------


def common(g: Granted) -> None:
    """FB 1 (feed and entry basics, checklist 29-39): the whole feed is schema-valid and well formed."""
    check_usage_structure(g.by_kind, g.feed)
    assert g.by_kind["UsagePoint"] and g.by_kind["LocalTimeParameters"]


def connect_my_data(g: Granted) -> None:
    """FB 3 (checklist 3): the token's resourceURI is the Batch/Subscription feed of its usage points."""
    assert "/Batch/Subscription/" in g.token["resourceURI"] and g.by_kind["UsagePoint"]


def interval_metering(g: Granted) -> None:
    """FB 4: MeterReading, ReadingType and IntervalBlock, each MeterReading with blocks of readings
    whose durations are the ReadingType's intervalLength (checklist 35, 41, 43-46)."""
    assert g.by_kind["MeterReading"] and g.by_kind["ReadingType"] and g.by_kind["IntervalBlock"]
    for mr in g.by_kind["MeterReading"]:
        rt, blocks = reading_type_of(mr, g.feed), blocks_of(mr, g.by_kind)
        assert blocks, f"MeterReading {links(mr, 'self')[0]} has no IntervalBlock"
        assert rt["accumulationBehaviour"] == 4
        assert {r["duration"] for b in blocks for r in readings_of(b)} == {rt["intervalLength"]}


def electricity(g: Granted) -> None:
    """FB 5: an electricity ReadingType (commodity 1, kind 12 energy, uom 72 Wh)."""
    has_reading_type(g, commodity=1, kind=12, uom=72)
    assert 0 in service_kinds(g)


def net_metering(g: Granted) -> None:
    """FB 7 (the Alliance's FB_07 rule): a net series, accumulationBehaviour 4, commodity 1,
    flowDirection 4 (net), kind 12, uom 72."""
    has_reading_type(g, accumulationBehaviour=4, commodity=1, flowDirection=4, kind=12, uom=72)


def forward_and_reverse(g: Granted) -> None:
    """FB 8: delivered (flowDirection 1) and received (flowDirection 19) electricity."""
    has_reading_type(g, commodity=1, flowDirection=1, kind=12, uom=72)
    has_reading_type(g, commodity=1, flowDirection=19, kind=12, uom=72)


def gas(g: Granted) -> None:
    """FB 10 (checklist 40, 42): a gas usage point (ServiceCategory 1) and a ReadingType of commodity 7."""
    assert 1 in service_kinds(g)
    has_reading_type(g, commodity=7)


def water(g: Granted) -> None:
    """FB 11: a water usage point (ServiceCategory 2) and a ReadingType of commodity 9."""
    assert 2 in service_kinds(g)
    has_reading_type(g, commodity=9)


def interval_cost(g: Granted) -> None:
    """FB 12: IntervalReading.cost, in every reading of the electricity series."""
    for mr in g.by_kind["MeterReading"]:
        if reading_type_of(mr, g.feed).get("commodity") == 1:
            rows = [r for b in blocks_of(mr, g.by_kind) for r in readings_of(b)]
            assert rows and all("cost" in r for r in rows), f"{links(mr, 'self')[0]}: readings without cost"
            return
    raise AssertionError("no electricity MeterReading")


def usage_summary(g: Granted) -> None:
    """FB 15 (checklist 48): UsageSummary entries with billingPeriod, statusTimeStamp and
    overallConsumptionLastPeriod; their cost (billLastPeriod) only with FB 16."""
    for s in summaries(g):
        assert s.find(f"{ESPI}overallConsumptionLastPeriod/{ESPI}value") is not None
        if 16 not in g.blocks:
            assert s.find(ESPI + "billLastPeriod") is None, "billLastPeriod without FB 16"


def usage_summary_with_cost(g: Granted) -> None:
    """FB 16 (the Alliance's FB_16 rule): every UsageSummary has billLastPeriod and costAdditionalLastPeriod,
    which is the sum of its costAdditionalDetailLastPeriod amounts."""
    for s in summaries(g):
        assert s.find(ESPI + "billLastPeriod") is not None, "no billLastPeriod"
        total = s.findtext(ESPI + "costAdditionalLastPeriod")
        assert total is not None, "no costAdditionalLastPeriod"
        details = [
            int(a) for a in s.xpath("e:costAdditionalDetailLastPeriod/e:amount/text()", namespaces={"e": ESPI[1:-1]})
        ]
        assert int(total) == sum(details), (total, details)


def multiple_usage_points(g: Granted) -> None:
    """FB 18: more than one UsagePoint in one subscription (the demo customer's electricity and gas)."""
    assert len(g.by_kind["UsagePoint"]) > 1


def query_parameters(g: Granted) -> None:
    """FB 37 (checklist 54): max-results bounds the entries, start-index (1-based) pages on."""
    ids = [e.findtext(ATOM + "id") for e in g.feed.findall(ATOM + "entry")]
    first = g.read(g.token["resourceURI"], {"max-results": "3"}).findall(ATOM + "entry")
    second = g.read(g.token["resourceURI"], {"max-results": "3", "start-index": "4"}).findall(ATOM + "entry")
    assert [e.findtext(ATOM + "id") for e in first + second] == ids[:6]


def utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def partial_update(g: Granted) -> None:
    """FB 19 (checklist 52): an update (published-min/max, as a notification names it) holds only the
    IntervalBlocks of its window, with the parents needed to read them."""
    starts = sorted(
        int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}start"))
        for b in g.by_kind["IntervalBlock"]
    )
    lo, hi = starts[len(starts) // 2], starts[-1]
    window = {"published-min": utc(lo), "published-max": utc(hi)}
    part = check_feed(g.read(g.token["resourceURI"], window), related_resolve=False, version=g.version)
    got = [
        int(b.findtext(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}interval/{ESPI}start")) for b in part["IntervalBlock"]
    ]
    assert got and all(lo <= s < hi for s in got) and len(got) < len(starts)
    assert part["UsagePoint"] and part["MeterReading"] and part["ReadingType"]


def security(g: Granted) -> None:
    """FB 13 (TLS) cannot be seen on a loopback http server; what can: the data is reachable only with the
    bearer token (checklist 1): without it 401 with WWW-Authenticate Bearer."""
    r = HTTP.get(g.token["resourceURI"], timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def oauth(g: Granted) -> None:
    """FB 14 (checklist 19): the token response of the authorization code grant."""
    t = g.token
    assert t["token_type"].lower() == "bearer" and t["expires_in"] > 0 and t["refresh_token"]
    assert "/Authorization/" in t["authorizationURI"] and 14 in fb_numbers(t["scope"])


def core_rest(g: Granted) -> None:
    """FB 31: the third party reads the grant's Authorization (authorizationURI) with its client token:
    status 1 (active) and the granted scope (checklist 25)."""
    client = tokens.client_token(g.base, g.slug)["access_token"]
    r = g.get(g.token["authorizationURI"], token=client)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    auth = parse(r.content).find(f"{ATOM}content/{ESPI}Authorization")
    assert auth.findtext(ESPI + "status") == "1" and auth.findtext(ESPI + "scope") == g.token["scope"]


def resource_level(g: Granted) -> None:
    """FB 32 (ESPI.md 4.3): Subscription/{id}/UsagePoint lists the subscription's usage points, and each
    feed's ReadingType answers at ReadingType/{id}."""
    sid = g.token["resourceURI"].rstrip("/").rsplit("/", 1)[1]
    root = g.token["resourceURI"].split("/Batch/Subscription/")[0]
    listed = g.read(f"{root}/Subscription/{sid}/UsagePoint")
    assert {e.findtext(ATOM + "id") for e in listed.findall(ATOM + "entry")} == {
        e.findtext(ATOM + "id") for e in g.by_kind["UsagePoint"]
    }
    for rt in g.by_kind["ReadingType"]:
        assert g.read(links(rt, "self")[0]).tag == ATOM + "entry"


def on_demand(g: Granted) -> None:
    """FB 38: a usage point's data fetched when the client wants it, with no notification before:
    Batch/Subscription/{id}/UsagePoint/{upid} holds that usage point's tree only."""
    up = g.by_kind["UsagePoint"][0]
    upid = links(up, "self")[0].rsplit("/", 1)[1]
    one = check_feed(g.read(f"{g.token['resourceURI']}/UsagePoint/{upid}"), version=g.version)
    assert [e.findtext(ATOM + "id") for e in one["UsagePoint"]] == [up.findtext(ATOM + "id")]
    assert one["IntervalBlock"]


def push(g: Granted) -> None:
    """FB 39 (ESPI.md 7, checklist 56-57): the grant is announced to the third party's notification
    endpoint with a BatchList naming the token's resourceURI, and that URI answers with the token."""
    uri = g.token["resourceURI"]
    with g.receiver.arrived:
        came = g.receiver.arrived.wait_for(lambda: any(uri.encode() in p["body"] for p in g.receiver.received), 30)
    assert came, f"no BatchList naming {uri} arrived"
    body = next(p["body"] for p in g.receiver.received if uri.encode() in p["body"])
    batch = parse(body)
    assert batch.tag == ESPI + "BatchList" and uri in [r.text for r in batch.findall(ESPI + "resources")]
    assert g.get(uri).status_code == 200


def retail_customer(g: Granted) -> None:
    """FB 46 (checklist 67): customerResourceURI is the Batch/RetailCustomer feed of cust: entries, valid
    against customer.xsd, with the customer."""
    assert "/Batch/RetailCustomer/" in g.token["customerResourceURI"]
    cust(g, "Customer")


def customer_common(g: Granted) -> None:
    """FB 51 (ESPI.md 2.5, checklist 68): a Customer related to at least one CustomerAccount; each
    CustomerAccount related to exactly one Customer and at least one CustomerAgreement."""
    cust(g, "CustomerAccount")
    for c in g.pii["Customer"]:
        assert [h for h in links(c, "related") if "/CustomerAccount/" in h]
    for a in g.pii["CustomerAccount"]:
        rel = links(a, "related")
        assert len([h for h in rel if h.endswith(tuple(links(c, "self")[0] for c in g.pii["Customer"]))]) == 1
        assert [h for h in rel if "/CustomerAgreement/" in h]


def demographic(g: Granted) -> None:
    """FB 55 (ESPI.md 2.5): the Customer's Organisation/streetAddress with addressGeneral or poBox, a town
    name and stateOrProvince."""
    for c in cust(g, "Customer"):
        street = c.find(f"{CUST}Organisation/{CUST}streetAddress")
        assert street is not None, "no Organisation/streetAddress"
        assert street.findtext(f"{CUST}streetDetail/{CUST}addressGeneral") or street.findtext(f"{CUST}poBox")
        assert street.findtext(f"{CUST}townDetail/{CUST}name") and street.findtext(
            f"{CUST}townDetail/{CUST}stateOrProvince"
        )


def billing(g: Granted) -> None:
    """FB 56 (ESPI.md 2.5): the CustomerAccount (accountId, billingCycle) and, in ESPI 4.0, the bills as
    Statement entries, each with its issue date and a statementRef pointing at the bill document (3.3's
    customer.xsd has no Statement: a 3.3 utility's documents cannot hold one)."""
    assert all(a.findtext(CUST + "accountId") and a.findtext(CUST + "billingCycle") for a in cust(g, "CustomerAccount"))
    if g.version == "3.3":
        assert "Statement" not in g.pii
        return
    for s in cust(g, "Statement"):
        assert s.findtext(CUST + "issueDateTime")
        assert s.findtext(f"{CUST}statementRef/{CUST}statementURL"), "a Statement without statementRef"


def service_location(g: Granted) -> None:
    """FB 58: the ServiceLocation with its main address."""
    assert all(s.find(CUST + "mainAddress") is not None for s in cust(g, "ServiceLocation"))


def meter(g: Granted) -> None:
    """FB 60: the Meter."""
    cust(g, "Meter")


@dataclass(frozen=True)
class Block:
    check: Callable[[Granted], None]
    needs: tuple[int, ...] = (5,)  # besides 1_3_4: the commodity whose data shows the block


BLOCKS: dict[int, Block] = {
    1: Block(common),
    3: Block(connect_my_data),
    4: Block(interval_metering),
    5: Block(electricity),
    7: Block(net_metering),
    8: Block(forward_and_reverse),
    10: Block(gas, ()),
    11: Block(water, ()),
    12: Block(interval_cost),
    13: Block(security),
    14: Block(oauth),
    15: Block(usage_summary),
    16: Block(usage_summary_with_cost),
    18: Block(multiple_usage_points, (5, 10)),
    19: Block(partial_update),
    31: Block(core_rest),
    32: Block(resource_level),
    37: Block(query_parameters),
    38: Block(on_demand),
    39: Block(push),
    46: Block(retail_customer),
    51: Block(customer_common),
    55: Block(demographic),
    56: Block(billing),
    58: Block(service_location),
    60: Block(meter),
}


# --- the live world --------------------------------------------------------------------------------------


@dataclass
class World:
    base: str
    offered: dict[str, set[int]]  # utility slug -> the blocks of its scopes_supported
    terms: dict[str, bool]  # whether its offered scopes carry terms beside FB= (trillium's take none)
    customers: dict[str, requests.Session]  # the demo customer, signed in at each utility
    receiver: ThirdParty

    def scope(self, slug: str, block: int) -> str:
        fb = "FB=" + "_".join(str(b) for b in sorted({1, 3, 4, block, *BLOCKS[block].needs}))
        return fb + ";" + HISTORY if self.terms[slug] else fb

    def authorize(self, slug: str, scope: str) -> tuple[int, dict]:
        """The demo customer consents to `scope` for the demo third party (PKCE S256, which lakeshore requires;
        every usage point on the consent page): 200 and the token response, or the refusal's status and query."""
        verifier = secrets.token_urlsafe(48)
        q = {
            "client_id": tokens.DEMO[0],
            "redirect_uri": tokens.CALLBACK,
            "response_type": "code",
            "scope": scope,
            "state": "fb",
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        url = f"{self.base}/dc/{slug}/oauth/authorize?" + urlencode(q)
        customer = self.customers[slug]
        page = customer.get(url, allow_redirects=False, timeout=30)
        if page.status_code != 200:
            return page.status_code, {
                k: v[0] for k, v in parse_qs(urlsplit(page.headers.get("Location", "")).query).items()
            }
        data = {
            "csrf_token": tokens.csrf(page.text),
            "decision": "accept",
            "usage_point": re.findall(r'name="usage_point" value="(\d+)"', page.text),
        }
        r = customer.post(url, data=data, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        answer = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
        t = tokens.token(
            self.base,
            slug,
            grant_type="authorization_code",
            code=answer["code"],
            redirect_uri=tokens.CALLBACK,
            code_verifier=verifier,
        )
        assert t.status_code == 200, t.text
        return 200, t.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with small_world(tmp_path_factory.mktemp("blocks"), KEY) as server, ThirdParty() as receiver:
        base = server.url
        control = SandboxClient(base, KEY)
        slugs = [u["slug"] for u in HTTP.get(f"{base}/utilities", timeout=30).json()["utilities"]]
        offered, terms = {}, {}
        for slug in slugs:
            meta = HTTP.get(f"{base}/dc/{slug}/.well-known/oauth-authorization-server", timeout=30).json()
            offered[slug] = set().union(*(fb_numbers(s) for s in meta["scopes_supported"]))
            terms[slug] = any(";" in s for s in meta["scopes_supported"])
            control.set_notify_uri(receiver.url, utility=slug)
        yield World(base, offered, terms, {slug: tokens.signed_in(base, slug) for slug in slugs}, receiver)


def test_the_default_world_offers_blocks_at_every_utility(world):
    assert set(world.offered) == {"bayview", "harbour", "lakeshore", "prairie", "trillium"}
    assert all({1, 3, 4} <= blocks for blocks in world.offered.values())


def test_every_offered_block_has_a_check(world):
    unchecked = {slug: sorted(blocks - set(BLOCKS)) for slug, blocks in world.offered.items() if blocks - set(BLOCKS)}
    assert not unchecked, f"blocks offered without a check in BLOCKS: {unchecked}"


@pytest.mark.parametrize("block", sorted(BLOCKS), ids=[f"FB{b:02d}" for b in sorted(BLOCKS)])
def test_a_granted_block_is_in_what_the_utility_serves(world, block):
    """At each utility offering the block, a token granting it reads what the block contains; at each
    utility not offering it, the block is not granted (ESPI.md 6.1: invalid_scope)."""
    failures = []
    for slug, blocks in world.offered.items():
        scope = world.scope(slug, block)
        status, answer = world.authorize(slug, scope)
        if not {block, *BLOCKS[block].needs} <= blocks:  # the block, or one it needs, is not offered
            if status == 200 or answer.get("error") != "invalid_scope":
                failures.append(f"{slug}: FB {block} is not offered, yet {scope} answered {status} {answer}")
            continue
        if status != 200:
            failures.append(f"{slug}: {scope} refused: {status} {answer}")
            continue
        try:
            BLOCKS[block].check(Granted(world.base, slug, answer, fb_numbers(answer["scope"]), world.receiver))
        except AssertionError as e:
            failures.append(f"{slug}: {BLOCKS[block].check.__name__}: {str(e)[:400]}")
    assert not failures, "\n".join(failures)


def test_the_net_series_is_delivered_minus_received(world):
    """FB 7 with FB 8 (the issue's definition): per interval, net = delivered - received."""
    status, answer = world.authorize("bayview", "FB=1_3_4_5_7_8;" + HISTORY)  # bayview's scopes take terms
    assert status == 200, answer
    g = Granted(world.base, "bayview", answer, {1, 3, 4, 5, 7, 8}, world.receiver)
    series = {}
    for mr in g.by_kind["MeterReading"]:
        rt = reading_type_of(mr, g.feed)
        if rt.get("commodity") == 1:
            series[rt["flowDirection"]] = {
                r["start"]: r["value"] * 10 ** rt["powerOfTenMultiplier"]
                for b in blocks_of(mr, g.by_kind)
                for r in readings_of(b)
            }
    assert {1, 4, 19} <= set(series), f"flow directions served: {sorted(series)}"
    assert series[4] and set(series[4]) <= set(series[1]) & set(series[19])
    assert all(series[4][t] == series[1][t] - series[19][t] for t in series[4])
    assert any(v < 0 for v in series[4].values()), "a solar home exports more than it takes at midday"
