"""A private sandbox's quotas: what one developer's world may hold and take on a shared deployment
(customers, third-party applications, readings imported from uploads, notifications waiting in its
outbox, requests a minute). The
default sandbox, the operator's own, has none.

The row quotas are checked by the services that add the rows, inside their transaction, before they
commit (`check`): a refused change changes nothing. A sandbox's Database carries its quotas
(`Database.quotas`); every session of it has them in `info`. The requests a minute are counted by
the web layer (web.private) in the deployment's database, so every worker process counts them
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandbox.core.errors import QuotaExceeded
from sandbox.core.models import Application, Customer, ImportedReading, Notification

# name -> (config key, what it counts, its rows now)
ROWS: dict[str, tuple[str, str, Callable[[Session], int]]] = {
    "customers": ("QUOTA_CUSTOMERS", "customers", lambda s: s.scalar(select(func.count(Customer.id))) or 0),
    "applications": (
        "QUOTA_APPLICATIONS",
        "third-party applications (the seeded ones included)",
        lambda s: s.scalar(select(func.count(Application.id))) or 0,
    ),
    "imported_readings": (
        "QUOTA_IMPORTED_READINGS",
        "readings imported from uploaded files (the only readings a sandbox stores)",
        lambda s: s.scalar(select(func.count(ImportedReading.id))) or 0,
    ),
    "outbox": (
        "QUOTA_OUTBOX",
        "notifications waiting to be delivered",
        lambda s: s.scalar(select(func.count(Notification.id)).where(Notification.state == "pending")) or 0,
    ),
}


@dataclass(frozen=True)
class Quotas:
    """A private sandbox's limits (0: none)."""

    customers: int = 0
    applications: int = 0
    outbox: int = 0
    imported_readings: int = 0
    requests_per_minute: int = 0

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> "Quotas | None":
        """A private sandbox's quotas from the deployment's settings; None for the default sandbox."""
        if config.get("SANDBOX_ID") is None:
            return None
        return cls(
            customers=int(config.get("QUOTA_CUSTOMERS") or 0),
            applications=int(config.get("QUOTA_APPLICATIONS") or 0),
            outbox=int(config.get("QUOTA_OUTBOX") or 0),
            imported_readings=int(config.get("QUOTA_IMPORTED_READINGS") or 0),
            requests_per_minute=int(config.get("QUOTA_REQUESTS_PER_MINUTE") or 0),
        )


def check(s: Session, name: str, adding: int = 1) -> None:
    """QuotaExceeded (429, naming `name`) if the session's sandbox would hold more than its quota of
    `name` once `adding` more are added; nothing for a sandbox without quotas."""
    quotas: Quotas | None = s.info.get("quotas")
    limit = getattr(quotas, name, 0) if quotas is not None else 0
    if not limit:
        return
    setting, what, count = ROWS[name]
    if count(s) + adding > limit:  # (`adding` 0: the rows are in the session already, flushed)
        raise QuotaExceeded(
            name, f"{name}: this sandbox holds at most {limit} {what} (the deployment's SANDBOX_{setting})"
        )
