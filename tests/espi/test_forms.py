"""Documents put in another form (sandbox.espi.forms): every version x namespace style x href style,
for every kind of document the sandbox writes, is valid in its version, carries exactly the data of
the plain document, and reads back to the same readings through three independent readers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import re
from urllib.parse import urljoin

import pytest
from feeds.test_usage_feeds import END, START, transient_usage_points
from greenbutton_objects import parse as gb_parse
from lxml import etree
from sqlalchemy import select
from web.helpers import demo_grant

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.core.models import Application, Authorization, Customer
from sandbox.demo.espi import parse_usage
from sandbox.espi.atom import BlockRun, FeedWriter
from sandbox.espi.forms import HREFS, NAMESPACES, VERSIONS, Form, render
from sandbox.espi.reader import read_usage_feed
from sandbox.espi.resources import batch_list, service_status
from sandbox.espi.scopes import EVERYTHING
from sandbox.espi.xmlio import parse_untrusted
from sandbox.feeds import Urls, UsageFeed
from sandbox.feeds.customer import customer_entries
from sandbox.feeds.management import application_entry, authorization_entry
from sandbox.services.dmd import usage_document
from sandbox.services.readings import History

from .checks import ATOM, CUST, ESPI, check_feed, check_usage_structure, espi_schema, links, parse

SERVER = "http://sandbox.test/"  # every document here is written for this server root
NOW = int(dt.datetime(2025, 7, 15, tzinfo=dt.timezone.utc).timestamp())
ATOM_NS, ESPI_NS, CUST_NS = ATOM[1:-1], ESPI[1:-1], CUST[1:-1]

FORMS = [Form(v, n, h) for v, n, h in itertools.product(VERSIONS, NAMESPACES, HREFS)]
FORM_IDS = [f"{f.version}-{f.namespaces}-{f.hrefs}" for f in FORMS]

USAGE_FEEDS = ("usage-feed", "usage-feed-15-minute", "usage-feed-without-cost", "download-my-data")
FEEDS = USAGE_FEEDS + ("customer-feed", "application-information-feed", "authorization-feed")
ENTRIES = tuple(
    f"usage-entry-{k}"
    for k in ("UsagePoint", "MeterReading", "ReadingType", "LocalTimeParameters", "IntervalBlock", "UsageSummary")
) + ("customer-entry", "application-information", "authorization", "authorization-of-the-utility-client")
BARE = ("batch-list", "service-status")
KINDS = FEEDS + ENTRIES + BARE
# greenbutton-objects knows no flowDirection 4 (net, FB 7): the usage feeds are those of a third party
# granted FB 8 and not FB 7, so that it reads them (Download My Data holds it only when asked)
WITHOUT_NET = dataclasses.replace(EVERYTHING, net=False)


def _usage_feed(world, slug, archetype, with_cost) -> tuple[bytes, list]:
    u = world.utility(slug)
    urls = Urls.for_customer(SERVER.rstrip("/"), u.slug, "c0ffee00-0000-5000-8000-000000000000")
    feed = UsageFeed(world, u, urls, START, END, with_cost, WITHOUT_NET)
    ups = transient_usage_points(world, u, archetype)
    entries = list(feed.entries([(up, History(world.history_start, dt.date(2026, 1, 1))) for up in ups]))
    data = b"".join(
        FeedWriter().feed("f0000000-0000-5000-8000-000000000000", "test", urls.parent + "/UsagePoint", 0, entries)
    )
    return data, entries


@pytest.fixture(scope="module")
def documents(world, tmp_path_factory) -> dict[str, bytes]:
    """One document (or more) of every kind the sandbox writes, plain, by kind."""
    docs: dict[str, bytes] = {}
    # electricity both ways, gas and water, costs, estimated readings, a DST change, a billed month
    docs["usage-feed"], entries = _usage_feed(world, "bayview", "solar_house", True)
    docs["usage-feed-15-minute"], _ = _usage_feed(world, "lakeshore", "solar_house", True)
    docs["usage-feed-without-cost"], _ = _usage_feed(world, "prairie", "apartment", False)
    writer = FeedWriter()
    for kind in ("UsagePoint", "MeterReading", "ReadingType", "LocalTimeParameters", "IntervalBlock", "UsageSummary"):
        e = next(e.entry(0) if isinstance(e, BlockRun) else e for e in entries if e.kind == kind)
        docs[f"usage-entry-{kind}"] = writer.entry_document(e)

    clock = Clock()
    clock.freeze(dt.datetime(2025, 7, 15, 18, 30, tzinfo=dt.timezone.utc))  # as tests/conftest.py's clock
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('forms') / 'test.db'}",
            "CUSTOMERS": 3,
            "TESTING": True,
            "ADMIN_KEY": "k",
        },
        clock=clock,
    )
    sb = app.extensions["sandbox"]
    base = SERVER.rstrip("/")
    try:
        demo_grant(app, admin_key="k")  # an Authorization to write
        with sb.db.sessions() as s:
            customer = s.scalars(select(Customer)).first()
            u = sb.world.utility(customer.utility.slug)
            root = f"{base}/dc/{u.slug}/espi/1_1/resource"
            pii = list(
                customer_entries(
                    sb.world,
                    u,
                    customer,
                    root,
                    lambda up: f"{root}/RetailCustomer/{customer.uuid}/UsagePoint/{up}",
                    NOW,
                )
            )
            docs["customer-feed"] = b"".join(
                FeedWriter("cust").feed(
                    "a0000000-0000-5000-8000-000000000000",
                    "Customer data",
                    f"{root}/Batch/RetailCustomer/{customer.uuid}",
                    NOW,
                    pii,
                )
            )
            docs["customer-entry"] = FeedWriter("cust").entry_document(pii[0])
            docs["download-my-data"] = b"".join(
                usage_document(sb, customer.id, None, dt.date(2025, 5, 1), dt.date(2025, 7, 1), True, base)
            )
            third = s.scalars(select(Application).where(Application.role == "third_party")).all()
            infos = [application_entry(a, "dc-id", base, "bayview") for a in third]
            docs["application-information"] = writer.entry_document(infos[0])
            docs["application-information-feed"] = b"".join(
                writer.feed(
                    "b0000000-0000-5000-8000-000000000000",
                    "ApplicationInformation",
                    f"{base}/dc/bayview/espi/1_1/resource/ApplicationInformation",
                    NOW,
                    infos,
                )
            )
            grants = [
                authorization_entry(a, base, "bayview", clock.now()) for a in s.scalars(select(Authorization)).all()
            ]
            docs["authorization"] = writer.entry_document(grants[0])
            # the utility's own client reaches the whole resource tree: its grant's related link has no type
            own = s.scalars(select(Application).where(Application.role != "third_party")).first()
            utility_grant = Authorization(
                uuid="d0000000-0000-5000-8000-000000000001",
                subscription_uuid="d0000000-0000-5000-8000-000000000002",
                application=own,
                customer=None,
                customer_id=None,
                scope="FB=4_5_15;IntervalDuration=3600",
                grant_type="client_credentials",
                status="active",
                authorized_start=dt.datetime(2025, 1, 1),
                authorized_end=dt.datetime(2026, 1, 1),
                created_at=dt.datetime(2025, 1, 1),
            )
            grants.append(authorization_entry(utility_grant, base, "bayview", clock.now()))
            docs["authorization-of-the-utility-client"] = writer.entry_document(grants[-1])
            docs["authorization-feed"] = b"".join(
                writer.feed(
                    "c0000000-0000-5000-8000-000000000000",
                    "Authorization",
                    f"{base}/dc/bayview/espi/1_1/resource/Authorization",
                    NOW,
                    grants,
                )
            )
    finally:
        sb.db.engine.dispose()
    docs["batch-list"] = batch_list(
        [
            f"{base}/dc/bayview/espi/1_1/resource/Batch/Subscription/1?published-min=2025-01-01T00:00:00Z&a=b",
            f"{base}/dc/bayview/espi/1_1/resource/ApplicationInformation/2",
        ]
    )
    docs["service-status"] = service_status(1)
    assert set(docs) == set(KINDS)
    return docs


@pytest.fixture(scope="module")
def rendered(documents):
    """render() of each (kind, form), computed once."""
    cache: dict[tuple[str, Form], bytes] = {}

    def get(kind: str, form: Form) -> bytes:
        if (kind, form) not in cache:
            cache[kind, form] = render(documents[kind], form)
        return cache[kind, form]

    return get


def _valid(root, version: str) -> bool:
    return espi_schema(version).validate(root)


def _data(root, expect_version: str | None = None, resolve: bool = False) -> list[tuple]:
    """Every element in document order: (namespace-qualified tag, text, tail, child count, attributes).

    `expect_version` "3.3": a link without a type is given the one render adds (what the plain
    document must become); `resolve`: hrefs resolved against the server root (root-relative ones
    must start with "/")."""
    out = []
    for el in root.iter():
        attrs = dict(el.attrib)
        if el.tag == ATOM + "link":
            if expect_version == "3.3":
                attrs.setdefault("type", "application/atom+xml")
            if resolve:
                assert attrs["href"].startswith("/") and not attrs["href"].startswith("//"), attrs["href"]
                attrs["href"] = urljoin(SERVER, attrs["href"])
        out.append((el.tag, el.text, el.tail, len(el), sorted(attrs.items())))
    return out


def _payloads(root) -> list:
    return [c[0] for c in root.iter(ATOM + "content")]


# --- the form itself ----------------------------------------------------------------------------


def test_form_checks_its_fields_and_knows_the_plain_one(documents):
    assert Form().plain and Form("4.0", "espi", "absolute").plain
    for other in FORMS[1:]:
        assert not other.plain
    for field, bad in (("version", "3.2"), ("namespaces", "prefixed"), ("hrefs", "relative")):
        with pytest.raises(ValueError, match=f"^{field}: "):
            Form(**{field: bad})
    for data in documents.values():
        assert render(data, Form()) is data


def test_every_link_is_typed_in_4_0_and_3_3_keeps_the_types(rendered, documents):
    """ESPI 3.3's atom.xsd requires `type` on every link: 4.0 documents now carry one everywhere (the
    feed's own self link and a client grant's related link included), and 3.3 keeps them as they are."""
    plain, out = parse(documents["authorization-feed"]), parse(rendered("authorization-feed", Form(version="3.3")))
    before = [(x.get("rel"), x.get("type")) for x in plain.iter(ATOM + "link")]
    after = [(x.get("rel"), x.get("type")) for x in out.iter(ATOM + "link")]
    assert before[0] == ("self", "espi-feed/Authorization")  # the feed's own link
    assert all(t for _, t in before), before
    assert after == before


def test_version_3_3_refuses_what_3_3_cannot_say(documents):
    """customer.xsd 4.0 added Statement; a document holding one cannot be written in 3.3 without losing it."""
    root = parse(documents["customer-entry"])
    content = root.find(ATOM + "content")
    content[0] = etree.Element(CUST + "Statement")
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with pytest.raises(ValueError, match="Statement"):
        render(data, Form(version="3.3"))
    assert render(data, Form(namespaces="default"))  # 4.0 has it


# --- every kind, every form ----------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_form_is_valid_and_carries_exactly_the_plain_data(documents, rendered, kind, form):
    plain = parse(documents[kind])
    out_data = rendered(kind, form)
    out = parse(out_data)
    info = out.getroottree().docinfo
    assert out_data.startswith(b"<?xml ") and (info.xml_version, info.encoding) == ("1.0", "UTF-8")
    assert out_data.endswith(b">\n")
    assert _valid(plain, "4.0")
    assert _valid(plain, "3.3"), espi_schema("3.3").error_log.last_error  # every link typed, as 3.3 requires
    assert _valid(out, form.version), espi_schema(form.version).error_log.last_error
    assert _data(out, resolve=form.hrefs == "root-relative") == _data(plain, expect_version=form.version)
    if form.hrefs == "absolute":
        assert all(x.get("href").startswith(SERVER) for x in out.iter(ATOM + "link"))


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_prefixes_and_declarations_follow_the_style(documents, rendered, kind, form):
    plain, data = parse(documents[kind]), rendered(kind, form)
    out = parse(data)
    atom_document = out.tag.startswith(ATOM)
    if form.namespaces == "espi":
        assert [(el.prefix, el.nsmap) for el in out.iter()] == [(el.prefix, el.nsmap) for el in plain.iter()]
        return
    assert b"espi:" not in data and b"cust:" not in data
    if form.namespaces == "default":
        assert all(el.prefix is None for el in out.iter())
        if not atom_document:  # a bare BatchList or ServiceStatus
            assert out.nsmap == {None: ESPI_NS}
            return
        assert out.nsmap == {None: ATOM_NS}  # Atom alone on the root
        payloads = _payloads(out)
        assert payloads
        for p in payloads:
            ns = etree.QName(p).namespace
            assert ns in (ESPI_NS, CUST_NS) and p.nsmap == {None: ns}  # its own default namespace
            assert p.getparent().nsmap == {None: ATOM_NS}  # declared on the payload itself
            assert all(el.nsmap == p.nsmap for el in p.iter())  # and nowhere below it
    else:  # ns0: ElementTree's prefixes, all declared on the root, the root's own namespace first
        namespaces = list(dict.fromkeys(etree.QName(el).namespace for el in plain.iter()))
        assert out.nsmap == {f"ns{i}": ns for i, ns in enumerate(namespaces)}
        assert out.prefix == "ns0" and (not atom_document or out.nsmap["ns0"] == ATOM_NS)
        assert all(re.fullmatch(r"ns\d+", el.prefix) and el.nsmap == out.nsmap for el in out.iter())


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("kind", FEEDS)
def test_feeds_hold_together_in_every_form(documents, rendered, kind, form):
    out = parse(rendered(kind, form))
    prefix = "cust" if kind == "customer-feed" else "espi"
    inward = kind != "authorization-feed"  # a grant's related link names its subscription, served elsewhere
    by_kind = check_feed(out, prefix, inward, version=form.version)
    plain = check_feed(parse(documents[kind]), prefix, inward)
    assert {k: len(v) for k, v in by_kind.items()} == {k: len(v) for k, v in plain.items()}
    if kind in USAGE_FEEDS:
        check_usage_structure(by_kind, out)
    if form.hrefs == "root-relative":
        hrefs = [x.get("href") for x in out.iter(ATOM + "link")]
        absolute = [x.get("href") for x in parse(documents[kind]).iter(ATOM + "link")]
        assert all(h.startswith("/dc/") for h in hrefs)
        assert [urljoin(SERVER, h) for h in hrefs] == absolute


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("kind", ENTRIES)
def test_entries_keep_their_links_in_every_form(documents, rendered, kind, form):
    out, plain = parse(rendered(kind, form)), parse(documents[kind])
    assert out.tag == ATOM + "entry" and out.findtext(ATOM + "id") == plain.findtext(ATOM + "id")
    (self_href,), (up_href,) = links(out, "self"), links(out, "up")
    assert up_href == self_href.rsplit("/", 1)[0]
    assert urljoin(SERVER, self_href) == links(plain, "self")[0]


# --- the readings, through three readers --------------------------------------------------------


def _objects_readings(data: bytes) -> list:
    """What greenbutton-objects reads: usage points, their meter readings and reading types, readings.

    It knows no ReadingType kind 58 (the volume of gas lakeshore and prairie meter) and no flowDirection
    4 (net): it refuses those feeds, and must refuse them in the same way in every form."""
    out: list = []
    try:
        ups = gb_parse.parse_feed(io.BytesIO(data))
    except ValueError as exc:
        return ["refused", str(exc)]
    for up in ups:
        streams = []
        for mr in up.meterReadings:
            rt = mr.readingType
            rows = [
                (
                    ir.timePeriod.start,
                    ir.timePeriod.duration,
                    ir._value,
                    ir.cost,
                    sorted(q.quality.value for q in ir.readingQualities),
                )
                for ir in mr.intervalReadings
            ]
            streams.append(
                (
                    mr.title,
                    rt.uom.value,
                    rt.flowDirection.value,
                    rt.intervalLength,
                    rt.kind.value,
                    rt.powerOfTenMultiplier,
                    rows,
                )
            )
        out.append((up.title, up.serviceCategory.value, sorted(streams, key=repr)))
    return sorted(out, key=repr)


@pytest.fixture(scope="module")
def plain_readings(documents):
    out = {}
    for kind in USAGE_FEEDS:
        data = documents[kind]
        sandbox = read_usage_feed(parse_untrusted(data))
        out[kind] = (sandbox, parse_usage(data), _objects_readings(data))
        count = sum(len(s.readings) for up in sandbox for s in up.streams)
        assert count > 800
        if kind in ("usage-feed", "usage-feed-15-minute"):  # energy received from the customer, estimated readings
            assert any(s.reading_type.get("flowDirection") == 19 for up in sandbox for s in up.streams)
            assert any(r.quality for up in sandbox for s in up.streams for r in s.readings)
        # the readers agree with one another on the plain document
        assert count == sum(len(s.readings) for s in out[kind][1].streams)
        if out[kind][2][0] != "refused":
            assert count == sum(len(rows) for _, _, streams in out[kind][2] for *_, rows in streams)
    assert out["usage-feed-15-minute"][2] == ["refused", "58 is not a valid KindType"]
    assert out["download-my-data"][2][0] != "refused"  # a customer's file holds no net series unless asked
    assert out["usage-feed"][2][0] != "refused"
    return out


@pytest.mark.parametrize("form", [f for f in FORMS if not f.plain], ids=FORM_IDS[1:])
@pytest.mark.parametrize("kind", USAGE_FEEDS)
def test_every_form_reads_back_to_the_same_readings(plain_readings, rendered, kind, form):
    data = rendered(kind, form)
    sandbox, demo, objects = plain_readings[kind]
    assert read_usage_feed(parse_untrusted(data)) == sandbox
    got = parse_usage(data)
    assert got == demo
    assert sum(len(s.readings) for s in got.streams) == sum(len(s.readings) for s in demo.streams)
    assert _objects_readings(data) == objects
