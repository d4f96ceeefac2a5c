"""The access matrix over real HTTP: every resource path x GET/PUT/POST/DELETE x token kind answers what
ESPI.md 4.1-4.5 says, and nobody reaches another customer's or another third party's data by its ids.

The oracle is ORACLE below, written from ESPI.md 4.2 (access rules) and 4.3 (endpoint table), not from
the sandbox's access policy; `test_the_access_policy_matrix_is_the_oracle` keeps `access.MATRIX` and it
the same. What a caller gets (ESPI.md 4.5 and the sandbox's JSON refusals):

* an allowed kind: 2xx (an Atom document for a GET); a PUT or POST sent with an empty body may answer
  400 instead ("allowed, but a bad body": the token passed, the body did not), which this file sends on
  purpose so that nothing changes;
* a kind the path does not admit: 403 JSON with `error` and `X-Sandbox-Reason`;
* a customer (A) token of an admitted kind whose scope lacks the path's function block (ESPI.md 6.2):
  403 `insufficient_scope`;
* no Authorization header: 401 with `WWW-Authenticate: Bearer ...`;
* an unknown bearer token: 401, `error="invalid_token"`;
* a method the path does not answer: the token is judged first (401 without a usable one); a
  token of a kind that may never call it gets 403 (ESPI.md checklist 5: a customer token's
  PUT/POST/DELETE is 403 on every path), and the data custodian's token, the one kind ESPI would let
  call it, gets 405 JSON with `Allow` (the sandbox does not offer it).

Every refusal is JSON (`error`, `error_description`), never HTML. DELETE calls (which revoke an
authorization or delete a registration) run in the last test, on resources made for them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
import requests

from sandbox.espi import urls
from sandbox.services import access

from . import tokens
from .server import ROOT

pytestmark = pytest.mark.live

SLUG = "bayview"
OTHER_UTILITY = "lakeshore"
METHODS = ("GET", "PUT", "POST", "DELETE")
KINDS = "ACUDR"
CALLERS = (*KINDS, "none", "garbage")
GARBAGE = "Bearer not-a-token-of-this-sandbox-0000000000"
QUERY = {"max-results": "2"}  # every GET: small documents, the same access decision

# --- the oracle: ESPI.md 4.2 and 4.3, in the sandbox's placeholder names ---------------------------------

SUB = "Subscription/{subscription_id}"
RC = "RetailCustomer/{retail_customer_id}"
_UP = "UsagePoint/{usage_point_id}"
# the usage-point tree below a parent (ESPI.md 4.3 rows /Subscription/{sid}/UsagePoint...)
TREE = (
    "UsagePoint",
    _UP,
    f"{_UP}/MeterReading",
    f"{_UP}/MeterReading/{{meter_reading_id}}",
    f"{_UP}/MeterReading/{{meter_reading_id}}/IntervalBlock",
    f"{_UP}/MeterReading/{{meter_reading_id}}/IntervalBlock/{{interval_block_id}}",
    f"{_UP}/UsageSummary",
    f"{_UP}/UsageSummary/{{usage_summary_id}}",
    f"{_UP}/ElectricPowerUsageSummary",
    f"{_UP}/ElectricPowerUsageSummary/{{usage_summary_id}}",
    f"{_UP}/ElectricPowerQualitySummary",
    f"{_UP}/ElectricPowerQualitySummary/{{quality_summary_id}}",
)

# the OpenAPI's root-level PII paths and the sandbox's placeholder for each member's id
PII_ROOT = (
    ("Customer", "customer_id"),
    ("CustomerAccount", "customer_account_id"),
    ("CustomerAgreement", "customer_agreement_id"),
    ("ServiceLocation", "service_location_id"),
    ("ServiceSupplier", "service_supplier_id"),
    ("Meter", "meter_id"),
    ("EndDevice", "end_device_id"),
    ("Statement", "statement_id"),
    ("ProgramDateIdMappings", "program_date_id_mappings_id"),
)

ORACLE: dict[str, dict[str, str]] = {
    # management (4.3 second table; 4.2: C and U may GET ReadServiceStatus)
    "ReadServiceStatus": {"GET": "CUD"},
    "ApplicationInformation": {"GET": "D"},  # checklist 11; its POST (D) is in NOT_SERVED
    "ApplicationInformation/{application_id}": {"GET": "DR", "PUT": "DR", "DELETE": "DR"},  # 4.2: R its own only
    # 4.3: D, C. 4.2: the upload token may read its own Authorization/{id}, not the collection
    "Authorization": {"GET": "CD"},
    "Authorization/{authorization_id}": {"GET": "CUD", "PUT": "CD", "DELETE": "CD"},
    # usage data and batch (4.3 first table)
    "Batch/Subscription/{subscription_id}": {"GET": "AD"},
    "Batch/Subscription/{subscription_id}/UsagePoint": {"GET": "AD"},
    "Batch/Subscription/{subscription_id}/UsagePoint/{usage_point_id}": {"GET": "AD"},
    "Batch/Bulk/{bulk_id}": {"GET": "CD"},
    "Batch/RetailCustomer/{retail_customer_id}": {"GET": "AD"},
    "Batch/RetailCustomer/{retail_customer_id}/UsagePoint": {"GET": "UD", "POST": "UD"},
    "Batch/RetailCustomer/{retail_customer_id}/UsagePoint/{usage_point_id}": {"GET": "UD"},
    **{f"{SUB}/{p}": {"GET": "AD"} for p in TREE},
    # 4.3 /RetailCustomer...: D; 4.2: the upload token reaches .../Batch/RetailCustomer/... only, and a
    # customer token only its own Subscription
    **{f"{RC}/{p}": {"GET": "D"} for p in TREE},
    f"{RC}/Customer": {"GET": "AD"},  # FB_50: D/A GET under /RetailCustomer/{rcId}/Customer/...
    f"{RC}/Customer/{{rest:path}}": {"GET": "AD"},
    "ReadingType": {"GET": "AD"},  # 4.2: customer tokens may GET .../ReadingType... and .../LocalTimeParameters...
    "ReadingType/{reading_type_id}": {"GET": "AD"},
    "LocalTimeParameters": {"GET": "AD"},
    "LocalTimeParameters/{local_time_parameters_id}": {"GET": "AD"},
    "UsagePoint": {"GET": "D"},  # the DC-wide collections (FB_33)
    "UsagePoint/{usage_point_id}": {"GET": "D"},
    "MeterReading": {"GET": "D"},
    "MeterReading/{meter_reading_id}": {"GET": "D"},
    "IntervalBlock": {"GET": "D"},
    "IntervalBlock/{interval_block_id}": {"GET": "D"},
    # ESPI.md {P}: the subscription itself, the parent of its usage points (served as their feed)
    SUB: {"GET": "AD"},
    # the Alliance's OpenAPI root-level customer resources (ESPI.md 2.5 variant 3; FB_50: D/A GET), each a
    # collection and by id, and the bill document a Statement's statementURL names
    **{p: {"GET": "AD"} for root, name in PII_ROOT for p in (root, f"{root}/{{{name}}}")},
    "Statement/{statement_id}/Document": {"GET": "AD"},
}

# Rows of ESPI.md 4.3 the sandbox does not serve: the data custodian's resource-level CRUD (usage is
# computed from the world, not stored records) and the rows 4.3 marks "reference only" / "not implemented".
# Each answers a JSON 405 (the path is routed for other methods) or 404 (not routed at all).
NOT_SERVED: tuple[tuple[str, str, str], ...] = (
    ("ApplicationInformation", "POST", "D: registrations come through /espi/1_1/register (RFC 7591)"),
    ("Authorization", "POST", "D: 'reference only'"),
    *((f"{SUB}/{p}", "POST", "D: resource-level CRUD") for p in TREE[0::2] if "Summary" not in p or "Electric" in p),
    *(
        (f"{SUB}/{p}", m, "D: resource-level CRUD")
        for p in TREE[1::2]
        if "Summary" not in p or "Electric" in p
        for m in ("PUT", "DELETE")
    ),
    *(
        (p, "POST", "D: resource-level CRUD")
        for p in ("ReadingType", "LocalTimeParameters", "UsagePoint", "MeterReading", "IntervalBlock")
    ),
    *(
        (p, m, "D: resource-level CRUD")
        for p in (
            "ReadingType/{reading_type_id}",
            "LocalTimeParameters/{local_time_parameters_id}",
            "UsagePoint/{usage_point_id}",
            "MeterReading/{meter_reading_id}",
            "IntervalBlock/{interval_block_id}",
        )
        for m in ("PUT", "DELETE")
    ),
    *(
        (p, m, "D: 'reference only'")
        for p in ("ElectricPowerUsageSummary", "ElectricPowerQualitySummary")
        for m in METHODS
    ),
    *(
        (p, m, "D: 'reference only'")
        for p in ("ElectricPowerUsageSummary/{usage_summary_id}", "ElectricPowerQualitySummary/{quality_summary_id}")
        for m in METHODS
    ),
    *(("RetailCustomer", m, "D: reference-specific XML") for m in METHODS),
    *((RC, m, "D: reference-specific XML") for m in METHODS),
    *((f"{RC}/Authorization", m, "D: 'reference only'") for m in METHODS),
    *((f"{RC}/Authorization/{{authorization_id}}", m, "D: 'reference only'") for m in METHODS),
    ("Batch/BulkRetailCustomerInfo/{bulk_id}", "GET", "D, C: 'not implemented anywhere in the reference'"),
)

# Function blocks a customer (A) token's scope must hold (ESPI.md 4.3 FB column, 6.2 and checklist 69):
# one of them. Paths not named need none beyond the token kind.
PII_BLOCKS = frozenset({46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60})
A_BLOCKS: dict[str, frozenset[int]] = {
    "Batch/RetailCustomer/{retail_customer_id}": PII_BLOCKS,
    f"{RC}/Customer": PII_BLOCKS,
    f"{RC}/Customer/{{rest:path}}": PII_BLOCKS,
    **{p: PII_BLOCKS for root, name in PII_ROOT for p in (root, f"{root}/{{{name}}}")},
    # 6.2: a customer's bills are FB 56 Retail Customer Billing Information (46, Core RetailCustomer, holds all)
    **{p: frozenset({46, 56}) for p in ("Statement", "Statement/{statement_id}", "Statement/{statement_id}/Document")},
    **{f"{SUB}/{p}": frozenset({15, 16}) for p in TREE if "UsageSummary" in p},  # 6.2: 15 Usage Summary, 16 with cost
    **{f"{SUB}/{p}": frozenset({17}) for p in TREE if "QualitySummary" in p},  # 6.2: 17 Power Quality Summary
}

# The sandbox measures no power quality: that collection is an empty feed and no member exists, so an
# allowed GET of a member is a JSON 404 (there is no id to ask for).
NO_MEMBERS = frozenset(p for p in ORACLE if p.endswith("{quality_summary_id}"))
# Neither has it end devices other than its meters (served as Meter): EndDevice is an empty collection.
NO_MEMBERS |= {"EndDevice/{end_device_id}"}
# GETs answered with a document other than Atom: the bill (a PDF download)
PDF = frozenset({"Statement/{statement_id}/Document"})


def test_the_oracle_names_paths_of_the_url_table():
    table = {r.path for r in urls.RESOURCES}
    assert set(ORACLE) - table == set()
    served = {urls.template(name) for name in access.served()}
    assert set(ORACLE) == served, "the sandbox serves paths the oracle does not list, or the reverse"


def test_the_access_policy_matrix_is_the_oracle():
    """access.MATRIX gives the same token kinds per path and method as ESPI.md (ORACLE); nothing of
    NOT_SERVED is served."""
    matrix: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rule in access.MATRIX:
        for method in rule.methods:
            matrix[urls.template(rule.resource)][method] |= {access.LETTERS[k] for k in rule.kinds}
    differences = []
    for path in sorted(set(ORACLE) | set(matrix)):
        for method in METHODS:
            want = set(ORACLE.get(path, {}).get(method, ""))
            got = matrix.get(path, {}).get(method, set())
            if want != got:
                differences.append(
                    f"{method} {path}: ESPI.md {''.join(sorted(want)) or '-'}, "
                    f"access.MATRIX {''.join(sorted(got)) or '-'}"
                )
    for path, method, _ in NOT_SERVED:
        if method in matrix.get(path, {}):
            differences.append(f"{method} {path}: in NOT_SERVED but served; move it to ORACLE")
    assert not differences, "\n".join(differences)


def test_the_not_served_rows_are_not_in_the_oracle():
    for path, method, _ in NOT_SERVED:
        assert method not in ORACLE.get(path, {}), (path, method)


# --- talking to the live sandbox -----------------------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"
HTTP = requests.Session()
HTTP.trust_env = False  # loopback only, never a proxy


@dataclass
class Got:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> dict:
        return json.loads(self.body)


def call(
    method: str,
    url: str,
    token: str | None = None,
    authorization: str | None = None,
    query: dict | None = None,
    headers: dict | None = None,
) -> Got:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        h["Authorization"] = authorization
    data = b"" if method in ("PUT", "POST") else None
    r = HTTP.request(method, url, params=query, headers=h, data=data, timeout=60, allow_redirects=False)
    return Got(r.status_code, r.headers, r.content, r.url)


def last(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[1]


@dataclass
class AtomEntry:
    self: str
    related: list[str]

    @property
    def id(self) -> str:
        return last(self.self)

    def related_id(self, kind: str) -> str | None:
        for href in self.related:
            if f"/{kind}/" in href:
                return last(href)
        return None


def entries(body: bytes) -> list[AtomEntry]:
    root = ET.fromstring(body)
    out = []
    for e in root.iter(f"{ATOM}entry"):
        links = e.findall(f"{ATOM}link")
        out.append(
            AtomEntry(
                next(str(x.get("href")) for x in links if x.get("rel") == "self"),
                [str(x.get("href")) for x in links if x.get("rel") == "related"],
            )
        )
    return out


def read(url: str, token: str, **query: str) -> bytes:
    got = call("GET", url, token, query=query or None)
    assert got.status == 200, (url, got.status, got.text[:300])
    return got.body


@dataclass
class Holder:
    """One authorization's ids, read over HTTP with its own token, and everything of it that must not
    reach anybody else (`secrets`)."""

    token: dict
    ids: dict[str, str] = field(default_factory=dict)
    all_ids: set[str] = field(default_factory=set)
    reading_types: set[str] = field(default_factory=set)
    pii: set[str] = field(default_factory=set)

    @property
    def access(self) -> str:
        return self.token["access_token"]

    def secrets(self) -> set[str]:
        return set(self.all_ids) | set(self.ids.values()) | self.reading_types | self.pii


def holder(root: str, tok: dict) -> Holder:
    """The ids of a customer token's subscription (ESPI.md 4.1: resourceURI, authorizationURI,
    customerResourceURI), its usage points' trees and its PII."""
    h = Holder(tok)
    sid, t = last(tok["resourceURI"]), tok["access_token"]
    h.ids |= {"subscription_id": sid, "authorization_id": last(tok["authorizationURI"])}
    candidates: list[dict[str, str]] = []
    for up in entries(read(f"{root}/Subscription/{sid}/UsagePoint", t)):
        h.all_ids.add(up.id)
        up_entry = entries(read(up.self, t))[0]  # the entry itself carries the related links
        here: dict[str, str] = {"usage_point_id": up.id}
        ltp = up_entry.related_id("LocalTimeParameters")
        if ltp:
            here["local_time_parameters_id"] = ltp
        for mr in entries(read(f"{up.self}/MeterReading", t)):
            h.all_ids.add(mr.id)
            rt = mr.related_id("ReadingType")
            if rt:
                h.reading_types.add(rt)
            blocks = entries(read(f"{mr.self}/IntervalBlock", t, **{"max-results": "1"}))
            h.all_ids |= {b.id for b in blocks}
            if blocks and "interval_block_id" not in here:
                here |= {"meter_reading_id": mr.id, "interval_block_id": blocks[0].id}
                if rt:
                    here["reading_type_id"] = rt
        summaries = entries(read(f"{up.self}/UsageSummary", t, **{"max-results": "1"}))
        h.all_ids |= {s.id for s in summaries}
        if summaries:
            here["usage_summary_id"] = summaries[0].id
        candidates.append(here)
    # the usage point with the most kinds of ids (blocks and bills), the first of equals
    chosen = max(candidates, key=len) if candidates else {}
    h.ids |= chosen
    if tok.get("customerResourceURI"):
        rc = last(tok["customerResourceURI"])
        h.ids["retail_customer_id"] = rc
        body = read(tok["customerResourceURI"], t)
        customer = next(e for e in entries(body) if "/Customer/" in e.self and e.self.count("/Customer") == 1)
        h.ids["rest"] = customer.self.split("/Customer/", 1)[1]
        h.all_ids |= {e.id for e in entries(body)}
        id_names = dict(PII_ROOT)
        for e in entries(body):  # the first of each kind, for the root-level paths ({R}/Customer/{id}...)
            collection = e.self.rsplit("/", 2)[1]
            if collection in id_names:
                h.ids.setdefault(id_names[collection], e.id)
        mappings = entries(read(f"{root}/ProgramDateIdMappings", t))
        h.ids["program_date_id_mappings_id"] = mappings[0].id
        text = body.decode()
        for tag in ("customerName", "email1", "addressGeneral", "accountId", "localNumber"):
            h.pii |= {v.strip() for v in re.findall(rf"<cust:{tag}>([^<]+)</cust:{tag}>", text) if len(v.strip()) > 5}
    return h


def consent_choices(base: str, slug: str, customer: requests.Session, client_id: str, scope: str) -> dict[str, str]:
    """The consent page's usage points: commodity -> the checkbox value."""
    q = {
        "client_id": client_id,
        "redirect_uri": tokens.CALLBACK,
        "response_type": "code",
        "scope": scope,
        "state": "st",
    }
    page = customer.get(f"{base}/dc/{slug}/oauth/authorize?" + urlencode(q), timeout=30).text
    found = re.findall(r'name="usage_point" value="(\d+)"[^>]*>\s*<span><span class="commodity (\w+)"', page)
    return {commodity: value for value, commodity in found}


def authorize(
    base: str, slug: str, customer: requests.Session, scope: str, client: tuple[str, str], usage_points: list[str]
) -> dict:
    """A customer token of `client` for the chosen usage points: the token response."""
    answer = tokens.code_for(base, slug, scope, customer, client_id=client[0], usage_points=usage_points)
    r = tokens.token(
        base, slug, client, grant_type="authorization_code", code=answer["code"], redirect_uri=tokens.CALLBACK
    )
    assert r.status_code == 200, r.text
    return r.json()


def revoke_all_sharing(base: str, slug: str, customer: requests.Session) -> int:
    """The customer revokes every current authorization on the portal's Sharing page, as a customer
    would; the number revoked."""
    page = customer.get(f"{base}/dc/{slug}/sharing", timeout=30).text
    found = sorted(set(re.findall(rf"/dc/{slug}/sharing/(\d+)/revoke", page)))
    for auth_id in found:
        url = f"{base}/dc/{slug}/sharing/{auth_id}/revoke"
        confirm = customer.get(url, timeout=30).text
        r = customer.post(url, data={"csrf_token": tokens.csrf(confirm)}, allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text[:300]
    return len(found)


def register(base: str, slug: str, name: str) -> dict:
    meta = {"client_name": name, "redirect_uris": [tokens.CALLBACK], "contacts": ["matrix@tp.example"]}
    r = HTTP.post(f"{base}/dc/{slug}/espi/1_1/register", json=meta, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 201, r.text
    reg = r.json()
    reg["application_id"] = last(reg["registration_client_uri"])
    return reg


def other_customer(base: str, slug: str) -> dict[str, str]:
    """A generated customer still in service, from the staff view (README: staff/staff): username and
    what staff see of them."""
    s = requests.Session()
    s.trust_env = False
    page = s.get(f"{base}/dc/{slug}/admin/", timeout=30).text
    r = s.post(
        f"{base}/dc/{slug}/admin/login",
        data={"username": "staff", "password": "staff", "csrf_token": tokens.csrf(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303, r.text[:300]
    page = s.get(f"{base}/dc/{slug}/admin/", timeout=30).text
    row = re.compile(
        r'<th scope="row"><a [^>]*>([^<]+)</a></th><td>(\d+)</td>\s*<td>([^<]+)</td>'
        r"<td><code>([^<]+)</code></td><td>([^<]*)</td>"
    )
    for name, account, address, username, home in row.findall(page):
        if username != "demo" and "service ends" not in home:
            return {"name": name, "account": account, "street": address.split(",")[0], "username": username}
    raise AssertionError("no generated customer in service")


@dataclass
class World:
    base: str
    root: str  # the resource root {R}
    tok: dict[str, str]  # caller letter -> access token
    a: Holder  # the demo customer's authorization of the demo third party (electricity only), PII scope
    a_usage: Holder  # the same customer and third party, the usage-only scope
    b: Holder  # another customer's authorization of the demo third party
    t2: Holder  # the demo customer's authorization (gas only) of another third party (REG1)
    reg1: dict  # the R token's registration: the other third party
    reg2: dict  # a second registration, for R-token isolation
    upload_authorization: str  # the U token's own Authorization id
    t2_client_authorization: str  # the other third party's client-credentials Authorization id
    pii_scope: str
    usage_scope: str
    demo: requests.Session  # the demo customer, signed in

    def ids(self, caller: str) -> dict[str, str]:
        ids = dict(self.a.ids)
        ids.setdefault("quality_summary_id", "00000000-0000-5000-8000-000000000017")
        ids.setdefault("end_device_id", "00000000-0000-5000-8000-000000000018")
        ids |= {"application_id": self.reg1["application_id"], "bulk_id": tokens.DEMO[0]}
        if caller == "U":  # its own Authorization (ESPI.md 4.2)
            ids["authorization_id"] = self.upload_authorization
        return ids


def blocks_of(scope: str) -> set[int]:
    m = re.match(r"FB=([\d_]+)", scope)
    return {int(x) for x in m.group(1).split("_")} if m else set()


@pytest.fixture(scope="module")
def world(live) -> World:
    base = live
    root = urls.resource_root(base, SLUG)
    scopes = tokens.offered_scopes(base, SLUG)
    pii_scope = next(s for s in scopes if blocks_of(s) & PII_BLOCKS)
    usage_scope = next(s for s in scopes if not blocks_of(s) & PII_BLOCKS)
    demo = tokens.signed_in(base, SLUG)
    # an earlier consent of the demo customer would share all its usage points with the demo third
    # party; without it, the gas usage point shared with the other third party below is that party's alone
    revoke_all_sharing(base, SLUG, demo)  # none seeded; any a test before left
    choices = consent_choices(base, SLUG, demo, tokens.DEMO[0], pii_scope)
    assert {"electricity", "gas"} <= set(choices), choices

    reg1, reg2 = register(base, SLUG, "Matrix Other Party"), register(base, SLUG, "Matrix Second Registration")
    a = holder(root, authorize(base, SLUG, demo, pii_scope, tokens.DEMO, [choices["electricity"]]))
    a_usage = holder(root, authorize(base, SLUG, demo, usage_scope, tokens.DEMO, [choices["electricity"]]))
    t2 = holder(
        root, authorize(base, SLUG, demo, pii_scope, (reg1["client_id"], reg1["client_secret"]), [choices["gas"]])
    )

    who = other_customer(base, SLUG)
    password = tomllib.loads((ROOT / "seed_data" / "world.toml").read_text())["customer_password"]
    b = holder(root, tokens.customer_token(base, SLUG, pii_scope, who["username"], password))
    b.pii |= {who["name"], who["account"], who["street"]}

    c, u, d = (tokens.client_token(base, SLUG, cred) for cred in (tokens.DEMO, tokens.UPLOAD, tokens.CUSTODIAN))
    t2_client = tokens.client_token(base, SLUG, (reg1["client_id"], reg1["client_secret"]))
    tok = {
        "A": a.access,
        "C": c["access_token"],
        "U": u["access_token"],
        "D": d["access_token"],
        "R": reg1["registration_access_token"],
    }
    w = World(
        base,
        root,
        tok,
        a,
        a_usage,
        b,
        t2,
        reg1,
        reg2,
        last(u["authorizationURI"]),
        last(t2_client["authorizationURI"]),
        pii_scope,
        usage_scope,
        demo,
    )
    # every placeholder of the oracle's paths has a real id of the A token's own (but power quality)
    needed = {m.group(1) for p in ORACLE for m in re.finditer(r"\{(\w+)(?::\w+)?\}", p)}
    assert needed - set(w.ids("A")) == set(), w.ids("A")
    return w


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], path)


def send(
    w: World, caller: str, method: str, path: str, ids: dict[str, str] | None = None, token: str | None = None
) -> Got:
    url = f"{w.root}/{fill(path, ids if ids is not None else w.ids(caller))}"
    query = QUERY if method == "GET" else None
    if caller == "none":
        return call(method, url, query=query)
    if caller == "garbage":
        return call(method, url, authorization=GARBAGE, query=query)
    return call(method, url, token or w.tok[caller], query=query)


def refusal_problems(got: Got) -> list[str]:
    """What is wrong with a refusal: it must be JSON with error and error_description."""
    problems = []
    ctype = got.headers.get("Content-Type", "")
    if not ctype.startswith("application/json"):
        problems.append(f"Content-Type {ctype!r}, not JSON: {got.text[:120]!r}")
        return problems
    try:
        body = got.json()
    except ValueError:
        return [f"body is not JSON: {got.text[:120]!r}"]
    if not isinstance(body.get("error"), str) or not isinstance(body.get("error_description"), str):
        problems.append(f"JSON without error/error_description: {body}")
    if not got.headers.get("X-Sandbox-Reason"):
        problems.append("no X-Sandbox-Reason header")
    return problems


def expected(w: World, path: str, method: str, caller: str) -> tuple[int, str]:
    """The status the oracle gives, and a word on why."""
    allowed = ORACLE[path]
    if caller == "none":
        return 401, "no token"
    if caller == "garbage":
        return 401, "unknown token"
    if method not in allowed:
        return (405, "method not offered") if caller == "D" else (403, "method no token of this kind may call")
    if caller not in allowed[method]:
        return 403, f"{caller} not in {allowed[method]}"
    if caller == "A" and path in A_BLOCKS and not blocks_of(w.pii_scope) & A_BLOCKS[path]:
        return 403, f"scope lacks FB {sorted(A_BLOCKS[path])}"
    if method == "GET" and path in NO_MEMBERS:
        return 404, "allowed; no such member exists in the sandbox"
    return 200, "allowed"


def check(w: World, path: str, method: str, caller: str, got: Got) -> list[str]:
    """Mismatches between a response and the oracle, each naming the call."""
    want, why = expected(w, path, method, caller)
    name = f"{method} {path} as {caller} ({why})"
    problems: list[str] = []
    if want == 200:
        ok = 200 <= got.status < 300 or (method in ("PUT", "POST") and got.status == 400)
        if not ok:
            problems.append(f"{name}: want 2xx, got {got.status} {got.text[:200]!r}")
        elif got.status == 400:
            problems += [f"{name}: 400 {p}" for p in refusal_problems(got)]
        elif method == "GET" and path in PDF:
            if got.headers.get("Content-Type") != "application/pdf" or not got.body.startswith(b"%PDF-"):
                problems.append(f"{name}: 200 but not a PDF ({got.headers.get('Content-Type')})")
        elif method == "GET":
            ctype = got.headers.get("Content-Type", "")
            if not ctype.startswith("application/atom+xml") or not re.search(
                rb"<(feed|entry|ServiceStatus)\b", got.body[:4000]
            ):
                problems.append(f"{name}: 200 but not an Atom document ({ctype}): {got.text[:120]!r}")
        return problems
    if got.status != want:
        problems.append(f"{name}: want {want}, got {got.status} {got.text[:200]!r}")
        return problems
    problems += [f"{name}: {p}" for p in refusal_problems(got)]
    error = (got.json().get("error") if not problems else None) or ""
    challenge = got.headers.get("WWW-Authenticate", "")
    if want == 401:
        if not challenge.startswith("Bearer"):
            problems.append(f"{name}: WWW-Authenticate {challenge!r}")
        if caller == "garbage" and ('error="invalid_token"' not in challenge or error != "invalid_token"):
            problems.append(f"{name}: want error invalid_token, got {error!r} / {challenge!r}")
    if want == 403 and why.startswith("scope") and error != "insufficient_scope":
        problems.append(f"{name}: want insufficient_scope, got {error!r}")
    if want == 403 and not why.startswith("scope") and error != "access_denied":
        problems.append(f"{name}: want access_denied, got {error!r}")
    if want == 405:
        allow = {m.strip() for m in got.headers.get("Allow", "").split(",")} & set(METHODS)
        if allow != set(ORACLE[path]):
            problems.append(f"{name}: Allow {got.headers.get('Allow')!r}, the oracle has {sorted(ORACLE[path])}")
    return problems


def answers_delete(path: str) -> bool:
    return "DELETE" in ORACLE[path]


# --- every path x method x caller ------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ORACLE), ids=str)
def test_every_method_and_token_kind_gets_what_the_oracle_says(world, path):
    problems = []
    for method in METHODS:
        if method == "DELETE" and answers_delete(path):
            continue  # destructive: test_delete_last
        for caller in CALLERS:
            problems += check(world, path, method, caller, send(world, caller, method, path))
    assert not problems, "\n".join(problems)


def test_a_customer_token_without_customer_data_blocks_is_refused_the_pii_paths(world):
    """ESPI.md checklist 69: the usage-only scope gets 403 on every PII path, and still reads its usage."""
    assert "customerResourceURI" not in world.a_usage.token
    ids = world.ids("A") | {"subscription_id": world.a_usage.ids["subscription_id"]}
    for path in ("Batch/RetailCustomer/{retail_customer_id}", f"{RC}/Customer", f"{RC}/Customer/{{rest:path}}"):
        got = send(world, "A", "GET", path, ids, token=world.a_usage.access)
        assert got.status == 403 and got.json()["error"] == "insufficient_scope", (path, got.status, got.text)
        assert not refusal_problems(got)
    got = send(world, "A", "GET", "Batch/Subscription/{subscription_id}", ids, token=world.a_usage.access)
    assert got.status == 200


def test_a_token_of_one_utility_is_unknown_at_another(world):
    other = urls.resource_root(world.base, OTHER_UTILITY)
    calls = {
        "A": f"{other}/Batch/Subscription/{world.a.ids['subscription_id']}",
        "C": f"{other}/ReadServiceStatus",
        "U": f"{other}/ReadServiceStatus",
        "D": f"{other}/ReadServiceStatus",
        "R": f"{other}/ApplicationInformation/{world.reg1['application_id']}",
    }
    for caller, url in calls.items():
        got = call("GET", url, world.tok[caller])
        assert got.status == 401, (caller, got.status, got.text)
        assert 'error="invalid_token"' in got.headers.get("WWW-Authenticate", ""), got.headers
        assert got.json()["error"] == "invalid_token" and not refusal_problems(got)
    # ... and each works at home
    home = {
        "A": f"{world.root}/Batch/Subscription/{world.a.ids['subscription_id']}",
        "C": f"{world.root}/ReadServiceStatus",
        "U": f"{world.root}/ReadServiceStatus",
        "D": f"{world.root}/ReadServiceStatus",
        "R": f"{world.root}/ApplicationInformation/{world.reg1['application_id']}",
    }
    for caller, url in home.items():
        assert call("GET", url, world.tok[caller], query=QUERY).status == 200, caller


@pytest.mark.parametrize("row", NOT_SERVED, ids=lambda r: f"{r[1]} {r[0]}")
def test_rows_of_espi_the_sandbox_does_not_serve_refuse_in_json(world, row):
    path, method, _why = row
    ids = world.ids("D") | {"bulk_id": tokens.DEMO[0]}
    got = send(world, "D", method, path, ids)
    want = 405 if path in ORACLE else 404
    assert got.status == want, (got.status, got.text[:300])
    assert not refusal_problems(got)


# --- isolation: another customer's ids, another third party's ids ---------------------------------------


def _leaks(got: Got, secrets: set[str]) -> list[str]:
    sent = got.url
    return sorted(s for s in secrets if s and s not in sent and s.encode() in got.body)


def _placeholders(path: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"\{(\w+)(?::\w+)?\}", path)]


def isolation_cases(w: World, other: Holder) -> list[tuple[str, dict[str, str], str]]:
    """(path, ids, what) for every path with ids: the other's ids throughout, and the A token's own
    ids with one of the other's in one place."""
    mine = w.ids("A")
    # ids both share (the utility's one LocalTimeParameters, a ReadingType of the same kind) are not theirs
    theirs = {k: v for k, v in other.ids.items() if k in mine and v != mine[k]}
    foreign_types = sorted(other.reading_types - w.a.reading_types)
    if foreign_types:
        theirs["reading_type_id"] = foreign_types[0]
    else:
        theirs.pop("reading_type_id", None)
    cases = []
    for path in ORACLE:
        names = _placeholders(path)
        swappable = [n for n in names if n in theirs]
        if not swappable:
            continue
        cases.append((path, mine | theirs, "all theirs"))
        if len(names) > 1:
            cases += [
                (path, mine | {n: theirs[n]} | ({"rest": mine["rest"]} if n != "rest" else {}), f"their {n}")
                for n in swappable
            ]
    return cases


def test_another_customers_ids_give_403_or_404_and_none_of_their_data(world):
    """The A token with another customer's subscription, usage point, meter reading, block, summary,
    reading type, retail customer, PII path and authorization: 403 or 404, JSON, none of theirs."""
    secrets = world.b.secrets() - set(world.a.secrets())
    assert {world.b.ids["usage_point_id"], world.b.ids["meter_reading_id"]} <= secrets
    problems = []
    cases = isolation_cases(world, world.b)
    assert len(cases) > 40
    for path, ids, what in cases:
        got = send(world, "A", "GET", path, ids)
        name = f"GET {path} with {what}: {got.url}"
        if got.status not in (403, 404):
            problems.append(f"{name}: want 403/404, got {got.status}")
        problems += [f"{name}: {p}" for p in refusal_problems(got)]
        leaked = _leaks(got, secrets)
        if leaked:
            problems.append(f"{name}: their data in the body: {leaked}")
    assert not problems, "\n".join(problems)


def test_usage_points_the_customer_did_not_share_are_not_in_their_subscription(world):
    """The demo customer shared electricity with the demo third party and gas with another one: the
    A token finds no gas usage point, meter reading or block (404) and its feeds hold none of them."""
    gas = world.t2.secrets() - world.a.secrets()
    assert world.t2.ids["usage_point_id"] in gas
    problems = []
    for path, ids, what in isolation_cases(world, world.t2):
        if (
            not path.startswith(("Batch/Subscription", "Subscription", "ReadingType"))
            or "subscription_id" in what
            or what == "all theirs"
        ):
            continue
        got = send(world, "A", "GET", path, ids)
        if got.status not in (403, 404) or refusal_problems(got) or _leaks(got, gas):
            problems.append(f"GET {got.url} ({what}): {got.status} {_leaks(got, gas)} {got.text[:150]!r}")
    body = call(
        "GET",
        f"{world.root}/Batch/Subscription/{world.a.ids['subscription_id']}",
        world.a.access,
        query={"published-min": _days_ago(3)},
    ).body
    assert b"<feed" in body and not _leaks(Got(200, requests.structures.CaseInsensitiveDict(), body, ""), gas)
    assert not problems, "\n".join(problems)


def _days_ago(n: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_another_third_partys_authorizations_and_bulk_are_not_there_for_a_client_token(world):
    """The demo third party's client token (C) on the other third party's Authorizations (a customer's
    and its client-credentials one) and on its bulk id: 404 (403 for the bulk is fine too), none of its
    data; the C token's own lists hold nothing of it."""
    reg1 = world.reg1
    theirs = world.t2.secrets() - world.a.secrets() - world.b.secrets()
    theirs |= {reg1["client_id"], reg1["client_name"], reg1["application_id"], world.t2_client_authorization}
    problems = []
    for aid in (world.t2.ids["authorization_id"], world.t2_client_authorization):
        for method in ("GET", "PUT"):
            got = send(world, "C", method, "Authorization/{authorization_id}", {"authorization_id": aid})
            if got.status != 404 or refusal_problems(got) or _leaks(got, theirs):
                problems.append(f"{method} {got.url}: {got.status} {_leaks(got, theirs)} {got.text[:150]!r}")
    got = send(world, "C", "GET", "Batch/Bulk/{bulk_id}", {"bulk_id": reg1["client_id"]})
    if got.status not in (403, 404) or refusal_problems(got) or _leaks(got, theirs):
        problems.append(
            f"GET {got.url}: want 403/404 and none of theirs, got {got.status} {_leaks(got, theirs)} {got.text[:150]!r}"
        )
    mine = call("GET", f"{world.root}/Authorization", world.tok["C"])
    if mine.status != 200:
        problems.append(f"GET Authorization (C): want 200, got {mine.status} {mine.text[:150]!r}")
    elif _leaks(mine, theirs):
        problems.append(f"GET Authorization (C): the other third party's {_leaks(mine, theirs)}")
    elif world.a.ids["authorization_id"].encode() not in mine.body:
        problems.append("GET Authorization (C): its own customer authorization is not listed")
    bulk = call(
        "GET", f"{world.root}/Batch/Bulk/{tokens.DEMO[0]}", world.tok["C"], query={"published-min": _days_ago(3)}
    )
    assert bulk.status == 200 and world.a.ids["usage_point_id"].encode() in bulk.body
    if _leaks(bulk, theirs):
        problems.append(f"GET Batch/Bulk/{tokens.DEMO[0]} (C): the other third party's {_leaks(bulk, theirs)}")
    # the other party's own client token reaches its own (the ids are real)
    t2c = tokens.client_token(world.base, SLUG, (reg1["client_id"], reg1["client_secret"]))
    got = call("GET", f"{world.root}/Authorization/{world.t2.ids['authorization_id']}", t2c["access_token"])
    assert got.status == 200, got.text
    assert not problems, "\n".join(problems)


def test_a_registration_token_reaches_its_own_registration_only(world):
    """R of one registration on another's ApplicationInformation: 403, nothing of the other's."""
    reg1, reg2 = world.reg1, world.reg2
    theirs = {reg1["client_id"], reg1["client_name"], reg1["client_secret"], reg1["registration_access_token"]}
    for method in ("GET", "PUT"):
        got = send(
            world,
            "R",
            method,
            "ApplicationInformation/{application_id}",
            {"application_id": reg1["application_id"]},
            token=reg2["registration_access_token"],
        )
        assert got.status == 403 and not refusal_problems(got), (method, got.status, got.text)
        assert not _leaks(got, theirs)
    got = call("GET", reg2["registration_client_uri"], reg2["registration_access_token"])
    assert got.status == 200 and reg2["client_id"].encode() in got.body


# --- DELETE, last: on authorizations and registrations made for it -----------------------------------------


def test_delete_last(world):
    """DELETE Authorization/{id} and ApplicationInformation/{id} for every caller: refused kinds on the
    shared resources (which must survive), the allowed kinds (C, D; R, D) on resources made for the call."""
    problems: list[str] = []
    auth_path, app_path = "Authorization/{authorization_id}", "ApplicationInformation/{application_id}"
    for path in (auth_path, app_path):
        for caller in ("none", "garbage", *(k for k in KINDS if k not in ORACLE[path]["DELETE"])):
            problems += check(world, path, "DELETE", caller, send(world, caller, "DELETE", path))
    # another third party's authorization is not the client token's to revoke
    got = send(world, "C", "DELETE", auth_path, {"authorization_id": world.t2.ids["authorization_id"]})
    if got.status != 404 or refusal_problems(got):
        problems.append(f"DELETE {got.url} as C: want 404, got {got.status} {got.text[:150]!r}")
    # another registration is not this registration token's to delete
    got = send(
        world,
        "R",
        "DELETE",
        app_path,
        {"application_id": world.reg1["application_id"]},
        token=world.reg2["registration_access_token"],
    )
    if got.status != 403 or refusal_problems(got):
        problems.append(f"DELETE {got.url} with another registration's token: want 403, got {got.status}")

    # the allowed kinds, each on an authorization of the demo third party made for the call
    choices = consent_choices(world.base, SLUG, world.demo, tokens.DEMO[0], world.usage_scope)
    for caller in ORACLE[auth_path]["DELETE"]:
        made = authorize(world.base, SLUG, world.demo, world.usage_scope, tokens.DEMO, [choices["electricity"]])
        aid = last(made["authorizationURI"])
        problems += check(
            world,
            auth_path,
            "DELETE",
            caller,
            send(world, caller, "DELETE", auth_path, world.ids(caller) | {"authorization_id": aid}),
        )
        after = call("GET", made["resourceURI"], made["access_token"], query=QUERY)
        if after.status != 401:
            problems.append(f"after DELETE as {caller}: its customer token got {after.status}, want 401")
        status = call("GET", f"{world.root}/Authorization/{aid}", world.tok["D"])
        if status.status != 200 or b"<status>0</status>" not in status.body.replace(b"espi:", b""):
            problems.append(f"after DELETE as {caller}: Authorization/{aid} is not status 0: {status.text[:200]!r}")
    # ... and on registrations made for the call (R: its own token; D: any)
    for caller in ORACLE[app_path]["DELETE"]:
        reg = register(world.base, SLUG, f"Matrix Delete {caller}")
        token = reg["registration_access_token"] if caller == "R" else None
        problems += check(
            world,
            app_path,
            "DELETE",
            caller,
            send(world, caller, "DELETE", app_path, {"application_id": reg["application_id"]}, token=token),
        )
        gone = call("GET", reg["registration_client_uri"], world.tok["D"])
        if gone.status != 404:
            problems.append(f"after DELETE as {caller}: the registration answers {gone.status}, want 404")

    # what the refused calls aimed at is still there
    assert (
        call(
            "GET", f"{world.root}/Batch/Subscription/{world.a.ids['subscription_id']}", world.a.access, query=QUERY
        ).status
        == 200
    )
    assert call("GET", world.t2.token["resourceURI"], world.t2.access, query=QUERY).status == 200
    assert call("GET", world.reg1["registration_client_uri"], world.tok["R"]).status == 200
    assert call("GET", world.reg2["registration_client_uri"], world.reg2["registration_access_token"]).status == 200
    assert not problems, "\n".join(problems)
