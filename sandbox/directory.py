"""The directory of utilities: who serves which postal code, and where their endpoints are."""
from __future__ import annotations

from typing import Callable

from .synth.world import UtilityDef, WorldDef


def normalise_postal_code(code: str) -> str:
    return code.replace(" ", "").replace("-", "").upper()


def utilities_serving(world: WorldDef, postal_code: str | None) -> list[UtilityDef]:
    if postal_code is None:
        return list(world.utilities)
    return [u for u in world.utilities if u.serves(postal_code)]


def describe(u: UtilityDef, url: Callable[[str], str]) -> dict:
    """JSON description of a utility; url(path) makes an absolute URL of a path."""
    base = f"/dc/{u.slug}"
    return {
        "slug": u.slug,
        "name": u.name,
        "time_zone": u.time_zone,
        "currency": u.currency,
        "postal_prefixes": [p for a in u.service_area for p in a.postal_prefixes],
        "cities": [a.city for a in u.service_area],
        "commodities": list(u.commodities),
        "electricity_interval": u.electricity_interval,
        "data_custodian_id": u.data_custodian_id,
        "portal_url": url(f"{base}/"),
        "developer_portal_url": url(f"{base}/developer/"),
        "authorization_endpoint": url(f"{base}/oauth/authorize"),
        "token_endpoint": url(f"{base}/oauth/token"),
        "resource_endpoint": url(f"{base}/espi/1_1/resource"),
    }
