"""ESPI code values (ESPI.md section 8) and the ReadingType of each kind of stream."""

from __future__ import annotations

SERVICE_KIND = {"electricity": 0, "gas": 1, "water": 2}
SERVICE_KIND_NAMES = {v: k for k, v in SERVICE_KIND.items()}
COMMODITY = {"electricity": 1, "gas": 7, "water": 9}
COMMODITY_NAMES = {v: k for k, v in COMMODITY.items()}
FLOW_DIRECTION = {"delivered": 1, "net": 4, "received": 19}
FLOW_DIRECTION_NAMES = {v: k for k, v in FLOW_DIRECTION.items()}
CURRENCY = {"USD": 840, "CAD": 124, "EUR": 978, "GBP": 826, "AUD": 36}

# unit name -> (uom code, measurement kind)
UNITS = {"Wh": (72, 12), "therm": (169, 12), "m3": (42, 58), "gal": (128, 58)}
UNIT_OF_UOM = {uom: name for name, (uom, _) in UNITS.items()}

ACCUMULATION_DELTA = 4
DATA_QUALIFIER_NORMAL = 12
QUALITY_VALID = 0
PHASE_S1S2N = 769
MEASURING_PERIOD = {900: 2, 3600: 7, 86400: 4}  # TimeAttributeKind: 15-, 60-minute, 24-hour

# LineItem.itemKind
ITEM_USAGE_FEE = 3
ITEM_ADMINISTRATIVE_FEE = 4
ITEM_GENERATION_CREDIT = 6

# ApplicationInformation.dataCustodianApplicationStatus
APPLICATION_STATUS = {"review": 1, "production": 2, "on_hold": 3, "blocked": 4, "revoked": 4}
# Authorization.status
AUTHORIZATION_STATUS = {"revoked": 0, "active": 1, "denied": 2}

READING_TYPE_ORDER = (
    "accumulationBehaviour",
    "commodity",
    "consumptionTier",
    "currency",
    "dataQualifier",
    "defaultQuality",
    "flowDirection",
    "intervalLength",
    "kind",
    "phase",
    "powerOfTenMultiplier",
    "timeAttribute",
    "tou",
    "uom",
    "cpp",
    "interharmonic",
    "measuringPeriod",
    "argument",
)


def reading_type(commodity: str, flow: str, unit: str, multiplier: int, interval: int, currency: str) -> dict[str, int]:
    """ReadingType children (schema order) for interval data of one stream (ESPI.md 8.16)."""
    uom, kind = UNITS[unit]
    return {
        "accumulationBehaviour": ACCUMULATION_DELTA,
        "commodity": COMMODITY[commodity],
        "currency": CURRENCY[currency],
        "dataQualifier": DATA_QUALIFIER_NORMAL,
        "defaultQuality": QUALITY_VALID,
        "flowDirection": FLOW_DIRECTION[flow],
        "intervalLength": interval,
        "kind": kind,
        "phase": PHASE_S1S2N if commodity == "electricity" else 0,
        "powerOfTenMultiplier": multiplier,
        "timeAttribute": 0,
        "uom": uom,
        "measuringPeriod": MEASURING_PERIOD.get(interval, 0),
    }
