"""Content elements of ESPI usage and management resources, children in schema order."""
from __future__ import annotations

from typing import Sequence

from lxml import etree

from .atom import ESPI, element
from .codes import READING_TYPE_ORDER
from .dst import LocalTime

E = "{%s}" % ESPI


def usage_point(service_kind: int, status: int = 1, tariff_profile: str | None = None) -> etree._Element:
    children = [("ServiceCategory", [("kind", service_kind)]), ("status", status)]
    if tariff_profile:
        children.append(("serviceDeliveryPoint", [("tariffProfile", tariff_profile)]))
    return element("UsagePoint", ESPI, children)


def local_time_parameters(lt: LocalTime) -> etree._Element:
    return element("LocalTimeParameters", ESPI, [("dstEndRule", lt.dst_end_rule), ("dstOffset", lt.dst_offset),
                                                  ("dstStartRule", lt.dst_start_rule), ("tzOffset", lt.tz_offset)])


def meter_reading() -> etree._Element:
    return etree.Element(E + "MeterReading")


def reading_type(fields: dict[str, object]) -> etree._Element:
    unknown = set(fields) - set(READING_TYPE_ORDER)
    if unknown:
        raise ValueError(f"not ReadingType children: {sorted(unknown)}")
    return element("ReadingType", ESPI, [(k, fields.get(k)) for k in READING_TYPE_ORDER])


def interval_block(start: int, duration: int) -> etree._Element:
    """The block with its interval; the readings are appended as text by `format_readings`."""
    return element("IntervalBlock", ESPI, [("interval", [("duration", duration), ("start", start)])])


_READING = ("<espi:IntervalReading>%s<espi:timePeriod><espi:duration>%d</espi:duration><espi:start>%d</espi:start>"
            "</espi:timePeriod><espi:value>%d</espi:value>%s</espi:IntervalReading>")
_READING_COST = ("<espi:IntervalReading><espi:cost>%d</espi:cost>%s<espi:timePeriod><espi:duration>%d</espi:duration>"
                 "<espi:start>%d</espi:start></espi:timePeriod><espi:value>%d</espi:value>%s</espi:IntervalReading>")
_QUALITY = "<espi:ReadingQuality><espi:quality>%d</espi:quality></espi:ReadingQuality>"


def _tail(tier: int, tou: int) -> str:
    return (f"<espi:consumptionTier>{tier}</espi:consumptionTier>" if tier else "") + (
        f"<espi:tou>{tou}</espi:tou>" if tou else "")


def format_readings(starts: Sequence[int], durations: Sequence[int], values: Sequence[int],
                    qualities: Sequence[int] | None = None, costs: Sequence[int] | None = None,
                    tou: Sequence[int] | None = None, tiers: Sequence[int] | None = None) -> bytes:
    """IntervalReading elements (espi: prefix) from integer columns; quality 0 means none written."""
    n = len(values)
    quality = [(_QUALITY % q if q else "") for q in qualities] if qualities is not None else [""] * n
    if tou is not None or tiers is not None:
        tiers_ = tiers if tiers is not None else [0] * n
        tou_ = tou if tou is not None else [0] * n
        cache: dict[tuple[int, int], str] = {}
        tail = [cache.get(k) or cache.setdefault(k, _tail(*k)) for k in zip(tiers_, tou_)]
    else:
        tail = [""] * n
    if costs is not None:
        text = "".join([_READING_COST % row for row in zip(costs, quality, durations, starts, values, tail)])
    else:
        text = "".join([_READING % row for row in zip(quality, durations, starts, values, tail)])
    return text.encode("ascii")


def summary_measurement(value: int, uom: int, multiplier: int, timestamp: int | None = None) -> list:
    return [("powerOfTenMultiplier", multiplier), ("timeStamp", timestamp), ("uom", uom), ("value", value)]


def usage_summary(*, start: int, duration: int, bill: int | None, currency: int, consumption: int, uom: int,
                  multiplier: int, line_items: Sequence[tuple[int, str, int]], status_time: int, commodity: int,
                  tariff_profile: str | None = None, quality: int = 0) -> etree._Element:
    """A billing period; line_items are (amount, note, itemKind). bill None leaves cost out."""
    items = [("costAdditionalDetailLastPeriod", [("amount", amount), ("dateTime", status_time), ("note", note),
                                                 ("itemKind", kind)]) for amount, note, kind in line_items]
    children: list = [("billingPeriod", [("duration", duration), ("start", start)]), ("billLastPeriod", bill)]
    children += items
    children += [("currency", currency if bill is not None else None),
                 ("overallConsumptionLastPeriod", summary_measurement(consumption, uom, multiplier)),
                 ("qualityOfReading", quality), ("statusTimeStamp", status_time), ("commodity", commodity),
                 ("tariffProfile", tariff_profile)]
    return element("UsageSummary", ESPI, children)


APPLICATION_INFORMATION_ORDER = (
    "dataCustodianId", "dataCustodianApplicationStatus", "thirdPartyApplicationDescription",
    "thirdPartyApplicationStatus", "thirdPartyApplicationType", "thirdPartyApplicationUse", "thirdPartyPhone",
    "authorizationServerUri", "thirdPartyNotifyUri", "authorizationServerAuthorizationEndpoint",
    "authorizationServerRegistrationEndpoint", "authorizationServerTokenEndpoint", "dataCustodianBulkRequestURI",
    "dataCustodianResourceEndpoint", "thirdPartyScopeSelectionScreenURI", "thirdPartyUserPortalScreenURI",
    "client_secret", "logo_uri", "client_name", "client_uri", "redirect_uri", "client_id", "tos_uri", "policy_uri",
    "software_id", "software_version", "client_id_issued_at", "client_secret_expires_at", "contacts",
    "token_endpoint_auth_method", "scope", "grant_types", "response_types", "registration_client_uri",
    "registration_access_token", "dataCustodianScopeSelectionScreenURI")


def application_information(fields: dict[str, object]) -> etree._Element:
    """fields by element name; list values repeat the element (redirect_uri, scope, grant_types, contacts)."""
    unknown = set(fields) - set(APPLICATION_INFORMATION_ORDER)
    if unknown:
        raise ValueError(f"not ApplicationInformation children: {sorted(unknown)}")
    return element("ApplicationInformation", ESPI, [(k, fields.get(k)) for k in APPLICATION_INFORMATION_ORDER])


def authorization(*, authorized_start: int, authorized_duration: int, published_start: int | None,
                  published_duration: int | None, status: int, expires_at: int, grant_type: str | None, scope: str,
                  resource_uri: str, authorization_uri: str, customer_resource_uri: str | None = None,
                  error: str | None = None, error_description: str | None = None) -> etree._Element:
    published = None if published_start is None else [("duration", published_duration), ("start", published_start)]
    return element("Authorization", ESPI, [
        ("authorizedPeriod", [("duration", authorized_duration), ("start", authorized_start)]),
        ("publishedPeriod", published), ("status", status), ("expires_at", expires_at), ("grant_type", grant_type),
        ("scope", scope), ("token_type", "Bearer"), ("error", error), ("error_description", error_description),
        ("resourceURI", resource_uri), ("authorizationURI", authorization_uri),
        ("customerResourceURI", customer_resource_uri)])


def _bare_document(el: etree._Element) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="UTF-8") + b"\n"


def batch_list(uris: Sequence[str]) -> bytes:
    """A bare <BatchList> document (the body of a notification)."""
    root = etree.Element(E + "BatchList", nsmap={None: ESPI})
    for uri in uris:
        etree.SubElement(root, E + "resources").text = uri
    return _bare_document(root)


def service_status(status: int = 1) -> bytes:
    """A bare <ServiceStatus> document (ReadServiceStatus): 1 normal, 0 unavailable."""
    root = etree.Element(E + "ServiceStatus", nsmap={None: ESPI})
    etree.SubElement(root, E + "currentStatus").text = str(status)
    return _bare_document(root)
