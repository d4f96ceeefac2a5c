"""Content elements of ESPI usage and management resources, children in schema order."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from lxml import etree

from sandbox.espi.atom import ESPI, ReadingRun, element
from sandbox.espi.codes import READING_TYPE_ORDER
from sandbox.espi.dst import LocalTime

E = "{%s}" % ESPI


def usage_point(service_kind: int, status: int = 1, tariff_profile: str | None = None) -> etree._Element:
    children = [("ServiceCategory", [("kind", service_kind)]), ("status", status)]
    if tariff_profile:
        children.append(("serviceDeliveryPoint", [("tariffProfile", tariff_profile)]))
    return element("UsagePoint", ESPI, children)


def local_time_parameters(lt: LocalTime) -> etree._Element:
    return element(
        "LocalTimeParameters",
        ESPI,
        [
            ("dstEndRule", lt.dst_end_rule),
            ("dstOffset", lt.dst_offset),
            ("dstStartRule", lt.dst_start_rule),
            ("tzOffset", lt.tz_offset),
        ],
    )


def meter_reading() -> etree._Element:
    return etree.Element(E + "MeterReading")


def reading_type(fields: Mapping[str, object]) -> etree._Element:
    unknown = set(fields) - set(READING_TYPE_ORDER)
    if unknown:
        raise ValueError(f"not ReadingType children: {sorted(unknown)}")
    return element("ReadingType", ESPI, [(k, fields.get(k)) for k in READING_TYPE_ORDER])


def _quality(q: int) -> bytes:
    return b"<espi:ReadingQuality><espi:quality>%d</espi:quality></espi:ReadingQuality>" % q if q else b""


def _tail(tier: int, tou: int) -> bytes:
    return (
        (b"<espi:consumptionTier>%d</espi:consumptionTier>" % tier if tier else b"")
        + (b"<espi:tou>%d</espi:tou>" % tou if tou else b"")
        + b"</espi:IntervalReading>"
    )


def _column_strings(codes: np.ndarray, make) -> list[bytes]:
    """make(code) for each code of an integer column, computed once per distinct code."""
    distinct, index = np.unique(codes, return_inverse=True)
    return np.array([make(int(c)) for c in distinct], dtype=object)[index.reshape(-1)].tolist()


_PERIOD = b"<espi:timePeriod><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:timePeriod><espi:value>"


def _periods(starts: list[int], durations: list[int]) -> list[bytes]:
    return [_PERIOD % ds for ds in zip(durations, starts)]


@lru_cache(maxsize=4)  # a grid of 3 years at 15 minutes holds about 16 MB of these
def _grid_periods(grid) -> np.ndarray:
    return np.array(_periods(grid.starts.tolist(), grid.durations.tolist()), dtype=object)


def period_texts(grid, positions: np.ndarray) -> list[bytes]:
    """The timePeriod of each reading, from a text per interval of the grid the readings come from.

    Usage points on the same grid (every customer of a utility over the same days) share
    these strings; formatting two ten-digit integers per reading is otherwise the larger
    part of writing a reading.
    """
    return _grid_periods(grid)[positions].tolist()


# bytes formats (a feed is written as bytes: no text to encode): timePeriod (quality first), value, tail
_READING = b"<espi:IntervalReading>%s%d</espi:value>%s"
_READING_WITH_COST = b"<espi:IntervalReading><espi:cost>%d</espi:cost>%s%d</espi:value>%s"


def interval_readings(
    starts: np.ndarray,
    durations: np.ndarray,
    values: np.ndarray,
    qualities: np.ndarray | None = None,
    costs: np.ndarray | None = None,
    tou: np.ndarray | None = None,
    tiers: np.ndarray | None = None,
    periods: list[bytes] | None = None,
) -> ReadingRun:
    """The IntervalReading elements (espi: prefix) of integer columns (NumPy arrays).

    Quality 0 writes no ReadingQuality; tier and tou 0 are left out. The columns are
    integers only, so nothing needs escaping. `periods` may give the readings' timePeriod
    texts (see `period_texts`).
    """
    n = len(values)
    width = 4 if costs is not None else 3
    args: list = [None] * (width * n)
    if n == 0:
        return ReadingRun(_READING_WITH_COST if costs is not None else _READING, width, args)
    zeros = np.zeros(n, dtype=np.int64)
    tier_col = tiers if tiers is not None else zeros
    tou_col = tou if tou is not None else zeros
    head = list(periods) if periods is not None else _periods(starts.tolist(), durations.tolist())
    if qualities is not None:
        for i in np.flatnonzero(qualities).tolist():  # ReadingQuality goes before timePeriod
            head[i] = _quality(int(qualities[i])) + head[i]
    if costs is not None:
        args[0::4] = costs.tolist()
    args[width - 3 :: width] = head
    args[width - 2 :: width] = values.tolist()
    args[width - 1 :: width] = _column_strings(
        tier_col.astype(np.int64) * 65536 + tou_col, lambda k: _tail(k // 65536, k % 65536)
    )
    return ReadingRun(_READING_WITH_COST if costs is not None else _READING, width, args)


def summary_measurement(value: int, uom: int, multiplier: int, timestamp: int | None = None) -> list:
    return [("powerOfTenMultiplier", multiplier), ("timeStamp", timestamp), ("uom", uom), ("value", value)]


def usage_summary(
    *,
    start: int,
    duration: int,
    bill: int | None,
    currency: int,
    consumption: int,
    uom: int,
    multiplier: int,
    line_items: Sequence[tuple[int, str, int]],
    status_time: int,
    commodity: int,
    tariff_profile: str | None = None,
    quality: int = 0,
    additional: int | str | None = None,
) -> etree._Element:
    """A billing period; line_items are (amount, note, itemKind). bill None leaves cost out.
    `additional` is costAdditionalLastPeriod, the items' total (the schema: the details "in total add
    up to" it; FB_16 wants it), passed in because a formed entry's fields are template markers."""
    items = [
        (
            "costAdditionalDetailLastPeriod",
            [("amount", amount), ("dateTime", status_time), ("note", note), ("itemKind", kind)],
        )
        for amount, note, kind in line_items
    ]
    children: list = [("billingPeriod", [("duration", duration), ("start", start)]), ("billLastPeriod", bill)]
    children.append(("costAdditionalLastPeriod", additional))
    children += items
    children += [
        ("currency", currency if bill is not None else None),
        ("overallConsumptionLastPeriod", summary_measurement(consumption, uom, multiplier)),
        ("qualityOfReading", quality),
        ("statusTimeStamp", status_time),
        ("commodity", commodity),
        ("tariffProfile", tariff_profile),
    ]
    return element("UsageSummary", ESPI, children)


APPLICATION_INFORMATION_ORDER = (
    "dataCustodianId",
    "dataCustodianApplicationStatus",
    "thirdPartyApplicationDescription",
    "thirdPartyApplicationStatus",
    "thirdPartyApplicationType",
    "thirdPartyApplicationUse",
    "thirdPartyPhone",
    "authorizationServerUri",
    "thirdPartyNotifyUri",
    "authorizationServerAuthorizationEndpoint",
    "authorizationServerRegistrationEndpoint",
    "authorizationServerTokenEndpoint",
    "dataCustodianBulkRequestURI",
    "dataCustodianResourceEndpoint",
    "thirdPartyScopeSelectionScreenURI",
    "thirdPartyUserPortalScreenURI",
    "client_secret",
    "logo_uri",
    "client_name",
    "client_uri",
    "redirect_uri",
    "client_id",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "client_id_issued_at",
    "client_secret_expires_at",
    "contacts",
    "token_endpoint_auth_method",
    "scope",
    "grant_types",
    "response_types",
    "registration_client_uri",
    "registration_access_token",
    "dataCustodianScopeSelectionScreenURI",
)


def application_information(fields: dict[str, object]) -> etree._Element:
    """fields by element name; list values repeat the element (redirect_uri, scope, grant_types, contacts)."""
    unknown = set(fields) - set(APPLICATION_INFORMATION_ORDER)
    if unknown:
        raise ValueError(f"not ApplicationInformation children: {sorted(unknown)}")
    return element("ApplicationInformation", ESPI, [(k, fields.get(k)) for k in APPLICATION_INFORMATION_ORDER])


def authorization(
    *,
    authorized_start: int,
    authorized_duration: int,
    published_start: int | None,
    published_duration: int | None,
    status: int,
    expires_at: int,
    grant_type: str | None,
    scope: str,
    resource_uri: str,
    authorization_uri: str,
    customer_resource_uri: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> etree._Element:
    published = None if published_start is None else [("duration", published_duration), ("start", published_start)]
    return element(
        "Authorization",
        ESPI,
        [
            ("authorizedPeriod", [("duration", authorized_duration), ("start", authorized_start)]),
            ("publishedPeriod", published),
            ("status", status),
            ("expires_at", expires_at),
            ("grant_type", grant_type),
            ("scope", scope),
            ("token_type", "Bearer"),
            ("error", error),
            ("error_description", error_description),
            ("resourceURI", resource_uri),
            ("authorizationURI", authorization_uri),
            ("customerResourceURI", customer_resource_uri),
        ],
    )


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
