"""Content elements of the retail-customer (PII) resources of customer.xsd, children in schema order.

These never share a document with usage data (ESPI.md 2.5)."""

from __future__ import annotations

from typing import Sequence

from lxml import etree

from sandbox.espi.atom import CUST, element


def _status(value: str, when: int | None = None, reason: str | None = None) -> list:
    return [("value", value), ("dateTime", when), ("reason", reason)]


def street_address(*, street: str, city: str, state: str, postal_code: str, country: str) -> list:
    number, _, name = street.partition(" ")
    detail = (
        [("number", number), ("name", name), ("addressGeneral", street)]
        if number.isdigit()
        else [("addressGeneral", street)]
    )
    return [
        ("streetDetail", detail),
        ("townDetail", [("name", city), ("stateOrProvince", state), ("country", country)]),
        ("postalCode", postal_code),
    ]


def _phone(phone: str) -> list:
    digits = "".join(c for c in phone if c.isdigit())
    return [("countryCode", "1"), ("areaCode", digits[:3]), ("localNumber", digits[3:])]


def customer(
    *, name: str, kind: str, address: list, email: str, phone: str, status: str, status_time: int, locale: str
) -> etree._Element:
    return element(
        "Customer",
        CUST,
        [
            (
                "Organisation",
                [
                    ("streetAddress", address),
                    ("phone1", _phone(phone)),
                    ("electronicAddress", [("email1", email)]),
                    ("organisationName", name),
                ],
            ),
            ("kind", kind),
            ("status", _status(status, status_time)),
            ("locale", locale),
            ("customerName", name),
        ],
    )


def customer_account(
    *,
    account_id: str,
    created: int,
    email: str,
    billing_cycle: str,
    last_bill: int | None,
    name: str,
    address: list,
    status: str,
    status_time: int,
) -> etree._Element:
    return element(
        "CustomerAccount",
        CUST,
        [
            ("type", "residential"),
            ("createdDateTime", created),
            ("electronicAddress", [("email1", email)]),
            ("title", "Customer account"),
            ("status", _status(status, status_time)),
            ("billingCycle", billing_cycle),
            ("lastBillAmount", last_bill),
            ("contactInfo", [("streetAddress", address), ("organisationName", name)]),
            ("accountId", account_id),
        ],
    )


def customer_agreement(
    *,
    agreement_id: str,
    sign_date: int,
    start: int,
    duration: int | None,
    currency: int,
    tariff: str,
    status: str,
    status_time: int,
) -> etree._Element:
    validity = [("duration", duration), ("start", start)] if duration is not None else [("start", start)]
    return element(
        "CustomerAgreement",
        CUST,
        [
            ("type", "service agreement"),
            ("createdDateTime", sign_date),
            ("title", tariff),
            ("status", _status(status, status_time)),
            ("signDate", sign_date),
            ("validityInterval", validity),
            ("isPrePay", False),
            ("currency", currency),
            ("agreementId", agreement_id),
        ],
    )


def service_location(
    *, address: list, usage_point_hrefs: Sequence[str], status: str, status_time: int, access_method: str
) -> etree._Element:
    ups = [("UsagePoint", list(usage_point_hrefs))] if usage_point_hrefs else []
    return element(
        "ServiceLocation",
        CUST,
        [
            ("type", "premises"),
            ("mainAddress", address),
            ("status", _status(status, status_time)),
            ("accessMethod", access_method),
            ("needsInspection", False),
            ("UsagePoints", ups or None),
        ],
    )


def meter(*, serial: str, kind: str, status: str, interval: int, form: str) -> etree._Element:
    return element(
        "Meter",
        CUST,
        [
            ("type", kind),
            ("serialNumber", serial),
            ("status", _status(status)),
            ("isVirtual", False),
            ("isPan", False),
            ("amrSystem", "AMI"),
            ("formNumber", form),
            ("intervalLength", interval),
        ],
    )


def service_supplier(
    *, name: str, address: list, phone: str, web: str, issuer_id: str, effective: int
) -> etree._Element:
    return element(
        "ServiceSupplier",
        CUST,
        [
            (
                "Organisation",
                [
                    ("streetAddress", address),
                    ("phone1", _phone(phone)),
                    ("electronicAddress", [("web", web)]),
                    ("organisationName", name),
                ],
            ),
            ("kind", "utility"),
            ("issuerIdentificationNumber", issuer_id),
            ("effectiveDate", effective),
        ],
    )


def statement(*, name: str, issued: int, refs: Sequence[tuple[str, str, str]]) -> etree._Element:
    """A bill statement (ESPI 4.0): when it was issued and its documents as (fileName, mediaType, statementURL)."""
    return element(
        "Statement",
        CUST,
        [
            ("name", name),
            ("issueDateTime", issued),
            *(("statementRef", [("fileName", f), ("mediaType", t), ("statementURL", u)]) for f, t, u in refs),
        ],
    )


def program_date_id_mappings(*, kind: str, code: str, name: str, note: str | None) -> etree._Element:
    """One code of the utility's (ProgramDateIdMappings holds at most one programDateIdMapping)."""
    return element(
        "ProgramDateIdMappings",
        CUST,
        [("programDateIdMapping", [("programDateType", kind), ("code", code), ("name", name), ("note", note)])],
    )
