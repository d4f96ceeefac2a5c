"""Entries of a customer's retail-customer (PII) resources, under {R}/RetailCustomer/{id}/Customer/...,
and the utility's ProgramDateIdMappings (the codes its readings carry), under {R}/ProgramDateIdMappings.

Kept apart from usage data: these go only into `cust:` documents (ESPI.md 2.5)."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, Sequence

from sandbox.core.models import Customer, UsagePoint
from sandbox.espi import customer as pii
from sandbox.espi import urls
from sandbox.espi.atom import Entry, Link
from sandbox.espi.uuids import resource_uuid_str
from sandbox.services.statements import MEDIA_TYPE, Period
from sandbox.synth.calendar import local_date, local_midnight
from sandbox.synth.world import UtilityDef, WorldDef

COUNTRY = {"USD": "US", "CAD": "CA"}


def customer_entries(
    world: WorldDef,
    utility: UtilityDef,
    customer: Customer,
    root: str,
    usage_point_href: Callable[[str], str],
    now: int,
    usage_points: Sequence[UsagePoint] | None = None,
    statements: Sequence[Period] = (),
) -> Iterator[Entry]:
    """Customer, CustomerAccount, CustomerAgreement, ServiceSupplier, ServiceLocation, Meters and the
    account's Statements, parents first.

    The service location links, and the meters are, those of `usage_points` (default: all the
    customer's); a subscription's PII names only the usage points shared at consent (and its
    `statements` bill only those). A Statement points at its bill document, {R}/Statement/{id}/Document."""
    points = list(customer.usage_points if usage_points is None else usage_points)
    seed, slug = world.seed, utility.slug
    ident = lambda *parts: resource_uuid_str(seed, slug, "pii", customer.uuid, *parts)  # noqa: E731
    cid, aid, gid, sid, lid = (
        ident("customer"),
        ident("account"),
        ident("agreement"),
        ident("supplier"),
        ident("location"),
    )
    base = urls.href(root, "RetailCustomer", retail_customer_id=customer.uuid)
    c_href = urls.below(base, "Customer", cid)
    a_href = urls.below(c_href, "CustomerAccount", aid)
    g_href = urls.below(a_href, "CustomerAgreement", gid)
    s_href = urls.below(g_href, "ServiceSupplier", sid)
    l_href = urls.below(g_href, "ServiceLocation", lid)
    since = local_midnight(utility.time_zone, customer.service_start)
    closed = customer.service_end is not None and customer.service_end <= local_date(utility.time_zone, now)
    status = "closed" if closed else "active"
    address = pii.street_address(
        street=customer.street,
        city=customer.city,
        state=customer.state,
        postal_code=customer.postal_code,
        country=COUNTRY.get(utility.currency, "US"),
    )
    kind = "commercialIndustrial" if customer.archetype == "small_business" else "residential"
    meters = [(up, ident("meter", up.number)) for up in points]
    yield Entry(
        "Customer",
        cid,
        c_href,
        urls.below(base, "Customer"),
        "Customer",
        since,
        now,
        lambda: pii.customer(
            name=customer.name,
            kind=kind,
            address=address,
            email=customer.email,
            phone=customer.phone,
            status=status,
            status_time=since,
            locale=utility.locale.replace("_", "-"),
        ),
        [Link("related", a_href, "cust-entry/CustomerAccount")],
    )
    yield Entry(
        "CustomerAccount",
        aid,
        a_href,
        urls.below(c_href, "CustomerAccount"),
        "Customer account",
        since,
        now,
        lambda: pii.customer_account(
            account_id=customer.account_number,
            created=since,
            email=customer.email,
            billing_cycle="monthly",
            last_bill=None,
            name=customer.name,
            address=address,
            status=status,
            status_time=since,
        ),
        [
            Link("related", c_href, "cust-entry/Customer"),
            Link("related", g_href, "cust-entry/CustomerAgreement"),
            *([Link("related", urls.below(a_href, "Statement"), "cust-feed/Statement")] if statements else []),
        ],
    )
    end = local_midnight(utility.time_zone, customer.service_end) if customer.service_end else None
    tariffs = ", ".join(utility.tariffs[c].name for c in utility.commodities)
    yield Entry(
        "CustomerAgreement",
        gid,
        g_href,
        urls.below(a_href, "CustomerAgreement"),
        "Service agreement",
        since,
        now,
        lambda: pii.customer_agreement(
            agreement_id=f"SA-{customer.account_number}",
            sign_date=since,
            start=since,
            duration=(end - since) if end else None,
            currency=utility.currency_code,
            tariff=tariffs,
            status=status,
            status_time=since,
        ),
        [
            Link("related", a_href, "cust-entry/CustomerAccount"),
            Link("related", l_href, "cust-entry/ServiceLocation"),
            Link("related", s_href, "cust-entry/ServiceSupplier"),
        ],
    )
    yield Entry(
        "ServiceSupplier",
        sid,
        s_href,
        urls.below(g_href, "ServiceSupplier"),
        utility.name,
        since,
        since,
        lambda: pii.service_supplier(
            name=utility.name,
            address=pii.street_address(
                street="1 Utility Plaza",
                city=utility.service_area[0].city,
                state=utility.state,
                postal_code=utility.service_area[0].postal_prefixes[0],
                country=COUNTRY.get(utility.currency, "US"),
            ),
            phone="800 555 0100",
            web=f"https://{slug}.example.com",
            issuer_id=utility.data_custodian_id,
            effective=local_midnight(utility.time_zone, world.history_start),
        ),
    )
    yield Entry(
        "ServiceLocation",
        lid,
        l_href,
        urls.below(g_href, "ServiceLocation"),
        "Service location",
        since,
        now,
        lambda: pii.service_location(
            address=address,
            usage_point_hrefs=[usage_point_href(up.uuid) for up in points],
            status=status,
            status_time=since,
            access_method="meter on exterior wall",
        ),
        [Link("related", urls.below(l_href, "Meter", m), "cust-entry/Meter") for _, m in meters],
    )
    for up, m in meters:
        interval = (
            utility.electricity_interval
            if up.commodity == "electricity"
            else (86400 if up.commodity == "gas" else utility.water_interval)
        )
        yield Entry(
            "Meter",
            m,
            urls.below(l_href, "Meter", m),
            urls.below(l_href, "Meter"),
            f"{up.commodity.capitalize()} meter",
            since,
            since,
            partial(
                pii.meter,
                serial=up.meter_serial,
                kind=f"{up.commodity} meter",
                status=status,
                interval=interval,
                form="2S" if up.commodity == "electricity" else "AMR",
            ),
        )
    for st in statements:
        document = urls.href(root, "StatementDocument", statement_id=st.uuid)
        title = f"Bill for {st.first_day:%B %Y}"
        yield Entry(
            "Statement",
            st.uuid,
            urls.below(a_href, "Statement", st.uuid),
            urls.below(a_href, "Statement"),
            title,
            st.issued,
            st.issued,
            partial(pii.statement, name=title, issued=st.issued, refs=[(st.file_name, MEDIA_TYPE, document)]),
            [Link("related", a_href, "cust-entry/CustomerAccount")],
        )


def program_date_entries(world: WorldDef, utility: UtilityDef, root: str) -> Iterator[Entry]:
    """The utility's ProgramDateIdMappings: one per code its IntervalReadings carry, each time-of-use
    period (`tou`) and consumption tier (`consumptionTier`) of each commodity's tariff. They describe
    the tariffs, not a customer: every customer's documents hold the same."""
    since = local_midnight(utility.time_zone, world.history_start)
    up = urls.href(root, "ProgramDateIdMappingsList")
    for commodity in utility.commodities:
        tariff = utility.tariffs[commodity]
        codes = [
            ("tou", p.tou, p.name.replace("_", " "), f"{tariff.name}: {_hours(p.weekday_hours, p.weekend_hours)}")
            for p in tariff.periods
            if p.tou
        ]
        codes += [
            (
                "consumptionTier",
                t.tier,
                f"tier {t.tier}",
                f"{tariff.name}: "
                + (
                    f"a month's use up to {t.up_to:g} billing units"
                    if t.up_to is not None
                    else "the rest of a month's use"
                ),
            )
            for t in tariff.tiers
        ]
        for kind, code, name, note in codes:
            uid = resource_uuid_str(world.seed, utility.slug, "program-date", commodity, kind, str(code))
            yield Entry(
                "ProgramDateIdMappings",
                uid,
                urls.below(up, uid),
                up,
                f"{commodity.capitalize()} {name}",
                since,
                since,
                partial(pii.program_date_id_mappings, kind=kind, code=str(code), name=name, note=note),
            )


def _hours(weekday: frozenset[int] | None, weekend: frozenset[int] | None) -> str:
    """A period's clock hours in words ("weekdays 14-18h; weekends none"); None: every hour no other period has."""

    def words(hours: frozenset[int] | None) -> str:
        if hours is None:
            return "the other hours"
        return ", ".join(f"{h}h" for h in sorted(hours)) or "none"

    return f"weekdays {words(weekday)}; weekends {words(weekend)}"
