"""Customer (PII), ApplicationInformation, Authorization, BatchList and ServiceStatus documents."""

from __future__ import annotations

import datetime as dt

from espi.checks import ATOM, CUST, ESPI, assert_valid, check_feed, kind, links, parse
from sqlalchemy import select
from web.helpers import demo_grant

from sandbox.core.models import Application, Authorization, Customer
from sandbox.espi.atom import FeedWriter
from sandbox.espi.resources import batch_list, service_status
from sandbox.feeds.customer import customer_entries
from sandbox.feeds.management import application_entry, authorization_entry

NOW = int(dt.datetime(2025, 7, 15, tzinfo=dt.timezone.utc).timestamp())


def _customer_feed(app, customer) -> bytes:
    sb = app.extensions["sandbox"]
    u = sb.world.utility(customer.utility.slug)
    root = f"http://sandbox.test/dc/{u.slug}/espi/1_1/resource"
    entries = customer_entries(
        sb.world, u, customer, root, lambda up: f"{root}/RetailCustomer/{customer.uuid}/UsagePoint/{up}", NOW
    )
    return b"".join(
        FeedWriter("cust").feed(
            "a0000000-0000-5000-8000-000000000000",
            "Customer data",
            f"{root}/Batch/RetailCustomer/{customer.uuid}",
            NOW,
            entries,
        )
    )


def test_customer_feed_is_valid_and_linked_as_certification_expects(app):
    with app.extensions["sandbox"].db.sessions() as s:
        for customer in s.scalars(select(Customer)).all():
            root = parse(_customer_feed(app, customer))
            by_kind = check_feed(root, "cust")
            assert not root.findall(f".//{ESPI}UsagePoint"), "no usage data in a PII document"
            (cust,), (account,) = by_kind["Customer"], by_kind["CustomerAccount"]
            assert links(account, "self")[0] in links(cust, "related")
            assert links(cust, "self")[0] in links(account, "related")
            assert any("/CustomerAgreement/" in h for h in links(account, "related"))
            org = cust.find(f"{ATOM}content/{CUST}Customer/{CUST}Organisation/{CUST}streetAddress")
            assert org.findtext(f"{CUST}townDetail/{CUST}name") == customer.city
            assert org.findtext(f"{CUST}townDetail/{CUST}stateOrProvince") == customer.state
            assert org.findtext(f"{CUST}streetDetail/{CUST}addressGeneral") == customer.street
            assert len(by_kind["Meter"]) == len(customer.usage_points)
            serials = {m.findtext(f"{ATOM}content/{CUST}Meter/{CUST}serialNumber") for m in by_kind["Meter"]}
            assert serials == {up.meter_serial for up in customer.usage_points}
            location = by_kind["ServiceLocation"][0].find(f"{ATOM}content/{CUST}ServiceLocation")
            hrefs = [u.text for u in location.iter(CUST + "UsagePoint")]
            assert [h.rsplit("/", 1)[1] for h in hrefs] == [up.uuid for up in customer.usage_points]


def test_application_information_and_authorization_entries(app, clock):
    sb = app.extensions["sandbox"]
    granted = [demo_grant(app, slug) for slug in ("bayview", "lakeshore")]  # no grant is seeded
    with sb.db.sessions() as s:
        # third parties' registrations (the utility's own upload and admin clients have none)
        for application in s.scalars(select(Application).where(Application.role == "third_party")).all():
            data = FeedWriter().entry_document(
                application_entry(application, "dc-id", "http://sandbox.test", "bayview")
            )
            root = parse(data)
            assert_valid(root)
            info = root.find(f"{ATOM}content/{ESPI}ApplicationInformation")
            assert len(info.findall(ESPI + "grant_types")) >= 2 and info.findall(ESPI + "redirect_uri")
            assert [e.text for e in info.findall(ESPI + "scope")] == application.scopes
            assert info.findtext(ESPI + "client_id") == application.client_id
            assert b"demo-secret" not in data
        found = s.scalars(select(Authorization)).all()
        assert sorted(a.id for a in found) == sorted(g.id for g in granted)
        for auth in found:
            data = FeedWriter().entry_document(authorization_entry(auth, "http://sandbox.test", "bayview", clock.now()))
            root = parse(data)
            assert_valid(root)
            a = root.find(f"{ATOM}content/{ESPI}Authorization")
            assert a.findtext(ESPI + "status") == "1"
            assert a.findtext(ESPI + "resourceURI").endswith(f"/Batch/Subscription/{auth.subscription_uuid}")
            assert a.findtext(ESPI + "authorizationURI") == links(root, "self")[0]
            assert a.find(ESPI + "customerResourceURI") is None  # the demo grant is usage data only
            assert not [c for c in a if "token" in etree_name(c) and etree_name(c) != "token_type"]


def etree_name(el) -> str:
    return el.tag.split("}")[1]


def test_bare_documents():
    for data in (
        batch_list(["http://x.test/espi/1_1/resource/Batch/Subscription/1?published-min=2025-01-01T00:00:00Z&a=b"]),
        service_status(1),
    ):
        root = parse(data)
        assert_valid(root)
    root = parse(batch_list(["http://x.test/a?b=1&c=2", "http://x.test/d"]))
    assert [r.text for r in root] == ["http://x.test/a?b=1&c=2", "http://x.test/d"]
    assert parse(service_status(0)).findtext(ESPI + "currentStatus") == "0"


def test_feed_kinds_helper_reads_payload_names(app):
    with app.extensions["sandbox"].db.sessions() as s:
        customer = s.scalars(select(Customer)).first()
        root = parse(_customer_feed(app, customer))
        assert [kind(e) for e in root.findall(ATOM + "entry")][:3] == [
            "Customer",
            "CustomerAccount",
            "CustomerAgreement",
        ]
