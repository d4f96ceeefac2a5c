"""The one table of a Data Custodian's URLs: the ESPI resource paths (ESPI.md 4.3) and the
OAuth and registration endpoints beside them.

Links in documents, token responses and notifications are built from it (`href`), routes are
registered from it (`rule`), and it documents itself (`RESOURCES`). Nothing else in the sandbox
spells `/espi/1_1/...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESPI_PREFIX = "/espi/1_1"
RESOURCE_PREFIX = f"{ESPI_PREFIX}/resource"


@dataclass(frozen=True)
class Resource:
    name: str
    path: str  # relative to the resource root; {placeholders} are ids
    what: str


_RC = "RetailCustomer/{retail_customer_id}"
_UP = "UsagePoint/{usage_point_id}"
_MR = _UP + "/MeterReading"
# The usage-point tree hangs from a subscription (Connect My Data) and from a retail customer
# (Download My Data files link there); the same resources under both, names prefixed.
TREE_PARENTS = (("Subscription", "Subscription/{subscription_id}"), ("RetailCustomer", _RC))
_TREE = (
    ("UsagePoints", "UsagePoint", "usage points"),
    ("UsagePoint", _UP, "a usage point"),
    ("MeterReadings", _MR, "a usage point's meter readings"),
    ("MeterReading", _MR + "/{meter_reading_id}", "a meter reading"),
    ("IntervalBlocks", _MR + "/{meter_reading_id}/IntervalBlock", "a meter reading's interval blocks"),
    ("IntervalBlock", _MR + "/{meter_reading_id}/IntervalBlock/{interval_block_id}", "an interval block"),
    ("UsageSummaries", _UP + "/UsageSummary", "a usage point's bills (usage summaries)"),
    ("UsageSummary", _UP + "/UsageSummary/{usage_summary_id}", "a usage summary"),
    ("ElectricPowerUsageSummaries", _UP + "/ElectricPowerUsageSummary", "the usage summaries by their ESPI 1.x name"),
    (
        "ElectricPowerUsageSummary",
        _UP + "/ElectricPowerUsageSummary/{usage_summary_id}",
        "a usage summary by its ESPI 1.x name",
    ),
    ("ElectricPowerQualitySummaries", _UP + "/ElectricPowerQualitySummary", "a usage point's power quality"),
    (
        "ElectricPowerQualitySummary",
        _UP + "/ElectricPowerQualitySummary/{quality_summary_id}",
        "a power quality summary",
    ),
)
TREE = tuple(name for name, _, _ in _TREE)

# The root-level customer (PII) resources of the Alliance's OpenAPI (ESPI.md 2.5, variant 3), each a
# collection ("{kind}Collection") and a member ("{kind}"): the same entries as the RetailCustomer tree.
PII_ROOT = (
    ("Customer", "customer_id", "customers (PII)", "a customer (PII)"),
    ("CustomerAccount", "customer_account_id", "customer accounts (PII)", "a customer account (PII)"),
    ("CustomerAgreement", "customer_agreement_id", "customer agreements (PII)", "a customer agreement (PII)"),
    ("ServiceLocation", "service_location_id", "service locations (PII)", "a service location (PII)"),
    ("ServiceSupplier", "service_supplier_id", "service suppliers (the utility, per agreement)", "a service supplier"),
    ("Meter", "meter_id", "meters (PII)", "a meter (PII)"),
    (
        "EndDevice",
        "end_device_id",
        "end devices (empty: the sandbox's only devices are its meters)",
        "an end device (none exists)",
    ),
    ("Statement", "statement_id", "bill statements (PII)", "a bill statement (PII)"),
)

RESOURCES: tuple[Resource, ...] = (
    Resource("ReadServiceStatus", "ReadServiceStatus", "the Data Custodian's service status"),
    Resource("ApplicationInformationList", "ApplicationInformation", "the ApplicationInformation collection"),
    Resource("ApplicationInformation", "ApplicationInformation/{application_id}", "a third party's registration"),
    Resource("AuthorizationList", "Authorization", "the Authorization collection"),
    Resource("Authorization", "Authorization/{authorization_id}", "a customer's (or a client's) grant"),
    Resource("BatchSubscription", "Batch/Subscription/{subscription_id}", "everything a customer authorization shares"),
    Resource(
        "BatchSubscriptionUsagePoints",
        "Batch/Subscription/{subscription_id}/UsagePoint",
        "the same, by its usage points",
    ),
    Resource(
        "BatchSubscriptionUsagePoint",
        "Batch/Subscription/{subscription_id}/UsagePoint/{usage_point_id}",
        "one usage point of a subscription, with everything below it",
    ),
    Resource("BatchBulk", "Batch/Bulk/{bulk_id}", "every subscription of a third party's bulk request"),
    Resource("BatchBulkRoot", "Batch/Bulk", "the base of bulk URLs (dataCustodianBulkRequestURI)"),
    Resource("BatchRetailCustomer", "Batch/RetailCustomer/{retail_customer_id}", "a customer's PII resources"),
    Resource(
        "BatchRetailCustomerUsagePoint",
        "Batch/RetailCustomer/{retail_customer_id}/UsagePoint",
        "a customer's usage data (Download My Data); POST uploads a Green Button file",
    ),
    Resource(
        "BatchRetailCustomerUsagePointOne",
        "Batch/RetailCustomer/{retail_customer_id}/UsagePoint/{usage_point_id}",
        "one usage point of a customer's usage data (Download My Data)",
    ),
    Resource(
        "Subscription",
        "Subscription/{subscription_id}",
        "the parent of a subscription's usage points: a feed of its UsagePoint entries",
    ),
    *(
        Resource(f"{prefix}{name}", f"{parent}/{path}", what)
        for prefix, parent in TREE_PARENTS
        for name, path, what in _TREE
    ),
    Resource("RetailCustomer", _RC, "a customer, parent of their resources"),
    Resource("CustomerList", _RC + "/Customer", "a customer's Customer resource (PII)"),
    Resource(
        "CustomerTree",
        _RC + "/Customer/{rest:path}",
        "the PII below it: CustomerAccount, CustomerAgreement, ServiceSupplier, ServiceLocation, Meter, Statement",
    ),
    *(
        r
        for kind, id_name, many, one in PII_ROOT
        for r in (
            Resource(f"{kind}Collection", kind, f"the root collection of {many}"),
            Resource(kind, f"{kind}/{{{id_name}}}", one),
        )
    ),
    Resource("StatementDocument", "Statement/{statement_id}/Document", "a bill statement's document (PDF)"),
    Resource(
        "ProgramDateIdMappingsList",
        "ProgramDateIdMappings",
        "the codes of the utility's tariffs (time-of-use periods, tiers) its readings carry",
    ),
    Resource("ProgramDateIdMappings", "ProgramDateIdMappings/{program_date_id_mappings_id}", "one tariff code"),
    Resource("ReadingTypes", "ReadingType", "the ReadingType collection"),
    Resource("ReadingType", "ReadingType/{reading_type_id}", "a reading type"),
    Resource("LocalTimeParametersList", "LocalTimeParameters", "the LocalTimeParameters collection"),
    Resource("LocalTimeParameters", "LocalTimeParameters/{local_time_parameters_id}", "a utility's local time rules"),
    Resource("UsagePointList", "UsagePoint", "every usage point of the Data Custodian"),
    Resource("UsagePointAny", "UsagePoint/{usage_point_id}", "any usage point"),
    Resource("MeterReadingList", "MeterReading", "every meter reading of the Data Custodian"),
    Resource("MeterReadingAny", "MeterReading/{meter_reading_id}", "any meter reading"),
    Resource("IntervalBlockList", "IntervalBlock", "every interval block of the Data Custodian"),
    Resource("IntervalBlockAny", "IntervalBlock/{interval_block_id}", "any interval block"),
)
_BY_NAME = {r.name: r for r in RESOURCES}

# Below a parent (Subscription/{id} or RetailCustomer/{id}): the usage-point tree.
USAGE_POINTS = "UsagePoint"
METER_READINGS = "MeterReading"
INTERVAL_BLOCKS = "IntervalBlock"
USAGE_SUMMARIES = "UsageSummary"
CUSTOMER = "Customer"


def document() -> str:
    """The table as Markdown, for the README (a test keeps the two the same)."""
    rows = ["| resource | path below `/dc/<slug>/espi/1_1/resource/` |", "| --- | --- |"]
    rows += [f"| {r.what} | `{r.path}` |" for r in RESOURCES]
    return "\n".join(rows)


_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def path(name: str, **ids: str) -> str:
    """The resource's path below the resource root, ids filled in."""
    return _PLACEHOLDER.sub(lambda m: ids[m.group(1)], _BY_NAME[name].path)


def rule(name: str) -> str:
    """The resource's route (Flask rule) below /dc/<slug>; `{rest:path}` takes slashes."""
    return (
        RESOURCE_PREFIX
        + "/"
        + _PLACEHOLDER.sub(
            lambda m: f"<{m.group(2)}:{m.group(1)}>" if m.group(2) else f"<{m.group(1)}>", _BY_NAME[name].path
        )
    )


def template(name: str) -> str:
    """The resource's path with its {placeholders}, as the tables show it."""
    return _BY_NAME[name].path


def dc_root(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/dc/{slug}"


def resource_root(base_url: str, slug: str) -> str:
    """{R} of ESPI.md: the root every resource path hangs from."""
    return dc_root(base_url, slug) + RESOURCE_PREFIX


def href(root: str, name: str, **ids: str) -> str:
    """An absolute link to a resource, from the resource root."""
    return f"{root}/{path(name, **ids)}"


def below(parent: str, *steps: str) -> str:
    """A link under a resource: `below(up_href, METER_READINGS, mr_id)` and the like."""
    return "/".join((parent, *steps))


REGISTER_RULE = f"{ESPI_PREFIX}/register"


@dataclass(frozen=True)
class Endpoints:
    """A utility's absolute URLs (a token response, metadata, the directory, the developer portal)."""

    dc: str
    resource: str  # the resource root, {R}
    portal: str
    developer: str
    authorize: str
    token: str
    revoke: str
    introspect: str
    register: str
    bulk: str
    scope_selection: str


def endpoints(base_url: str, slug: str) -> Endpoints:
    dc = dc_root(base_url, slug)
    root = resource_root(base_url, slug)
    return Endpoints(
        dc=dc,
        resource=root,
        portal=f"{dc}/",
        developer=f"{dc}/developer/",
        authorize=f"{dc}/oauth/authorize",
        token=f"{dc}/oauth/token",
        revoke=f"{dc}/oauth/revoke",
        introspect=f"{dc}/oauth/introspect",
        register=dc + REGISTER_RULE,
        bulk=href(root, "BatchBulkRoot"),
        scope_selection=f"{dc}/RetailCustomer/ScopeSelectionList",
    )
