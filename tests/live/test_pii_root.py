"""The root-level customer (PII) resources of the Alliance's OpenAPI ({R}/Customer, CustomerAccount,
CustomerAgreement, ServiceLocation, ServiceSupplier, Meter, EndDevice, Statement, ProgramDateIdMappings, each
a collection and by id), the bill statements and their PDF documents, and Subscription/{id}, against the
real run.py (issue 22, items 5 and 6d).

What they must answer (ESPI.md 2.5, 4.2; the README's token matrix): a customer token whose scope grants
customer data sees its own customer's entries (the same ids and content as its RetailCustomer tree), the
data custodian's token every customer's, any other kind 403; another customer's id through a customer
token is a 404 with none of their data.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from espi.checks import ATOM, CUST, ESPI, assert_valid, check_feed, kind, links, parse
from lxml import etree

from sandbox.espi import urls

from . import tokens

pytestmark = pytest.mark.live

SLUG = "bayview"
ESPI_3_3 = "trillium"  # its profile writes ESPI 3.3 documents, whose customer.xsd has no Statement
KINDS = (
    "Customer",
    "CustomerAccount",
    "CustomerAgreement",
    "ServiceLocation",
    "ServiceSupplier",
    "Meter",
    "Statement",
)  # the kinds a customer's PII tree holds
ROOTS = (*KINDS, "EndDevice", "ProgramDateIdMappings")
BILLING = {46, 56}  # Core RetailCustomer, Retail Customer Billing Information
PII = {46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60}
HTTP = requests.Session()
HTTP.trust_env = False  # loopback only, never a proxy


def get(url: str, token: str | None, **query: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.get(url, params=query or None, headers=headers, timeout=120)


def doc(url: str, token: str, **query: str) -> etree._Element:
    r = get(url, token, **query)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/atom+xml"), r.headers
    return parse(r.content)


def last(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[1]


def blocks(scope: str) -> set[int]:
    m = re.match(r"FB=([\d_]+)", scope)
    return {int(x) for x in m.group(1).split("_")} if m else set()


def with_blocks(scope: str, fbs: set[int]) -> str:
    return re.sub(r"FB=[\d_]+", "FB=" + "_".join(str(b) for b in sorted(fbs)), scope, count=1)


def by_id(root: etree._Element) -> dict[str, etree._Element]:
    """A document's entries by the id of their self link."""
    entries = [root] if root.tag == ATOM + "entry" else root.findall(ATOM + "entry")
    return {last(links(e, "self")[0]): e for e in entries}


def content(e: etree._Element) -> bytes:
    return etree.tostring(e.find(ATOM + "content")[0], method="c14n")


def texts_of(e: etree._Element) -> set[str]:
    return {t.strip() for t in e.find(ATOM + "content").itertext() if len(t.strip()) > 5}


def refused(r: requests.Response, status: int, error: str) -> dict:
    assert r.status_code == status, (r.url, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["error"] == error and body["error_description"] and r.headers.get("X-Sandbox-Reason"), body
    return body


class World:
    def __init__(self, base: str):
        self.base = base
        self.root = urls.resource_root(base, SLUG)
        scopes = tokens.offered_scopes(base, SLUG)
        self.pii_scope = next(s for s in scopes if blocks(s) & BILLING)
        self.usage_scope = next(s for s in scopes if not blocks(s) & PII)
        self.a = tokens.customer_token(base, SLUG, self.pii_scope)  # every usage point of the demo customer
        self.a_usage = tokens.customer_token(base, SLUG, self.usage_scope)
        # customer data, but not billing information: no statements
        self.a_no_bills = tokens.customer_token(
            base, SLUG, with_blocks(self.pii_scope, blocks(self.pii_scope) - BILLING)
        )
        self.c = tokens.client_token(base, SLUG)["access_token"]
        self.u = tokens.client_token(base, SLUG, tokens.UPLOAD)["access_token"]
        self.d = tokens.client_token(base, SLUG, tokens.CUSTODIAN)["access_token"]
        self.batch = doc(self.a["customerResourceURI"], self.a["access_token"])
        self.rc = last(self.a["customerResourceURI"])

    @property
    def token(self) -> str:
        return self.a["access_token"]

    def url(self, path: str) -> str:
        return f"{self.root}/{path}"

    def own(self, name: str) -> dict[str, etree._Element]:
        """The A token's own entries of one kind, from its PII batch (customerResourceURI)."""
        return {i: e for i, e in by_id(self.batch).items() if kind(e) == name}


@pytest.fixture(scope="module")
def w(live) -> World:
    return World(live)


@pytest.mark.parametrize("name", KINDS)
def test_a_customer_token_reads_its_own_entries_at_the_root(w, name):
    """{R}/{kind} holds exactly the kind's entries of the customer's PII batch; {R}/{kind}/{id} each of them,
    the same entry (self link, title, content); every document schema-valid."""
    own = w.own(name)
    assert own, f"the PII batch holds no {name}"
    feed = doc(w.url(name), w.token)
    found = check_feed(feed, "cust", related_resolve=False)
    assert set(found) == {name}
    assert set(by_id(feed)) == set(own)
    for ident, mine in own.items():
        one = doc(w.url(f"{name}/{ident}"), w.token)
        assert one.tag == ATOM + "entry"
        assert_valid(one)
        assert links(one, "self") == links(mine, "self") and links(one, "up") == links(mine, "up")
        assert one.findtext(ATOM + "title") == mine.findtext(ATOM + "title")
        assert content(one) == content(mine)


def test_the_data_custodian_reads_every_customers_entries(w):
    """D's root collections hold every customer's entries, the A token's customer's among them, each
    readable by id."""
    customers = by_id(doc(w.url("Customer"), w.d))
    assert len(customers) >= 3 and set(w.own("Customer")) < set(customers)
    for name in KINDS:
        feed = doc(w.url(name), w.d)
        check_feed(feed, "cust", related_resolve=False)
        everyone = by_id(feed)
        assert set(w.own(name)) <= set(everyone), name
        owners = {links(e, "self")[0].split("/RetailCustomer/")[1].split("/")[0] for e in everyone.values()}
        assert len(owners) >= 3, (name, owners)  # ServiceSupplier too: one per customer's agreement
        other = next(i for i in everyone if i not in w.own(name))
        assert content(doc(w.url(f"{name}/{other}"), w.d)) == content(everyone[other])


@pytest.mark.parametrize("name", KINDS)
def test_another_customers_id_is_not_there_for_a_customer_token(w, name):
    theirs = {i: e for i, e in by_id(doc(w.url(name), w.d)).items() if i not in w.own(name)}
    assert theirs
    other, entry = next(iter(theirs.items()))
    r = get(w.url(f"{name}/{other}"), w.token)
    refused(r, 404, "not_found")
    mine = {t for e in w.own(name).values() for t in texts_of(e)}  # the utility's own (ServiceSupplier) are shared
    assert not [t for t in texts_of(entry) - mine if t.encode() in r.content]
    # and their statement's document
    if name == "Statement":
        refused(get(w.url(f"Statement/{other}/Document"), w.token), 404, "not_found")


def test_a_customer_token_without_customer_data_is_refused_every_root_path(w):
    for name in ROOTS:
        for path in (name, urls.path(name, **_ids())):
            body = refused(get(w.url(path), w.a_usage["access_token"]), 403, "insufficient_scope")
            assert "FB_" in body["error_description"], body
    refused(
        get(w.url(f"Statement/{_ids()['statement_id']}/Document"), w.a_usage["access_token"]), 403, "insufficient_scope"
    )


def _ids() -> dict[str, str]:
    """Ids for paths a refused token never gets to look up (the policy judges before anything is found)."""
    return {
        n: "00000000-0000-5000-8000-000000000001"
        for n in (
            "customer_id",
            "customer_account_id",
            "customer_agreement_id",
            "service_location_id",
            "service_supplier_id",
            "meter_id",
            "end_device_id",
            "statement_id",
            "program_date_id_mappings_id",
        )
    }


def test_statements_need_billing_information_in_the_scope(w):
    """A customer-data scope without FB 46 or 56: Statement 403 naming them, the rest served, and its
    PII batch holds no Statement."""
    t = w.a_no_bills["access_token"]
    for path in (
        "Statement",
        f"Statement/{next(iter(w.own('Statement')))}",
        f"Statement/{next(iter(w.own('Statement')))}/Document",
    ):
        body = refused(get(w.url(path), t), 403, "insufficient_scope")
        assert "FB_46" in body["error_description"] and "FB_56" in body["error_description"], body
    assert doc(w.url("Customer"), t).find(ATOM + "entry") is not None
    batch = doc(w.a_no_bills["customerResourceURI"], t)
    found = check_feed(batch, "cust")
    assert "Statement" not in found and {"Customer", "CustomerAccount", "Meter"} <= set(found)


@pytest.mark.parametrize("who", ["C", "U"])
def test_client_and_upload_tokens_are_refused_naming_the_kinds_needed(w, who):
    token = w.c if who == "C" else w.u
    for name in ROOTS:
        body = refused(get(w.url(name), token), 403, "access_denied")
        assert "customer access token" in body["error_description"], body
        assert "data custodian access token" in body["error_description"], body
    refused(get(w.url(f"Statement/{next(iter(w.own('Statement')))}/Document"), token), 403, "access_denied")
    refused(get(w.url("Customer"), None), 401, "unauthorized")


def test_statements_are_the_customers_billed_months(w):
    """One Statement a month, as the customer's UsageSummary entries (the same bills): each issued when
    its billing period ends, named after its month, pointing at a PDF."""
    statements = w.own("Statement")
    issued = {}
    for e in statements.values():
        st = e.find(f"{ATOM}content/{CUST}Statement")
        ref = st.find(CUST + "statementRef")
        assert ref.findtext(CUST + "mediaType") == "application/pdf"
        assert re.fullmatch(r"bill-\d{4}-\d\d\.pdf", ref.findtext(CUST + "fileName"))
        assert ref.findtext(CUST + "statementURL") == w.url(f"Statement/{last(links(e, 'self')[0])}/Document")
        issued[int(st.findtext(CUST + "issueDateTime"))] = ref.findtext(CUST + "fileName")
    assert len(issued) == len(statements) >= 2
    # the bills of the customer's usage points, as the data custodian reads their UsageSummary entries
    ends: set[int] = set()
    for up in by_id(doc(w.url(f"RetailCustomer/{w.rc}/UsagePoint"), w.d)):
        summaries = doc(w.url(f"RetailCustomer/{w.rc}/UsagePoint/{up}/UsageSummary"), w.d)
        for period in summaries.iter(ESPI + "billingPeriod"):
            ends.add(int(period.findtext(ESPI + "start")) + int(period.findtext(ESPI + "duration")))
    assert ends and set(issued) == ends
    for when, name in issued.items():  # named after the month that ends when it is issued
        month = dt.datetime.fromtimestamp(when - 12 * 3600, dt.timezone.utc)
        assert name == f"bill-{month:%Y-%m}.pdf", (when, name)


def test_a_statements_url_answers_its_pdf(w):
    """statementURL with the customer's token (and the data custodian's): the bill as a PDF download."""
    e = max(w.own("Statement").values(), key=lambda e: e.findtext(ATOM + "published"))
    ref = e.find(f"{ATOM}content/{CUST}Statement/{CUST}statementRef")
    for token in (w.token, w.d):
        r = get(ref.findtext(CUST + "statementURL"), token)
        assert r.status_code == 200, r.text[:300]
        assert r.headers["Content-Type"] == "application/pdf"
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment") and ref.findtext(CUST + "fileName") in disposition
        assert r.content.startswith(b"%PDF-") and len(r.content) > 500
    refused(get(ref.findtext(CUST + "statementURL"), None), 401, "unauthorized")
    refused(get(w.url("Statement/00000000-0000-5000-8000-000000000001/Document"), w.d), 404, "not_found")


def test_statements_hang_from_the_account_in_the_pii_tree(w):
    """The batch links the account to its Statement collection; each Statement's self and up links
    resolve in the RetailCustomer tree to the same entry and its siblings."""
    check_feed(w.batch, "cust")
    (account,) = w.own("CustomerAccount").values()
    collection = next(h for h in links(account, "related") if h.endswith("/Statement"))
    assert collection == links(account, "self")[0] + "/Statement"
    feed = doc(collection, w.token)
    check_feed(feed, "cust", related_resolve=False)
    assert set(by_id(feed)) == set(w.own("Statement"))
    for e in w.own("Statement").values():
        assert content(doc(links(e, "self")[0], w.token)) == content(e)
        assert links(e, "up") == [collection]


def test_end_device_is_an_empty_collection(w):
    for token in (w.token, w.d):
        feed = doc(w.url("EndDevice"), token)
        assert_valid(feed)
        assert feed.tag == ATOM + "feed" and feed.find(ATOM + "entry") is None
        refused(get(w.url(f"EndDevice/{next(iter(w.own('Meter')))}"), token), 404, "not_found")


def test_program_date_id_mappings_are_the_codes_the_readings_carry(w):
    """One ProgramDateIdMappings a tariff code; every tou code an IntervalReading carries is among them."""
    feed = doc(w.url("ProgramDateIdMappings"), w.token)
    found = check_feed(feed, "cust", related_resolve=False)
    assert set(found) == {"ProgramDateIdMappings"}
    codes: dict[str, set[str]] = {}
    for e in found["ProgramDateIdMappings"]:
        m = e.find(f"{ATOM}content/{CUST}ProgramDateIdMappings/{CUST}programDateIdMapping")
        codes.setdefault(m.findtext(CUST + "programDateType"), set()).add(m.findtext(CUST + "code"))
        assert m.findtext(CUST + "name")
        one = doc(links(e, "self")[0], w.d)
        assert content(one) == content(e)
    assert by_id(doc(w.url("ProgramDateIdMappings"), w.d)).keys() == by_id(feed).keys()
    # the tou codes of the data custodian's read of one electricity interval block of the customer
    up = next(
        i
        for i, e in by_id(doc(w.url(f"RetailCustomer/{w.rc}/UsagePoint"), w.d)).items()
        if e.find(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind").text == "0"
    )
    base = w.url(f"RetailCustomer/{w.rc}/UsagePoint/{up}/MeterReading")
    seen: set[str] = set()
    for mr in by_id(doc(base, w.d)):
        blocks_feed = doc(f"{base}/{mr}/IntervalBlock", w.d, **{"max-results": "2"})
        seen |= {t.text for t in blocks_feed.iter(ESPI + "tou")}
    assert seen and seen <= codes["tou"], (seen, codes)
    refused(get(w.url("ProgramDateIdMappings/00000000-0000-5000-8000-000000000001"), w.token), 404, "not_found")


def test_subscription_is_a_feed_of_its_usage_points(w):
    """{R}/Subscription/{id} (ESPI.md {P}): the subscription's UsagePoint entries, for its own customer
    token and the data custodian; another kind 403, another subscription 403."""
    sub = w.a["resourceURI"].replace("/Batch/Subscription/", "/Subscription/")
    want = by_id(doc(f"{sub}/UsagePoint", w.token))
    assert want
    for token in (w.token, w.d):
        feed = doc(sub, token)
        found = check_feed(feed, related_resolve=False)
        assert set(found) == {"UsagePoint"} and set(by_id(feed)) == set(want)
        assert links(feed, "self") == [sub]
    refused(get(sub, w.c), 403, "access_denied")
    other = w.a_usage["resourceURI"].replace("/Batch/Subscription/", "/Subscription/")
    refused(get(other, w.token), 403, "access_denied")


def test_an_espi_3_3_utility_serves_no_statements(live):
    """ESPI 3.3's customer.xsd has no Statement: a 3.3 utility's PII documents leave them out (schema-valid
    in 3.3) and its Statement collection is empty."""
    root = urls.resource_root(live, ESPI_3_3)
    d = tokens.client_token(live, ESPI_3_3, tokens.CUSTODIAN)["access_token"]
    statements = doc(f"{root}/Statement", d)
    assert statements.find(ATOM + "entry") is None
    customers = doc(f"{root}/Customer", d)
    assert_valid(customers, "3.3")
    rc = links(customers.find(ATOM + "entry"), "self")[0].split("/RetailCustomer/")[1].split("/")[0]
    batch = doc(f"{root}/Batch/RetailCustomer/{rc}", d)
    assert_valid(batch, "3.3")
    assert {kind(e) for e in batch.findall(ATOM + "entry")} >= {"Customer", "CustomerAccount"}
    assert b"Statement" not in etree.tostring(batch)
