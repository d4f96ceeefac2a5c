"""Every operation of the Green Button Alliance's OpenAPI description of the ESPI API (vendored in
tests/openapi/, origin in its README) against the real run.py: called with a token the access matrix
admits (README, ESPI.md 4.2), with real ids of the sandbox, it answers a status the operation documents,
Atom, and a body valid against the ESPI 4.0 schemas (customer.xsd for PII). One case per operation, named
by its operationId, so that an operation without a route shows by name.

The ids are found by walking, as a client generated from that description would: the customer token's
resourceURI and customerResourceURI give the subscription and the retail customer, every other
`{...Id}` is the first entry of the collection one segment up, read with the same token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml
from espi.checks import ATOM, CUST, ESPI, assert_valid, check_feed, kind, links, parse

from . import tokens

pytestmark = pytest.mark.live

SPEC = yaml.safe_load((Path(__file__).resolve().parents[1] / "openapi" / "gba-espi-openapi.yaml").read_text("utf-8"))
SLUG = "bayview"
PREFIX = "/espi/1_1/resource"
PARAM = re.compile(r"\{(\w+)\}")
SMALL = {"max-results": "50"}  # sent where the operation declares it: small documents, the same answer
HTTP = requests.Session()
HTTP.trust_env = False  # loopback only, never a proxy


@dataclass(frozen=True)
class Operation:
    id: str
    path: str  # below the Data Custodian base, with the spec's `{...Id}` placeholders
    responses: frozenset[str]
    query: frozenset[str]  # the query parameters it declares

    @property
    def resource(self) -> str:
        return self.path.removeprefix(PREFIX + "/")

    @property
    def pii(self) -> bool:
        return self.resource.split("/")[0] in PII_ROOTS


def operations() -> list[Operation]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert method == "get", (method, path)  # the description holds GETs only
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            query = {p["$ref"].rsplit("/", 1)[1] if "$ref" in p else p["name"] for p in params}
            found.append(
                Operation(
                    op["operationId"],
                    path,
                    frozenset(op["responses"]),
                    frozenset(q for q in query if q in SPEC["components"]["parameters"]),
                )
            )
    return found


OPERATIONS = operations()
PII_ROOTS = {
    "Customer",
    "CustomerAccount",
    "CustomerAgreement",
    "ServiceLocation",
    "ServiceSupplier",
    "Meter",
    "EndDevice",
    "Statement",
    "ProgramDateIdMappings",
}
# Resources of which the sandbox has no member: it measures no power quality (README: that collection is
# an empty feed). Their by-id operation is asked for an id that is not there and answers the sandbox's
# JSON 404 (ESPI.md 4.5); the description lists 404 only for the PII members, not for this one.
NO_MEMBERS = {"ElectricPowerQualitySummary", "EndDevice"}
UNKNOWN_ID = "00000000-0000-5000-8000-000000000017"


def caller(op: Operation) -> str:
    """Which token calls the operation: the kind a real client would use, one the matrix admits (ESPI.md 4.1-4.3):
    A the customer's (its subscription, ReadingType, LocalTimeParameters), C the third party's client token
    (Bulk, its Authorizations, the service status), U the upload client (Download My Data), D the data
    custodian's (everything DC-wide, the PII roots, and power quality, which no offered scope grants, FB 17)."""
    r = op.resource
    if "ElectricPowerQualitySummary" in r:
        return "D"
    if r.startswith(("Subscription/", "Batch/Subscription/", "ReadingType", "LocalTimeParameters")):
        return "A"
    if r.startswith(("Batch/Bulk/", "Authorization", "ReadServiceStatus")):
        return "C"
    if r.startswith("Batch/RetailCustomer/"):
        return "U"
    return "D"


@dataclass
class Walk:
    base: str  # the Data Custodian base: /dc/<slug>
    token: dict[str, str]  # caller letter -> access token
    fixed: dict[str, str]  # ids a token response or the README names
    seen: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def get(self, path: str, who: str, query: dict | None = None) -> requests.Response:
        return HTTP.get(
            self.base + path, params=query, headers={"Authorization": f"Bearer {self.token[who]}"}, timeout=120
        )

    def first(self, collection: str, name: str, who: str) -> str | None:
        """The id of the first `name` entry of a collection (None if it has none)."""
        if (collection, who) not in self.seen:
            r = self.get(collection, who, {"max-results": "20"})
            assert r.status_code == 200, (collection, who, r.status_code, r.text[:300])
            found = [links(e, "self")[0] for e in parse(r.content).findall(ATOM + "entry") if kind(e) == name]
            self.seen[(collection, who)] = found[0].rstrip("/").rsplit("/", 1)[1] if found else None
        return self.seen[(collection, who)]

    def url(self, op: Operation) -> tuple[str, bool]:
        """The operation's path with real ids, and whether the member it names exists."""
        who, exists = caller(op), True
        out: list[str] = []
        parts = op.path.split("/")
        for i, part in enumerate(parts):
            m = PARAM.fullmatch(part)
            if m:
                value = self.fixed.get(m.group(1)) or self.first("/".join(out), parts[i - 1], who)
                if value is None:
                    assert parts[i - 1] in NO_MEMBERS, f"{'/'.join(out)} has no {parts[i - 1]} entry to ask for"
                    value, exists = UNKNOWN_ID, False
                part = value
            out.append(part)
        return "/".join(out), exists


def last(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def walk(live) -> Walk:
    base = f"{live}/dc/{SLUG}"
    pii_scope = tokens.offered_scopes(live, SLUG)[1]  # the utility's second offered scope: usage and PII
    a = tokens.customer_token(live, SLUG, pii_scope)
    assert a.get("customerResourceURI"), a
    token = {
        "A": a["access_token"],
        "C": tokens.client_token(live, SLUG)["access_token"],
        "U": tokens.client_token(live, SLUG, tokens.UPLOAD)["access_token"],
        "D": tokens.client_token(live, SLUG, tokens.CUSTODIAN)["access_token"],
    }
    fixed = {
        "subscriptionId": last(a["resourceURI"]),
        "retailCustomerId": last(a["customerResourceURI"]),
        "bulkId": tokens.DEMO[0],
    }  # README: a third party's default bulk is named by its client_id
    return Walk(base, token, fixed)


def check_document(op: Operation, r: requests.Response) -> None:
    assert r.headers["Content-Type"].startswith("application/atom+xml"), r.headers["Content-Type"]
    root = parse(r.content)
    ns = CUST if op.pii else ESPI
    if root.tag == ATOM + "feed":
        check_feed(root, prefix="cust" if op.pii else "espi", related_resolve=False)
    elif root.tag == ATOM + "entry":
        assert_valid(root)
        assert root.find(ATOM + "content")[0].tag.startswith(ns), root.find(ATOM + "content")[0].tag
    else:  # ReadServiceStatus: a bare espi:ServiceStatus
        assert op.resource == "ReadServiceStatus" and root.tag == ESPI + "ServiceStatus", root.tag
        assert_valid(root)
    is_member = PARAM.fullmatch(op.path.rsplit("/", 1)[1]) and not op.resource.startswith("Batch/")
    assert root.tag == ATOM + ("entry" if is_member else "feed") or root.tag == ESPI + "ServiceStatus", root.tag


def expected(op: Operation, exists: bool) -> set[int]:
    if not exists:
        return {404}
    return {200, 202} if op.resource.startswith("Batch/Bulk/") else {200}  # ESPI.md 4.3: Bulk may answer 202


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.id for op in OPERATIONS])
def test_the_operation_answers_a_documented_status_and_a_valid_document(walk, op):
    path, exists = walk.url(op)
    r = walk.get(path, caller(op), {k: v for k, v in SMALL.items() if k in op.query})
    assert r.status_code != 401, f"a good {caller(op)} token refused: {r.text[:300]}"
    assert r.status_code in expected(op, exists), (path, caller(op), r.status_code, r.text[:300])
    if not exists:
        assert r.json()["error"] and path.endswith(UNKNOWN_ID)
        return
    assert str(r.status_code) in op.responses, f"{r.status_code} is not among {sorted(op.responses)}"
    check_document(op, r)


def test_the_description_is_the_one_vendored():
    assert SPEC["info"]["title"] == "Green Button ESPI API" and SPEC["info"]["version"] == "1.1.0"
    assert len(OPERATIONS) == 47 and len({op.id for op in OPERATIONS}) == 47


# Every query parameter the description declares (components/parameters), in forms RFC 3339 allows: a
# lowercase "z" (5.6 allows it), the int64 maximum as "no limit". The published window is one day, so
# that "no limit" still makes small documents.
DECLARED = {
    "published-min": "2024-06-01T00:00:00z",
    "published-max": "2024-06-02T00:00:00Z",
    "updated-min": "2000-01-01T00:00:00Z",
    "updated-max": "2100-01-01T00:00:00z",
    "max-results": "2147483647",
    "start-index": "1",
    "depth": "2147483647",
}


def test_every_operation_takes_the_query_parameters_it_declares(walk):
    """Each answers with them as it answers without them (the plain walk above judges that answer), and never
    400: RFC 3339 date-times and int64 integers are what the description declares."""
    assert set(SPEC["components"]["parameters"]) == set(DECLARED)
    refused = []
    for op in OPERATIONS:
        if not op.query:
            continue
        path, _ = walk.url(op)
        plain = walk.get(path, caller(op), {k: v for k, v in SMALL.items() if k in op.query})
        r = walk.get(path, caller(op), {k: v for k, v in DECLARED.items() if k in op.query})
        if r.status_code == 400 or r.status_code != plain.status_code:
            refused.append(f"{op.id}: {r.status_code} (without them {plain.status_code}) {r.text[:200]}")
    assert not refused, "\n".join(refused)
