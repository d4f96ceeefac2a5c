"""ESPI.md section 11, items 1-13, 19-26, 29-55, 60-64 and 66-69, as a third party, a utility's own
clients and a customer meet them: over HTTP against the real run.py.

Every response under /espi/ that a test gets goes through `call`: a refusal must be JSON
(`error`, `error_description`), an XML answer must validate against the vendored ESPI 4.0 schemas
(espi.checks); feeds are then put through the structural checks of tests/espi.

Ids are never made up where the item needs real ones: they are read from the feeds the sandbox
serves (a customer's Batch/Subscription feed, the data custodian's collections). Tests that end
access (revocation, refresh) do it to authorizations of their own; the uploads of items 63-64 go
to a server of their own, so that what they store cannot disturb the other items.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
import uuid
from functools import cached_property
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from espi.checks import (
    ATOM,
    CUST,
    ESPI,
    all_text,
    assert_valid,
    blocks_of,
    check_feed,
    check_usage_structure,
    kind,
    links,
    parse,
    reading_type_of,
    readings_of,
)
from lxml import etree

from live.server import ROOT, LiveServer
from live.tokens import CALLBACK, CUSTODIAN, DEMO, UPLOAD, client_token, code_for, offered_scopes, signed_in, token

pytestmark = pytest.mark.live

SLUG = "bayview"
NOWHERE = "00000000-0000-5000-8000-000000000000"  # a well-formed id no resource has
XML = {"Content-Type": "application/xml"}


# --- HTTP: every answer under /espi/ is judged ---------------------------------------------------


def call(method: str, url: str, bearer: str | None = None, **kw) -> requests.Response:
    """One request. Under /espi/ a refusal must be JSON and an XML body valid ESPI 4.0 (parsed into
    `.root`); a body that breaks off mid-stream is a failure of the request's item."""
    headers = dict(kw.pop("headers", {}))
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        r = requests.request(method, url, headers=headers, timeout=120, **kw)
    except requests.exceptions.ChunkedEncodingError as exc:
        raise AssertionError(f"{method} {url}: the response broke off mid-body ({exc})") from None
    r.root = None
    if "/espi/" in urlsplit(url).path:
        _judge(method, url, r)
    return r


def _judge(method: str, url: str, r: requests.Response) -> None:
    what = f"{method} {url} -> {r.status_code}"
    ctype = r.headers.get("Content-Type", "")
    if r.status_code >= 400:
        assert ctype.startswith("application/json"), f"{what}: a refusal must be JSON, not {ctype}: {r.text[:300]}"
        body = r.json()
        assert body.get("error") and "error_description" in body, f"{what}: {body}"
    elif r.content and "xml" in ctype:
        r.root = parse(r.content)
        try:
            assert_valid(r.root)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None


def get(url: str, bearer: str, status: int = 200, **kw) -> requests.Response:
    r = call("GET", url, bearer, **kw)
    assert r.status_code == status, f"GET {url}: {r.status_code} {r.text[:300]}"
    return r


def fbs(scope: str) -> set[int]:
    fb = next(t for t in scope.split(";") if t.upper().startswith("FB="))
    return {int(n) for n in fb[3:].split("_")}


def register(base: str, slug: str, name: str) -> dict:
    """A dynamic registration (RFC 7591 style): client credentials and the registration access token."""
    body = {
        "client_name": name,
        "redirect_uris": [CALLBACK],
        "contacts": ["conformance@tp.example"],
        "thirdPartyNotifyUri": "http://127.0.0.1:9/notify",
    }
    r = requests.post(
        f"{base}/dc/{slug}/espi/1_1/register", json=body, headers={"Accept": "application/json"}, timeout=30
    )
    assert r.status_code == 201, r.text
    return r.json()


def grant(base: str, slug: str, scope: str, credentials: tuple[str, str] = DEMO) -> dict:
    """The demo customer authorizes the client for `scope`; the token response."""
    answer = code_for(base, slug, scope, signed_in(base, slug), client_id=credentials[0])
    r = token(base, slug, credentials, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert r.status_code == 200, r.text
    return r.json()


# --- reading documents ------------------------------------------------------------------------------


def self_of(e) -> str:
    return links(e, "self")[0]


def last(href: str) -> str:
    return href.rsplit("/", 1)[1]


def entries(root) -> list:
    return root.findall(ATOM + "entry")


def of_kind(root, name: str) -> list:
    return [e for e in entries(root) if kind(e) == name]


def ids(root, *kinds: str) -> list[str]:
    return [e.findtext(ATOM + "id") for e in entries(root) if not kinds or kind(e) in kinds]


def epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def block_window(b) -> tuple[int, int]:
    ib = b.find(f"{ATOM}content/{ESPI}IntervalBlock")
    start = int(ib.findtext(f"{ESPI}interval/{ESPI}start"))
    return start, start + int(ib.findtext(f"{ESPI}interval/{ESPI}duration"))


def as_feed(entry) -> etree._Element:
    """A bare entry document in a minimal feed, so check_feed's per-entry rules apply to it."""
    f = etree.Element(ATOM + "feed", nsmap={None: ATOM[1:-1]})
    for name, text in (
        ("id", f"urn:uuid:{uuid.uuid4()}"),
        ("title", "wrapper"),
        ("updated", entry.findtext(ATOM + "updated")),
    ):
        etree.SubElement(f, ATOM + name).text = text
    etree.SubElement(f, ATOM + "link", rel="self", href="http://wrapper.invalid/feed")
    f.append(copy.deepcopy(entry))
    return f


def usage_points_of(root) -> dict[str, list]:
    """UsagePoint self href -> the entries below it (self href under it)."""
    out: dict[str, list] = {}
    for up in of_kind(root, "UsagePoint"):
        h = self_of(up)
        out[h] = [e for e in entries(root) if self_of(e).startswith(h + "/")]
    return out


def namespaces(root) -> set[str]:
    return {etree.QName(el).namespace for el in root.iter() if isinstance(el.tag, str)}


class Dc:
    """One utility of the running sandbox: its resource root {R} and tokens of every kind, got once."""

    def __init__(self, base: str, slug: str):
        self.base, self.slug = base, slug
        self.root = f"{base}/dc/{slug}/espi/1_1/resource"

    def url(self, path: str) -> str:
        return f"{self.root}/{path}"

    @cached_property
    def scopes(self) -> list[str]:
        return offered_scopes(self.base, self.slug)

    @cached_property
    def usage_scope(self) -> str:
        return next(s for s in self.scopes if 46 not in fbs(s))

    @cached_property
    def pii_scope(self) -> str:
        return next(s for s in self.scopes if 46 in fbs(s))

    def customer(self, scope: str | None = None) -> dict:
        """A new authorization of the demo customer for the demo third party: its token response."""
        return grant(self.base, self.slug, scope or self.usage_scope)

    @cached_property
    def cust(self) -> dict:  # A token, usage data only
        return self.customer()

    @cached_property
    def pii_cust(self) -> dict:  # A token whose scope grants customer data (FB_46 ...)
        return self.customer(self.pii_scope)

    @cached_property
    def a(self) -> str:
        return self.cust["access_token"]

    @cached_property
    def c(self) -> str:
        return client_token(self.base, self.slug)["access_token"]

    @cached_property
    def u(self) -> str:
        return client_token(self.base, self.slug, UPLOAD)["access_token"]

    @cached_property
    def d(self) -> str:
        return client_token(self.base, self.slug, CUSTODIAN)["access_token"]

    @cached_property
    def sid(self) -> str:
        return last(self.cust["resourceURI"])

    @cached_property
    def rc(self) -> str:  # the demo customer's retail customer id
        return last(self.pii_cust["customerResourceURI"])

    @cached_property
    def cmd(self):
        """The A token's Batch/Subscription feed (Connect My Data)."""
        return get(self.cust["resourceURI"], self.a).root

    @cached_property
    def dmd(self) -> requests.Response:
        """The demo customer's Download My Data feed, with the D token."""
        return get(self.url(f"Batch/RetailCustomer/{self.rc}/UsagePoint"), self.d)

    @cached_property
    def pii(self):
        return get(self.pii_cust["customerResourceURI"], self.pii_cust["access_token"]).root

    def first(self, name: str):
        return of_kind(self.cmd, name)[0]


@pytest.fixture(scope="module")
def dc(live) -> Dc:
    return Dc(live, SLUG)


@pytest.fixture(scope="module")
def other_tp(dc):
    """A second third party (dynamic registration) with an authorization of the demo customer."""
    reg = register(dc.base, dc.slug, "Conformance Other TP")
    cred = (reg["client_id"], reg["client_secret"])
    return SimpleNamespace(
        reg=reg,
        cred=cred,
        cust=grant(dc.base, dc.slug, dc.usage_scope, cred),
        c=client_token(dc.base, dc.slug, cred)["access_token"],
    )


def ensure(problems: list, what: str) -> None:
    assert not problems, f"{what}: {len(problems)} problem(s): " + "; ".join(map(str, problems[:8]))


# --- the resource paths of ESPI.md 4.3, with real ids ------------------------------------------------


def espi_paths(dc: Dc) -> dict[str, list[str]]:
    """ESPI.md 4.3's paths below {R} (with ids the sandbox serves) -> the methods the table lists."""
    up, mr, ib = dc.first("UsagePoint"), dc.first("MeterReading"), dc.first("IntervalBlock")
    sub = f"Subscription/{dc.sid}/UsagePoint/{last(self_of(up))}"
    mr_path = f"{sub}/MeterReading/{last(self_of(mr))}"
    rt, ltp = last(self_of(dc.first("ReadingType"))), last(self_of(dc.first("LocalTimeParameters")))
    g, crud = ["GET"], ["GET", "POST", "PUT", "DELETE"]
    return {
        f"Batch/Subscription/{dc.sid}": g,
        f"Batch/Subscription/{dc.sid}/UsagePoint": g,
        f"Batch/Subscription/{dc.sid}/UsagePoint/{last(self_of(up))}": g,
        f"Batch/RetailCustomer/{dc.rc}/UsagePoint": ["GET", "POST"],
        f"Batch/RetailCustomer/{dc.rc}/UsagePoint/{last(self_of(up))}": g,
        f"Batch/RetailCustomer/{dc.rc}": g,
        "Batch/Bulk/demo-third-party": g,
        f"Subscription/{dc.sid}/UsagePoint": ["GET", "POST"],
        sub: ["GET", "PUT", "DELETE"],
        f"{sub}/MeterReading": ["GET", "POST"],
        mr_path: ["GET", "PUT", "DELETE"],
        f"{mr_path}/IntervalBlock": ["GET", "POST"],
        f"{mr_path}/IntervalBlock/{last(self_of(ib))}": ["GET", "PUT", "DELETE"],
        f"{sub}/UsageSummary": g,
        f"{sub}/ElectricPowerUsageSummary": ["GET", "POST"],
        f"{sub}/ElectricPowerQualitySummary": ["GET", "POST"],
        "LocalTimeParameters": ["GET", "POST"],
        f"LocalTimeParameters/{ltp}": ["GET", "PUT", "DELETE"],
        "ReadingType": ["GET", "POST"],
        f"ReadingType/{rt}": ["GET", "PUT", "DELETE"],
        "UsagePoint": crud,
        f"UsagePoint/{last(self_of(up))}": crud,
        "MeterReading": crud,
        f"MeterReading/{last(self_of(mr))}": crud,
        "IntervalBlock": crud,
        f"IntervalBlock/{last(self_of(ib))}": crud,
        "ReadServiceStatus": g,
        "ApplicationInformation": ["GET", "POST"],
        f"ApplicationInformation/{NOWHERE}": ["GET", "PUT", "DELETE"],
        "Authorization": ["GET", "POST"],
        f"Authorization/{last(dc.cust['authorizationURI'])}": ["GET", "PUT", "DELETE"],
        f"RetailCustomer/{dc.rc}/Customer": g,
    }


# The writes the sandbox's resource server takes at all (its URL table); ESPI.md 4.3 lists more.
SANDBOX_WRITES = {
    ("POST", "Batch/RetailCustomer/{rc}/UsagePoint"),
    ("PUT", "Authorization/{aid}"),
    ("DELETE", "Authorization/{aid}"),
    ("PUT", "ApplicationInformation/{ai}"),
    ("DELETE", "ApplicationInformation/{ai}"),
}


def _is_sandbox_write(dc: Dc, method: str, path: str) -> bool:
    shapes = {
        "Batch/RetailCustomer/{rc}/UsagePoint": f"Batch/RetailCustomer/{dc.rc}/UsagePoint",
        "Authorization/{aid}": f"Authorization/{last(dc.cust['authorizationURI'])}",
        "ApplicationInformation/{ai}": f"ApplicationInformation/{NOWHERE}",
    }
    return any(method == m and path == shapes[p] for m, p in SANDBOX_WRITES)


# --- 1-13: transport and authentication of the resource server ------------------------------------


def test_item_01_every_resource_without_a_bearer_token_is_401_with_a_bearer_challenge(dc):
    """ESPI.md 11.1 for the methods each resource answers: GET everywhere, the writes where the sandbox takes
    them. A Basic header or an empty Bearer is no bearer token either."""
    problems = []
    for path, methods in espi_paths(dc).items():
        for method in methods:
            if method != "GET" and not _is_sandbox_write(dc, method, path):
                continue
            for headers in ({}, {"Authorization": "Basic ZGVtbzpkZW1v"}, {"Authorization": "Bearer"}):
                r = call(method, dc.url(path), headers=headers)
                challenge = r.headers.get("WWW-Authenticate", "")
                if r.status_code != 401 or not challenge.startswith("Bearer"):
                    problems.append((method, path, headers, r.status_code, challenge))
    ensure(problems, "requests without a bearer token")


def test_item_01_other_methods_and_unknown_paths_without_a_token_are_401_too(dc):
    """ESPI.md 11.1 says every request under {R}/**: also the writes ESPI.md 4.3 lists that the sandbox does not
    serve, and paths outside the URL table (the reference's security filter answers before routing)."""
    problems = []
    asked = [(m, p) for p, ms in espi_paths(dc).items() for m in ms if m != "GET" and not _is_sandbox_write(dc, m, p)]
    asked += [("GET", "NoSuchResource"), ("GET", f"Batch/Subscription/{dc.sid}/Nothing/Here")]
    for method, path in asked:
        r = call(method, dc.url(path))
        if r.status_code != 401 or not r.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            problems.append((method, path, r.status_code))
    ensure(problems, "requests without a bearer token outside the served methods")


def test_item_02_no_unknown_or_revoked_token_on_a_subscription_is_401_invalid_token(dc):
    """Expired tokens need the clock moved, which a live server cannot do: they are covered by the Flask
    test-client tests (tests/web). Here: none, unknown, revoked by RFC 7009, revoked by DELETE Authorization."""
    url = dc.cust["resourceURI"]
    r = call("GET", url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = call("GET", url, "no-such-token-" + uuid.uuid4().hex)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], r.headers

    revoked = dc.customer()
    r = requests.post(
        f"{dc.base}/dc/{dc.slug}/oauth/revoke", data={"token": revoked["access_token"]}, auth=DEMO, timeout=30
    )
    assert r.status_code == 200, r.text
    r = call("GET", revoked["resourceURI"], revoked["access_token"])
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], (r.status_code, r.text)

    deleted = dc.customer()
    assert call("DELETE", deleted["authorizationURI"], dc.c).status_code in (200, 204)
    r = call("GET", deleted["resourceURI"], deleted["access_token"])
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], (r.status_code, r.text)


def test_item_03_customer_token_on_its_resource_uri_is_an_atom_feed(dc):
    r = get(dc.cust["resourceURI"], dc.a)
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    assert r.root.tag == ATOM + "feed" and of_kind(r.root, "UsagePoint")


def test_item_04_customer_token_on_another_subscription_is_403(dc):
    other = dc.customer()  # the same customer's second authorization: another subscription
    assert last(other["resourceURI"]) != dc.sid
    for path in (
        f"Batch/Subscription/{last(other['resourceURI'])}",
        f"Subscription/{last(other['resourceURI'])}/UsagePoint",
    ):
        r = call("GET", dc.url(path), dc.a)
        assert r.status_code == 403, (path, r.status_code, r.text)
    assert get(other["resourceURI"], other["access_token"]).root is not None


def test_item_05_customer_token_writes_where_the_sandbox_takes_writes_are_403(dc):
    problems = []
    for path, methods in espi_paths(dc).items():
        for method in methods:
            if method != "GET" and _is_sandbox_write(dc, method, path):
                r = call(method, dc.url(path), dc.a, data=b"<x/>", headers=XML)
                if r.status_code != 403:
                    problems.append((method, path, r.status_code))
    ensure(problems, "customer-token writes")
    assert get(dc.cust["authorizationURI"], dc.c).root.findtext(f".//{ESPI}status") == "1"  # nothing was revoked


def test_item_05_customer_token_writes_on_every_other_path_are_403(dc):
    """ESPI.md 11.5: PUT, POST or DELETE on *any* {R} path, also where the resource serves GET only."""
    problems = []
    for path in espi_paths(dc):
        for method in ("PUT", "POST", "DELETE"):
            if not _is_sandbox_write(dc, method, path):
                r = call(method, dc.url(path), dc.a, data=b"<x/>", headers=XML)
                if r.status_code != 403:
                    problems.append((method, path, r.status_code))
    ensure(problems, "customer-token writes on read-only paths")


def test_item_06_customer_token_reads_reading_types_and_local_time_but_not_the_custodian_collections(dc):
    for e in (dc.first("ReadingType"), dc.first("LocalTimeParameters")):
        r = get(self_of(e), dc.a)
        assert r.root.tag == ATOM + "entry" and kind(r.root) == kind(e)
    for path in ("UsagePoint", "ApplicationInformation", "Authorization"):
        r = call("GET", dc.url(path), dc.a)
        assert r.status_code == 403, (path, r.status_code)


def test_item_07_client_token_lists_only_its_own_applications_authorizations(dc, other_tp):
    r = get(dc.url("Authorization"), dc.c)
    listed = {self_of(e) for e in entries(r.root)}
    assert {dc.cust["authorizationURI"], dc.pii_cust["authorizationURI"]} <= listed
    assert other_tp.cust["authorizationURI"] not in listed
    assert all(kind(e) == "Authorization" for e in entries(r.root))
    check_feed(r.root, related_resolve=False)


def test_item_08_client_upload_and_custodian_tokens_read_the_service_status(dc):
    for bearer in (dc.c, dc.u, dc.d):
        r = get(dc.url("ReadServiceStatus"), bearer)
        assert r.root.tag == ESPI + "ServiceStatus", r.text
        assert [c.tag for c in r.root] == [ESPI + "currentStatus"] and r.root.findtext(ESPI + "currentStatus") == "1"


def test_item_09_registration_token_reaches_its_own_application_information_only(dc, other_tp):
    reg = other_tp.reg
    r = get(reg["registration_client_uri"], reg["registration_access_token"])
    assert r.root.findtext(f"{ATOM}content/{ESPI}ApplicationInformation/{ESPI}client_id") == reg["client_id"]
    apps = get(dc.url("ApplicationInformation"), dc.d).root
    others = [self_of(e) for e in entries(apps) if self_of(e) != reg["registration_client_uri"]]
    assert others
    problems = []
    usage = [p for p in espi_paths(dc) if not p.startswith(("ApplicationInformation", "Authorization", "ReadService"))]
    for url in others + [dc.url(p) for p in usage]:
        r = call("GET", url, reg["registration_access_token"])
        if r.status_code != 403:
            problems.append((url, r.status_code))
    ensure(problems, "registration token outside its own ApplicationInformation")


def test_item_10_upload_token_gets_403_on_a_subscription(dc):
    r = call("GET", dc.cust["resourceURI"], dc.u)
    assert r.status_code == 403, (r.status_code, r.text)


def test_item_11_custodian_token_reads_the_dc_wide_collections(dc):
    for path in ("UsagePoint", "MeterReading", "IntervalBlock", "ApplicationInformation"):
        # the DC-wide IntervalBlock collection is tens of megabytes: its first thousand entries stand for it
        r = get(dc.url(path), dc.d, params={"max-results": "1000"} if path == "IntervalBlock" else None)
        by_kind = check_feed(r.root, related_resolve=False)
        assert set(by_kind) == {path}, (path, set(by_kind))
    customers = {
        self_of(e).split("/RetailCustomer/")[1].split("/")[0] for e in entries(get(dc.url("UsagePoint"), dc.d).root)
    }
    assert dc.rc in customers and len(customers) > 1  # every customer's, not one


@pytest.mark.parametrize("query", ["published-min=yesterday", "max-results=ten"])
def test_item_12_malformed_query_values_are_400_naming_the_parameter(dc, query):
    name = query.split("=")[0]
    aid = last(dc.cust["authorizationURI"])
    for url, bearer in (
        (dc.cust["resourceURI"], dc.a),
        (dc.url("ReadingType"), dc.a),
        (dc.url("UsagePoint"), dc.d),
        (dc.url(f"Authorization/{aid}"), dc.c),
        (dc.url(f"Batch/RetailCustomer/{dc.rc}/UsagePoint"), dc.d),
    ):
        r = call("GET", f"{url}?{query}", bearer)
        assert r.status_code == 400, (url, r.status_code)
        assert name in r.json()["error_description"], r.json()


def test_item_13_ids_that_do_not_exist_are_404(dc):
    up, mr = self_of(dc.first("UsagePoint")), self_of(dc.first("MeterReading"))
    pii_self = self_of(entries(dc.pii)[0])
    asks = [
        (f"ReadingType/{NOWHERE}", dc.a),
        (f"LocalTimeParameters/{NOWHERE}", dc.a),
        (f"Subscription/{dc.sid}/UsagePoint/{NOWHERE}", dc.a),
        (f"{up}/MeterReading/{NOWHERE}", dc.a),
        (f"{mr}/IntervalBlock/{NOWHERE}", dc.a),
        (f"{up}/UsageSummary/{NOWHERE}", dc.a),
        (f"UsagePoint/{NOWHERE}", dc.d),
        (f"MeterReading/{NOWHERE}", dc.d),
        (f"IntervalBlock/{NOWHERE}", dc.d),
        (f"Authorization/{NOWHERE}", dc.c),
        (f"Authorization/{NOWHERE}", dc.d),
        (f"ApplicationInformation/{NOWHERE}", dc.d),
        (f"Batch/Subscription/{NOWHERE}", dc.d),
        (f"Batch/RetailCustomer/{NOWHERE}/UsagePoint", dc.d),
        (f"Batch/Subscription/{dc.sid}/UsagePoint/{NOWHERE}", dc.a),
        (f"{pii_self.rsplit('/', 1)[0]}/{NOWHERE}", dc.pii_cust["access_token"]),
    ]
    problems = []
    for path, bearer in asks:
        url = path if path.startswith("http") else dc.url(path)
        r = call("GET", url, bearer)
        if r.status_code != 404:
            problems.append((url.replace(dc.root, "{R}"), r.status_code))
    ensure(problems, "unknown ids")


# --- 19-26: OAuth 2.0 ---------------------------------------------------------------------------------


def test_item_19_authorization_code_token_response(dc):
    t = dc.customer()
    for name in (
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "resourceURI",
        "authorizationURI",
    ):
        assert t.get(name), (name, t)
    assert t["token_type"].lower() == "bearer" and isinstance(t["expires_in"], int) and t["expires_in"] > 0
    assert t["scope"] == dc.usage_scope
    assert t["resourceURI"] == dc.url(f"Batch/Subscription/{last(t['resourceURI'])}")
    assert t["authorizationURI"] == dc.url(f"Authorization/{last(t['authorizationURI'])}")
    uuid.UUID(last(t["resourceURI"]))
    uuid.UUID(last(t["authorizationURI"]))


def test_item_20_an_authorization_code_is_redeemed_once(dc):
    answer = code_for(dc.base, dc.slug, dc.usage_scope, signed_in(dc.base, dc.slug))
    first = token(dc.base, dc.slug, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert first.status_code == 200, first.text
    again = token(dc.base, dc.slug, grant_type="authorization_code", code=answer["code"], redirect_uri=CALLBACK)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_item_21_refresh_keeps_the_uris_and_retires_the_old_access_token(dc):
    t = dc.customer()
    r = token(dc.base, dc.slug, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["access_token"] != t["access_token"]
    assert (new["resourceURI"], new["authorizationURI"]) == (t["resourceURI"], t["authorizationURI"])
    assert get(new["resourceURI"], new["access_token"]).root is not None
    old = call("GET", t["resourceURI"], t["access_token"])
    assert old.status_code == 401 and 'error="invalid_token"' in old.headers["WWW-Authenticate"]


def test_item_22_client_credentials_token_response(dc):
    t = client_token(dc.base, dc.slug)
    assert "refresh_token" not in t and t["token_type"].lower() == "bearer"
    assert t["resourceURI"].startswith(dc.url("Batch/Bulk/")), t["resourceURI"]
    assert t["authorizationURI"].startswith(dc.url("Authorization/")), t
    entry = get(t["authorizationURI"], t["access_token"]).root
    assert entry.findtext(f"{ATOM}content/{ESPI}Authorization/{ESPI}grant_type") == "client_credentials"
    # A client whose role does not allow a grant is refused it with unauthorized_client. Every third party of
    # the sandbox may use client credentials (registration grants all three grant types), so the role case
    # the sandbox has is the other way round: the utility's upload client may use client credentials only.
    r = token(dc.base, dc.slug, UPLOAD, grant_type="refresh_token", refresh_token="x")
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client", r.text


def test_item_23_a_scope_the_client_did_not_register_is_invalid_scope(dc):
    unregistered = "FB=4_5_15;IntervalDuration=900"
    q = {"client_id": DEMO[0], "redirect_uri": CALLBACK, "response_type": "code", "scope": unregistered, "state": "s23"}
    r = signed_in(dc.base, dc.slug).get(
        f"{dc.base}/dc/{dc.slug}/oauth/authorize?{urlencode(q)}", allow_redirects=False, timeout=30
    )
    assert r.status_code in (302, 303), r.status_code
    back = parse_qs(urlsplit(r.headers["Location"]).query)
    assert back["error"] == ["invalid_scope"] and back["state"] == ["s23"], back
    r = token(dc.base, dc.slug, grant_type="client_credentials", scope=unregistered)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text


def test_item_24_a_customer_token_creates_an_active_authorization_and_its_subscription(dc):
    t = dc.cust
    entry = get(t["authorizationURI"], dc.c).root
    auth = entry.find(f"{ATOM}content/{ESPI}Authorization")
    text = {etree.QName(c).localname: c.text for c in auth}
    assert text["status"] == "1" and text["scope"] == t["scope"] and text["token_type"] == "Bearer"
    assert text["grant_type"] == "authorization_code"
    assert text["resourceURI"] == t["resourceURI"] and text["authorizationURI"] == t["authorizationURI"]
    start = int(auth.findtext(f"{ESPI}authorizedPeriod/{ESPI}start"))
    assert int(text["expires_at"]) > start > 1_500_000_000  # seconds since 1970, not a relative lifetime
    shared = {e.findtext(ATOM + "id") for e in of_kind(dc.cmd, "UsagePoint")}
    own = {e.findtext(ATOM + "id") for e in entries(get(dc.url(f"RetailCustomer/{dc.rc}/UsagePoint"), dc.d).root)}
    assert shared == own and shared


def test_item_25_an_authorization_entry_validates_and_carries_no_token(dc, other_tp):
    t = dc.cust
    for bearer in (dc.d, dc.c):
        r = get(t["authorizationURI"], bearer)
        assert r.root.tag == ATOM + "entry" and kind(r.root) == "Authorization"
        check_feed(as_feed(r.root), related_resolve=False)
        text = all_text(r.root)
        assert t["access_token"] not in text and t["refresh_token"] not in text
    assert call("GET", t["authorizationURI"], other_tp.c).status_code in (403, 404)


def test_item_26_delete_authorization_ends_access_and_refresh_and_reports_status_0(dc):
    t = dc.customer()
    r = call("DELETE", t["authorizationURI"], dc.c)
    assert r.status_code in (200, 204), r.status_code
    r = call("GET", t["resourceURI"], t["access_token"])
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = token(dc.base, dc.slug, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_grant", r.text
    entry = get(t["authorizationURI"], dc.c).root
    assert entry.findtext(f"{ATOM}content/{ESPI}Authorization/{ESPI}status") == "0"


# --- 29-51: the Atom envelope and the XML -------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(dc):
    """One member and the collection of every resource kind, with the token kind that may read it:
    [(url, "feed" | "entry", prefix, root or None, problem or None)]."""
    up, mr, ib, us = (dc.first(k) for k in ("UsagePoint", "MeterReading", "IntervalBlock", "UsageSummary"))
    rt, ltp = dc.first("ReadingType"), dc.first("LocalTimeParameters")
    f, e = "feed", "entry"
    a_urls = [
        (links(up, "up")[0], f),
        (self_of(up), e),
        (links(mr, "up")[0], f),
        (self_of(mr), e),
        (links(ib, "up")[0], f),
        (self_of(ib), e),
        (links(us, "up")[0], f),
        (self_of(us), e),
        (f"{self_of(up)}/ElectricPowerUsageSummary", f),
        (f"{self_of(up)}/ElectricPowerUsageSummary/{last(self_of(us))}", e),
        (links(rt, "up")[0], f),
        (self_of(rt), e),
        (links(ltp, "up")[0], f),
        (self_of(ltp), e),
        (dc.cust["resourceURI"], f),
        (dc.url(f"Batch/Subscription/{dc.sid}/UsagePoint"), f),
        (dc.url(f"Batch/Subscription/{dc.sid}/UsagePoint/{last(self_of(up))}"), f),
        (links(up, "up")[0] + "?max-results=1", f),
        (links(mr, "up")[0] + "?start-index=1", f),
    ]
    to_rc = (f"/Subscription/{dc.sid}/", f"/RetailCustomer/{dc.rc}/")
    d_urls = [(u.replace(*to_rc), k) for u, k in a_urls[:8]]
    d_urls.append((f"{self_of(up)}/ElectricPowerQualitySummary".replace(*to_rc), f))  # FB_17, in no offered scope
    apps = get(dc.url("ApplicationInformation"), dc.d).root
    d_urls += [
        (dc.url("UsagePoint"), f),
        (dc.url(f"UsagePoint/{last(self_of(up))}"), e),
        (dc.url("MeterReading"), f),
        (dc.url(f"MeterReading/{last(self_of(mr))}"), e),
        (dc.url(f"IntervalBlock/{last(self_of(ib))}"), e),
        (dc.url("ApplicationInformation"), f),
        (self_of(entries(apps)[0]), e),
        (dc.cust["authorizationURI"], e),
        (dc.url(f"Batch/RetailCustomer/{dc.rc}/UsagePoint/{last(self_of(up))}"), f),
    ]
    pii_urls = [(dc.pii_cust["customerResourceURI"], f), (dc.url(f"RetailCustomer/{dc.rc}/Customer"), f)]
    for x in entries(dc.pii):
        pii_urls += [(self_of(x), e), (links(x, "up")[0], f)]
    out, seen = [], set()
    for bearer, urls, prefix in (
        (dc.a, a_urls, "espi"),
        (dc.d, d_urls, "espi"),
        (dc.c, [(dc.cust["authorizationURI"], e)], "espi"),
        (dc.pii_cust["access_token"], pii_urls, "cust"),
    ):
        for url, shape in urls:
            if (bearer, url) in seen:
                continue
            seen.add((bearer, url))
            try:
                r = call("GET", url, bearer)
                problem = None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
                out.append((url, shape, prefix, r.root, problem))
            except AssertionError as exc:
                out.append((url, shape, prefix, None, str(exc)))
    return out


def test_item_29_every_resource_kind_validates_against_the_espi_schemas(sweep):
    ensure([(url, problem) for url, _, _, _, problem in sweep if problem], "responses")
    assert len(sweep) > 40


def test_item_30_feeds_have_id_title_updated_and_a_self_link_without_the_query(sweep, dc):
    problems = []
    for url, shape, _, root, _ in sweep:
        if root is None or shape != "feed":
            continue
        for name in ("id", "title", "updated"):
            if root.find(ATOM + name) is None:
                problems.append((url, f"no {name}"))
        if links(root, "self") != [url.split("?")[0]]:
            problems.append((url, links(root, "self")))
    ensure(problems, "feed headers")


def test_item_31_32_33_every_feed_and_entry_passes_the_structural_checks(sweep):
    """ids urn:uuid v3/v5, title, published, updated in UTC, unique ids and self links, adjacent self and up links
    (up = self minus its id), one element of the right namespace in each content."""
    problems = []
    for url, _shape, prefix, root, _ in sweep:
        if root is None:
            continue
        doc = root if root.tag == ATOM + "feed" else as_feed(root)
        try:
            check_feed(doc, prefix=prefix, related_resolve="/Batch/" in url)
        except AssertionError as exc:
            problems.append((url, str(exc)[:200]))
    ensure(problems, "structural checks")


def test_item_31_32_33_the_batch_feeds_pass_the_structural_checks(dc):
    for root in (dc.cmd, dc.dmd.root):
        by_kind = check_feed(root)
        check_usage_structure(by_kind, root)
        assert len(set(ids(root))) == len(ids(root))
        assert len({self_of(e) for e in entries(root)}) == len(entries(root))
        for e in entries(root):
            assert self_of(e).rsplit("/", 1)[1] == e.findtext(ATOM + "id")[9:], self_of(e)


def test_item_34_35_usage_points_and_meter_readings_link_their_children(dc):
    """ESPI.md 11.34-35, and DESIGN.md's compatibility rule: related links name the collection and each member."""
    for root in (dc.cmd, dc.dmd.root):
        by_kind = check_feed(root)
        check_usage_structure(by_kind, root)
        present = {self_of(e) for e in entries(root)}
        for up in by_kind["UsagePoint"]:
            rel, h = set(links(up, "related")), self_of(up)
            mrs = {self_of(m) for m in by_kind["MeterReading"] if self_of(m).startswith(h + "/MeterReading/")}
            assert mrs and h + "/MeterReading" in rel and mrs <= rel, (h, mrs - rel)
            assert any("/LocalTimeParameters/" in x and x in present for x in rel)
            if any(self_of(s).startswith(h + "/") for s in by_kind.get("UsageSummary", [])):
                assert h + "/UsageSummary" in rel or h + "/ElectricPowerUsageSummary" in rel
        for mr in by_kind["MeterReading"]:
            rel, h = set(links(mr, "related")), self_of(mr)
            rts = [x for x in rel if "/ReadingType/" in x]
            assert len(rts) == 1 and rts[0] in present
            blocks = {self_of(b) for b in blocks_of(mr, by_kind)}
            assert blocks and h + "/IntervalBlock" in rel and blocks <= rel, (h, len(blocks - rel))


def test_item_36_ids_are_stable_across_downloads_and_between_cmd_and_dmd(dc):
    kinds = ("UsagePoint", "MeterReading", "ReadingType", "LocalTimeParameters")
    again = get(dc.cust["resourceURI"], dc.a).root
    pii_cmd = get(dc.pii_cust["resourceURI"], dc.pii_cust["access_token"]).root
    first = sorted(ids(dc.cmd, *kinds))
    assert first and sorted(ids(again, *kinds)) == first
    assert sorted(ids(pii_cmd, *kinds)) == first
    assert sorted(ids(dc.dmd.root, *kinds)) == first
    assert sorted(ids(again, "IntervalBlock")) == sorted(ids(dc.cmd, "IntervalBlock"))


def test_item_37_one_element_per_content_and_usage_and_pii_never_mixed(dc):
    for root in (dc.cmd, dc.dmd.root):
        assert all(len(e.find(ATOM + "content")) == 1 for e in entries(root))
        assert CUST[1:-1] not in namespaces(root)
    assert all(len(e.find(ATOM + "content")) == 1 for e in entries(dc.pii))
    assert ESPI[1:-1] not in namespaces(dc.pii) and CUST[1:-1] in namespaces(dc.pii)


def test_item_38_member_urls_are_entries_collections_and_batches_are_feeds(sweep):
    problems = [
        (url, shape, root.tag) for url, shape, _, root, _ in sweep if root is not None and root.tag != ATOM + shape
    ]
    ensure(problems, "document shapes")


def test_item_39_batch_feeds_put_each_parent_before_its_children_per_usage_point(dc):
    for root in (dc.cmd, dc.dmd.root):
        all_e = entries(root)
        pos = {self_of(e): i for i, e in enumerate(all_e)}
        groups = usage_points_of(root)
        starts = sorted(pos[h] for h in groups) + [len(all_e)]
        for h, below in groups.items():
            i = pos[h]
            end = starts[starts.index(i) + 1]
            assert all(i < pos[self_of(e)] < end for e in below), f"entries of {h} outside its group"
            ltp = next(x for x in links(all_e[i], "related") if "/LocalTimeParameters/" in x)
            mrs = [e for e in below if kind(e) == "MeterReading"]
            if pos[ltp] > i:  # where the LocalTimeParameters is sent: right after its first UsagePoint
                assert pos[ltp] < min(pos[self_of(m)] for m in mrs)
            blocks = [pos[self_of(e)] for e in below if kind(e) == "IntervalBlock"]
            for s in (e for e in below if kind(e) == "UsageSummary"):
                assert pos[self_of(s)] > max(blocks, default=i), "summaries come after the interval blocks"
            for m in mrs:
                rt = next(x for x in links(m, "related") if "/ReadingType/" in x)
                mine = [pos[self_of(b)] for b in blocks_of(m, {"IntervalBlock": below})]
                first_user = min(pos[self_of(x)] for x in of_kind(root, "MeterReading") if rt in links(x, "related"))
                assert first_user < pos[rt] < min(mine or [len(all_e)])


def test_item_40_every_usage_point_has_a_service_kind(dc):
    for root in (dc.cmd, dc.dmd.root, get(dc.url("UsagePoint"), dc.d).root):
        for up in of_kind(root, "UsagePoint"):
            assert up.findtext(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind") in ("0", "1", "2")


@pytest.fixture(scope="module")
def gas_trees(live):
    """Each utility's first gas usage point with everything below it (the D token's DMD feed of it)."""
    out = {}
    for slug in ("bayview", "lakeshore", "prairie"):
        u = Dc(live, slug)
        ups = entries(get(u.url("UsagePoint"), u.d).root)
        gas = next(
            e for e in ups if e.findtext(f"{ATOM}content/{ESPI}UsagePoint/{ESPI}ServiceCategory/{ESPI}kind") == "1"
        )
        rc, up = self_of(gas).split("/RetailCustomer/")[1].split("/UsagePoint/")
        out[slug] = get(u.url(f"Batch/RetailCustomer/{rc}/UsagePoint/{up}"), u.d).root
    return out


def test_item_41_interval_reading_types_are_complete_with_accumulation_4(dc, gas_trees):
    for root in (dc.cmd, *gas_trees.values()):
        by_kind = check_feed(root)
        for mr in by_kind["MeterReading"]:
            if not blocks_of(mr, by_kind):
                continue
            rt = reading_type_of(mr, root)
            assert rt.get("accumulationBehaviour") == 4, rt
            missing = {"commodity", "flowDirection", "kind", "uom", "powerOfTenMultiplier", "intervalLength"} - set(rt)
            assert not missing, missing


def test_item_42_gas_reading_types_use_the_gas_codes(gas_trees):
    for slug, root in gas_trees.items():
        mrs = of_kind(root, "MeterReading")
        assert mrs, slug
        for mr in mrs:
            rt = reading_type_of(mr, root)
            assert rt["commodity"] == 7 and rt["flowDirection"] == 1, (slug, rt)
            assert (rt["kind"], rt["uom"]) in {(12, 31), (12, 132), (12, 169), (58, 42), (58, 119)}, (slug, rt)


def _readings_by_meter(root):
    by_kind = check_feed(root)
    for mr in by_kind["MeterReading"]:
        yield mr, reading_type_of(mr, root), blocks_of(mr, by_kind)


def test_item_43_every_interval_reading_has_a_time_period_and_a_value(dc):
    problems = []
    for b in of_kind(dc.cmd, "IntervalBlock"):
        for r in b.findall(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}IntervalReading"):
            for path in (f"{ESPI}timePeriod/{ESPI}start", f"{ESPI}timePeriod/{ESPI}duration", f"{ESPI}value"):
                if r.find(path) is None:
                    problems.append((self_of(b), path))
    ensure(problems, "interval readings")


def test_item_44_reading_and_block_starts_are_unique_within_a_meter_reading(dc):
    for mr, _, blocks in _readings_by_meter(dc.cmd):
        starts = [block_window(b)[0] for b in blocks]
        assert len(starts) == len(set(starts)), self_of(mr)
        readings = [x["start"] for b in blocks for x in readings_of(b)]
        assert len(readings) == len(set(readings)), self_of(mr)


def test_item_45_a_block_interval_spans_exactly_its_readings(dc):
    """ESPI.md 11.45 recommends the block's duration to be the sum of its readings'. The world leaves
    some readings out on purpose (a meter that missed an interval), and a block stays one local day,
    so the rule checked is: the interval runs from its first reading's start to its last reading's end,
    readings do not overlap, and where the sum falls short the gap is whole missing intervals."""
    problems = []
    for _, rt, blocks in _readings_by_meter(dc.cmd):
        for b in blocks:
            start, end = block_window(b)
            rs = readings_of(b)
            covered = sum(x["duration"] for x in rs)
            ordered = all(a["start"] + a["duration"] <= z["start"] for a, z in zip(rs, rs[1:]))
            gap = end - start - covered
            if (
                start != rs[0]["start"]
                or end != rs[-1]["start"] + rs[-1]["duration"]
                or not ordered
                or gap < 0
                or gap % rt["intervalLength"]
            ):
                problems.append(
                    (
                        last(self_of(b)),
                        iso(start),
                        f"interval {end - start}s",
                        f"{len(rs)} readings",
                        f"{sum(x['duration'] for x in rs)}s of readings",
                    )
                )
    ensure(problems, "block intervals")


def test_item_46_every_reading_lasts_the_reading_types_interval_length(dc):
    """ESPI.md 11.46 (rec.). A daily reading covers its whole local day (README, limits), so on the two
    DST-change days of a year it lasts 23 or 25 hours: those readings must last exactly their local day;
    every other reading lasts intervalLength."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/Los_Angeles")
    problems = []
    for mr, rt, blocks in _readings_by_meter(dc.cmd):
        for b in blocks:
            for x in readings_of(b):
                wanted = rt["intervalLength"]
                if wanted == 86400:
                    day = dt.datetime.fromtimestamp(x["start"], tz).date()
                    nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
                    wanted = int(nxt.timestamp() - dt.datetime.combine(day, dt.time(), tz).timestamp())
                if x["duration"] != wanted:
                    problems.append((mr.findtext(ATOM + "title"), iso(x["start"]), x["duration"], rt["intervalLength"]))
    ensure(problems, "reading durations")


def test_item_47_costs_are_in_hundred_thousandths_of_the_currency(dc):
    """A reading's cost is its energy times a rate of the utility's tariff (seed_data), in 1e-5 units."""
    tariff = tomllib.loads((ROOT / "seed_data" / "utilities" / f"{SLUG}.toml").read_text())["tariff"]
    rates = {c: {r for s in t["seasons"] for r in s["rates"].values()} for c, t in tariff.items()}
    units = {72: 1000, 169: 1}  # Wh per kWh; therms (the tariff's units)
    checked, problems = 0, []
    for mr, rt, blocks in _readings_by_meter(dc.cmd):
        assert rt.get("currency") == 840, rt  # USD
        commodity = {1: "electricity", 7: "gas"}[rt["commodity"]]
        for b in blocks:
            for x in readings_of(b):
                if "cost" not in x or x["value"] == 0:
                    continue
                amount = x["value"] * 10 ** rt["powerOfTenMultiplier"] / units[rt["uom"]]
                checked += 1
                if not any(abs(abs(x["cost"]) - abs(amount) * rate * 100_000) <= 1 for rate in rates[commodity]):
                    problems.append((mr.findtext(ATOM + "title"), x, x["cost"] / amount / 100_000))
    assert checked > 1000
    ensure(problems, "costs")


def test_item_48_usage_summaries_are_complete_and_link_their_usage_point(dc):
    for root in (dc.cmd, dc.dmd.root):
        summaries = of_kind(root, "UsageSummary")
        assert summaries
        for s in summaries:
            c = s.find(f"{ATOM}content/{ESPI}UsageSummary")
            assert c.find(ESPI + "statusTimeStamp") is not None
            assert c.find(f"{ESPI}billingPeriod/{ESPI}start") is not None
            assert c.find(f"{ESPI}billingPeriod/{ESPI}duration") is not None
            m = c.find(ESPI + "overallConsumptionLastPeriod")
            assert m is not None and all(m.find(ESPI + n) is not None for n in ("powerOfTenMultiplier", "uom", "value"))
            assert links(s, "related") == [self_of(s).split("/UsageSummary/")[0]], links(s, "related")


@pytest.mark.parametrize("slug, tz_offset", [("bayview", -28800), ("lakeshore", -18000)])
def test_item_49_local_time_parameters_of_us_zones(live, slug, tz_offset):
    u = Dc(live, slug)
    (ltp,) = entries(get(u.url("LocalTimeParameters"), u.d).root)
    c = ltp.find(f"{ATOM}content/{ESPI}LocalTimeParameters")
    got = {etree.QName(x).localname: x.text for x in c}
    assert got == {
        "dstStartRule": "360E2000",
        "dstEndRule": "B40E2000",
        "dstOffset": "3600",
        "tzOffset": str(tz_offset),
    }


def test_item_49_every_utilitys_local_time_parameters_have_all_four_children(live):
    for slug in ("bayview", "lakeshore", "prairie"):
        u = Dc(live, slug)
        for ltp in entries(get(u.url("LocalTimeParameters"), u.d).root):
            c = ltp.find(f"{ATOM}content/{ESPI}LocalTimeParameters")
            names = {etree.QName(x).localname for x in c}
            assert {"dstEndRule", "dstOffset", "dstStartRule", "tzOffset"} <= names, (slug, names)


def test_item_50_application_information_has_grant_types_redirect_uris_and_scopes(dc, other_tp):
    apps = entries(get(dc.url("ApplicationInformation"), dc.d).root)
    own = get(other_tp.reg["registration_client_uri"], other_tp.reg["registration_access_token"]).root
    assert apps
    for e in (*apps, own):
        ai = e.find(f"{ATOM}content/{ESPI}ApplicationInformation")
        who = ai.findtext(ESPI + "client_id")
        assert len(ai.findall(ESPI + "grant_types")) >= 2, who
        assert len(ai.findall(ESPI + "redirect_uri")) >= 1, who
        assert len(ai.findall(ESPI + "scope")) >= 1, who


def test_item_51_application_information_is_never_given_to_customer_or_client_tokens(dc, other_tp):
    apps = entries(get(dc.url("ApplicationInformation"), dc.d).root)
    urls = [dc.url("ApplicationInformation"), *(self_of(e) for e in apps), other_tp.reg["registration_client_uri"]]
    problems = []
    for bearer in (dc.a, dc.pii_cust["access_token"], dc.c, other_tp.c, other_tp.cust["access_token"]):
        for url in urls:
            r = call("GET", url, bearer)
            if r.status_code != 403:
                problems.append((url, r.status_code))
    ensure(problems, "ApplicationInformation for A and C tokens")


# --- 52-55: query parameters ----------------------------------------------------------------------

STRUCTURAL = ("UsagePoint", "MeterReading", "ReadingType", "LocalTimeParameters")


def _query(dc: Dc, **params):
    r = get(dc.cust["resourceURI"], dc.a, params=params)
    assert links(r.root, "self") == [dc.cust["resourceURI"]]  # item 30: the self link has no query
    check_feed(r.root, related_resolve=False)
    return r.root


def test_item_52_published_window_keeps_the_blocks_inside_it_and_their_parents(dc):
    full = dc.cmd
    blocks = of_kind(full, "IntervalBlock")
    lo = block_window(blocks[len(blocks) // 3])[0]
    hi = lo + 3 * 86400
    root = _query(dc, **{"published-min": iso(lo), "published-max": iso(hi)})
    inside = {self_of(b) for b in blocks if lo <= block_window(b)[0] and block_window(b)[1] <= hi}
    got = of_kind(root, "IntervalBlock")
    assert inside and {self_of(b) for b in got} == inside
    assert all(lo <= block_window(b)[0] and block_window(b)[1] <= hi for b in got)
    for name in STRUCTURAL:
        assert sorted(ids(root, name)) == sorted(ids(full, name)), name


def test_item_53_updated_min_keeps_entries_updated_since_and_the_parents(dc):
    full = dc.cmd
    blocks = of_kind(full, "IntervalBlock")
    since = sorted(epoch(b.findtext(ATOM + "updated")) for b in blocks)[len(blocks) // 2]
    root = _query(dc, **{"updated-min": iso(since)})
    expected = {self_of(b) for b in blocks if epoch(b.findtext(ATOM + "updated")) >= since}
    assert expected and {self_of(b) for b in of_kind(root, "IntervalBlock")} == expected
    for e in entries(root):
        if kind(e) not in STRUCTURAL:
            assert epoch(e.findtext(ATOM + "updated")) >= since, (self_of(e), e.findtext(ATOM + "updated"))
    for name in STRUCTURAL:
        assert sorted(ids(root, name)) == sorted(ids(full, name)), name


def test_item_54_max_results_and_start_index_page_deterministically(dc):
    everything = ids(dc.cmd)
    n = 7
    first = ids(_query(dc, **{"max-results": str(n)}))
    second = ids(_query(dc, **{"max-results": str(n), "start-index": str(n + 1)}))
    assert first == everything[:n] and second == everything[n : 2 * n]
    k = len(everything) - 3
    assert ids(_query(dc, **{"start-index": str(k)})) == everything[k - 1 :]
    assert ids(_query(dc, **{"max-results": "0"})) == []


def test_item_55_utc_datetimes_are_accepted_and_other_forms_refused_naming_the_parameter(dc):
    blocks = of_kind(dc.cmd, "IntervalBlock")
    t = block_window(blocks[len(blocks) // 2])[0]
    for name in ("published-min", "published-max", "updated-min", "updated-max"):
        other = {
            "published-min": "published-max",
            "published-max": "published-min",
            "updated-min": "updated-max",
            "updated-max": "updated-min",
        }[name]
        lo, hi = (t, t + 86400) if name.endswith("min") else (t + 86400, t)
        assert _query(dc, **{name: iso(lo), other: iso(hi)}).tag == ATOM + "feed"
    bad = {
        "published-min": "2025-13-01T00:00:00Z",
        "published-max": "tomorrow",
        "updated-min": "1750000000",
        "updated-max": "2025-06-01T25:00:00Z",
        "max-results": "-1",
        "start-index": "first",
    }
    for name, value in bad.items():
        r = call("GET", dc.cust["resourceURI"], dc.a, params={name: value})
        assert r.status_code == 400, (name, value, r.status_code)
        assert name in r.json()["error_description"], r.json()


# --- 60: bulk -----------------------------------------------------------------------------------------


def _subscriptions_in(root) -> set[str]:
    return {
        self_of(e).split("/Subscription/")[1].split("/")[0] for e in entries(root) if "/Subscription/" in self_of(e)
    }


@pytest.fixture(scope="module")
def bulk(live):
    """At Prairie: a third party of its own with two active authorizations and a revoked one, and one more
    authorization for the demo third party; both third parties' default bulk (no BR term: the client_id)."""
    p = Dc(live, "prairie")
    reg = register(p.base, p.slug, "Conformance Bulk TP")
    cred = (reg["client_id"], reg["client_secret"])
    tp_c = client_token(p.base, p.slug, cred)["access_token"]
    active = [grant(p.base, p.slug, p.usage_scope, cred), grant(p.base, p.slug, p.pii_scope, cred)]
    revoked = grant(p.base, p.slug, p.usage_scope, cred)
    assert call("DELETE", revoked["authorizationURI"], tp_c).status_code in (200, 204)
    demo = p.customer()
    mine = get(p.url(f"Batch/Bulk/{reg['client_id']}"), tp_c)
    demos = get(p.url("Batch/Bulk/demo-third-party"), p.c)
    across = call("GET", p.url(f"Batch/Bulk/{reg['client_id']}"), p.c)
    return SimpleNamespace(
        p=p, reg=reg, active=active, revoked=revoked, demo=demo, mine=mine.root, demos=demos.root, across=across
    )


def test_item_60_bulk_lists_the_usage_points_of_the_third_partys_authorizations_and_nothing_else(bulk):
    active = {last(t["resourceURI"]) for t in bulk.active}
    p = bulk.p
    shared = {
        e.findtext(ATOM + "id")
        for e in of_kind(get(bulk.demo["resourceURI"], bulk.demo["access_token"]).root, "UsagePoint")
    }
    # the union of the authorizations' usage points, each once (the customer shared every one both times,
    # and ids are unique in a document), under the subscriptions of active authorizations only
    in_bulk = [e.findtext(ATOM + "id") for e in of_kind(bulk.mine, "UsagePoint")]
    assert sorted(in_bulk) == sorted(shared) and len(set(in_bulk)) == len(in_bulk)
    assert _subscriptions_in(bulk.mine) and _subscriptions_in(bulk.mine) <= active
    assert of_kind(bulk.mine, "IntervalBlock")
    theirs = _subscriptions_in(bulk.demos)
    # the demo third party's new authorization shares usage points its seeded one shares too: they come once
    assert shared <= {e.findtext(ATOM + "id") for e in of_kind(bulk.demos, "UsagePoint")}
    assert not theirs & (active | {last(bulk.revoked["resourceURI"])})
    # the demo third party's client token on the other third party's bulk id sees none of it
    if bulk.across.status_code == 200:
        assert not _subscriptions_in(bulk.across.root) & active
    else:
        assert bulk.across.status_code in (403, 404), bulk.across.status_code
    assert links(bulk.mine, "self") == [p.url(f"Batch/Bulk/{bulk.reg['client_id']}")]


def test_item_29_to_33_the_bulk_feeds_pass_the_structural_checks(bulk):
    """A bulk feed is a feed like the others (ESPI.md 11.29-33): here the third party holds two authorizations
    from the same customer, so the same UsagePoints are shared twice, and come once."""
    for root in (bulk.mine, bulk.demos):
        by_kind = check_feed(root)
        check_usage_structure(by_kind, root)


# --- 62-64: Download My Data and upload ------------------------------------------------------------------


def test_item_62_custodian_token_gets_a_customers_full_dmd_feed_and_one_usage_point(dc):
    r = dc.dmd
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    assert r.headers.get("Content-Disposition", "").startswith("attachment")
    by_kind = check_feed(r.root)
    check_usage_structure(by_kind, r.root)
    own = {e.findtext(ATOM + "id") for e in entries(get(dc.url(f"RetailCustomer/{dc.rc}/UsagePoint"), dc.d).root)}
    assert {e.findtext(ATOM + "id") for e in by_kind["UsagePoint"]} == own and len(own) > 1
    assert by_kind["IntervalBlock"] and by_kind["MeterReading"]
    up = by_kind["UsagePoint"][-1]
    for bearer in (dc.d, dc.u):
        one = get(dc.url(f"Batch/RetailCustomer/{dc.rc}/UsagePoint/{last(self_of(up))}"), bearer).root
        (kept,) = of_kind(one, "UsagePoint")
        assert self_of(kept) == self_of(up)
        below = [e for e in entries(one) if "/UsagePoint/" in self_of(e)]
        assert below and all(self_of(e).startswith(self_of(up)) for e in below)
        assert sorted(ids(one)) == sorted(
            [up.findtext(ATOM + "id")]
            + [e.findtext(ATOM + "id") for e in usage_points_of(r.root)[self_of(up)]]
            + ids(one, "ReadingType", "LocalTimeParameters")
        )
        check_usage_structure(check_feed(one), one)


@pytest.fixture(scope="module")
def upload(tmp_path_factory):
    """A server of its own: a Green Button file just downloaded for one customer, uploaded (U token) as another's."""
    db = tmp_path_factory.mktemp("upload") / "upload.db"
    with LiveServer("--database", str(db), "--customers", "4", "--reset") as server:
        u = Dc(server.url, SLUG)
        customers: list[str] = []
        for e in entries(get(u.url("UsagePoint"), u.d).root):
            rc = self_of(e).split("/RetailCustomer/")[1].split("/")[0]
            if rc not in customers:
                customers.append(rc)
        source, target, bystander = customers[1:4]
        file = get(u.url(f"Batch/RetailCustomer/{source}/UsagePoint"), u.d)
        before = {name: get(u.url(f"Batch/RetailCustomer/{name}/UsagePoint"), u.d).root for name in (target, bystander)}
        first = call("POST", u.url(f"Batch/RetailCustomer/{target}/UsagePoint"), u.u, data=file.content, headers=XML)
        listed = [e.findtext(ATOM + "id") for e in entries(get(u.url(f"RetailCustomer/{target}/UsagePoint"), u.d).root)]
        yield SimpleNamespace(
            dc=u,
            source=source,
            target=target,
            bystander=bystander,
            file=file,
            before=before,
            first=first,
            listed=listed,
        )


def test_item_10_upload_token_posts_a_green_button_file(upload):
    assert 200 <= upload.first.status_code < 300, (upload.first.status_code, upload.first.text[:300])


def test_item_63_the_uploaded_usage_point_and_its_blocks_are_in_the_customers_batch_feed(upload):
    u = upload.dc
    source = upload.file.root
    after = get(u.url(f"Batch/RetailCustomer/{upload.target}/UsagePoint"), u.d).root
    by_kind = check_feed(after)
    check_usage_structure(by_kind, after)
    old = set(ids(upload.before[upload.target], "UsagePoint"))
    new = [up for up in by_kind["UsagePoint"] if up.findtext(ATOM + "id") not in old]
    assert len(new) == len(of_kind(source, "UsagePoint")), [self_of(x) for x in new]
    below = [e for up in new for e in usage_points_of(after)[self_of(up)]]
    assert sum(kind(e) == "IntervalBlock" for e in below) == len(of_kind(source, "IntervalBlock"))
    count = sum(
        len(b.findall(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}IntervalReading"))
        for b in below
        if kind(b) == "IntervalBlock"
    )
    assert count == sum(
        len(b.findall(f"{ATOM}content/{ESPI}IntervalBlock/{ESPI}IntervalReading"))
        for b in of_kind(source, "IntervalBlock")
    )


def test_item_64_uploading_the_same_file_again_creates_no_duplicate(upload):
    u = upload.dc
    assert len(upload.listed) == len(ids(upload.before[upload.target], "UsagePoint")) + len(
        of_kind(upload.file.root, "UsagePoint")
    )
    again = call(
        "POST", u.url(f"Batch/RetailCustomer/{upload.target}/UsagePoint"), u.u, data=upload.file.content, headers=XML
    )
    assert 200 <= again.status_code < 300, again.text
    listed = [
        e.findtext(ATOM + "id") for e in entries(get(u.url(f"RetailCustomer/{upload.target}/UsagePoint"), u.d).root)
    ]
    assert listed == upload.listed


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml at all", b"<feed><entry>", b"<html><body>hello</body></html>", "half"],
    ids=["empty", "text", "unclosed", "not-atom", "truncated"],
)
def test_item_63_an_unparseable_upload_is_400_and_stores_nothing(upload, body):
    u = upload.dc
    if body == "half":
        body = upload.file.content[: len(upload.file.content) // 2]
    url = u.url(f"Batch/RetailCustomer/{upload.bystander}/UsagePoint")
    for bearer in (u.u, u.d):
        r = call("POST", url, bearer, data=body, headers=XML)
        assert r.status_code == 400 and r.json()["error_description"], (r.status_code, r.text[:200])
    assert ids(get(url, u.d).root) == ids(upload.before[upload.bystander])


# --- 66-69: no PII in usage data; PII resources -------------------------------------------------------------


def test_item_66_usage_data_titles_ids_and_urls_carry_no_customer_name_address_or_account(dc):
    found = [
        el.text
        for name in ("customerName", "organisationName", "addressGeneral", "accountId", "email1", "localNumber")
        for el in dc.pii.iter(CUST + name)
    ]
    found += [el.text for el in dc.pii.iterfind(f".//{CUST}streetDetail/{CUST}name")]
    secrets = {t.strip().lower() for t in found if t and len(t.strip()) >= 4}
    assert len(secrets) >= 4, secrets
    seen = [dc.cust["resourceURI"], dc.cust["authorizationURI"]]
    for root in (dc.cmd, dc.dmd.root, get(dc.url("UsagePoint"), dc.d).root):
        for el in (root, *entries(root)):
            seen += [el.findtext(ATOM + "id") or "", el.findtext(ATOM + "title") or ""]
            seen += [x.get("href") for x in el.findall(ATOM + "link")]
    leaks = [(s, v) for v in seen for s in secrets if s in v.lower()]
    ensure(leaks, "customer data in usage-data titles, ids or URLs")


def test_item_67_the_pii_token_gets_a_cust_feed_that_the_authorization_points_to(dc):
    t = dc.pii_cust
    assert t["customerResourceURI"] == dc.url(f"Batch/RetailCustomer/{dc.rc}")
    by_kind = check_feed(dc.pii, prefix="cust")
    assert {"Customer", "CustomerAccount", "CustomerAgreement", "ServiceLocation"} <= set(by_kind), set(by_kind)
    assert links(dc.pii, "self") == [t["customerResourceURI"]]
    entry = get(t["authorizationURI"], dc.c).root
    assert entry.findtext(f"{ATOM}content/{ESPI}Authorization/{ESPI}customerResourceURI") == t["customerResourceURI"]


def test_item_68_customer_and_account_link_each_other_and_the_agreement(dc):
    by_kind = check_feed(dc.pii, prefix="cust")
    selves = {k: {self_of(e) for e in v} for k, v in by_kind.items()}
    for c in by_kind["Customer"]:
        assert set(links(c, "related")) & selves["CustomerAccount"]
    for a in by_kind["CustomerAccount"]:
        rel = set(links(a, "related"))
        assert len(rel & selves["Customer"]) == 1 and rel & selves["CustomerAgreement"]


def test_item_69_a_token_without_pii_blocks_gets_403_on_every_pii_path(dc):
    paths = {dc.pii_cust["customerResourceURI"], dc.url(f"RetailCustomer/{dc.rc}/Customer")}
    for e in entries(dc.pii):
        paths |= {self_of(e), links(e, "up")[0]}
    problems = []
    for url in sorted(paths):
        r = call("GET", url, dc.a)
        if r.status_code != 403:
            problems.append((url.replace(dc.root, "{R}"), r.status_code))
    ensure(problems, "PII paths with a usage-only token")
    assert len(paths) > 5
