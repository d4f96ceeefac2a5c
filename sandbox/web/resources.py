"""The ESPI resource server: every URL of the URL table the access matrix serves, under
/dc/<slug>/espi/1_1/resource/ (ESPI.md 4.3). Routes are registered from the matrix (one rule per
resource, its methods from the matrix); each view runs in the pipeline of the call (`espi_http.answer`),
after its token was judged, is handed the call (web.call.Call: the caller, utility, profile, instant)
and answers with an Atom document made in `feeds.documents`.

ApplicationInformation/{id} is the registration API's (web.registration); the matrix judges it too.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from typing import Callable, Iterator

from flask import Blueprint, Response, jsonify, send_file

from sandbox.core.errors import NotFound, Refused
from sandbox.core.models import Customer, UsagePoint
from sandbox.espi import forms, urls
from sandbox.espi import query as espi_query
from sandbox.espi.atom import Entry
from sandbox.espi.resources import service_status
from sandbox.espi.xmlio import XmlRefused, parse_untrusted
from sandbox.feeds import documents as docs
from sandbox.feeds.documents import Place, Tree
from sandbox.feeds.management import application_entry, authorization_entry
from sandbox.services import access, authorizations, dmd, onboarding, statements, subscriptions
from sandbox.services.access import TokenKind
from sandbox.services.bill_pdf import bill_pdf
from sandbox.services.notifications import announce
from sandbox.web import espi_http
from sandbox.web.call import Call
from sandbox.web.utility import upload_limit

bp = Blueprint("resources", __name__, url_prefix="/dc/<slug>")  # the pipeline reads the slug (espi_http.answer)

MAX_PUT_BYTES = 256 * 1024
_ESPI = "{http://naesb.org/espi}"
_ATOM = "{http://www.w3.org/2005/Atom}"


def _place(call: Call) -> Place:
    sb = call.sandbox
    return Place(
        sb.require_world(),
        call.utility,
        sb.clock,
        urls.resource_root(call.host_url, call.slug),
        espi_query.parse_query(call.request.args, _quirks(call)) if call.request.query_string else espi_query.NO_QUERY,
        sb.rendered,
        sb.documents,
    )


def _member_place(call: Call) -> Place:
    """The place of a GET of one entry by id: its query parameters are checked as on every GET, but
    the time filters and paging select among a collection's entries and never hide the one named (the
    Alliance's OpenAPI declares them on member operations too)."""
    return dataclasses.replace(_place(call), query=espi_query.NO_QUERY)


def _quirks(call: Call) -> espi_query.Quirks:
    """How the call's profile reads the time filters (none: ESPI.md 4.4 exactly)."""
    b = call.behaviour
    if not b.quirky_filters:
        return espi_query.NO_QUIRKS
    return espi_query.Quirks(
        b.refuse_future_published_max,
        b.refuse_fractional_seconds,
        b.whole_local_days,
        b.ignore_updated_min,
        call.utility.time_zone,
        int(call.now.timestamp()),
    )


def _pending(call: Call) -> bool:
    """Whether the caller's subscription is still being provisioned (the profile's delay); asked once a call."""
    if not call.behaviour.provisioning_delayed:
        return False
    p = call.caller
    if p.kind != TokenKind.CUSTOMER or p.authorization is None:
        return False
    if call.provisioning is None:
        call.provisioning = subscriptions.provisioning(call.sandbox.db, p.authorization, call.behaviour, call.now)
    return call.provisioning


def _self(call: Call) -> str:
    return call.request.base_url


def _feed(call: Call, place: Place, title: str, entries, updated: int | None = None, prefix: str = "espi") -> Response:
    return espi_http.atom(call, docs.feed(place, _self(call), title, entries, updated, prefix))


def _entry(call: Call, e, prefix: str = "espi") -> Response:
    return espi_http.atom_document(call, docs.entry(e, prefix))


# --- the usage-point tree, below a subscription or a retail customer --------------------------


def _tree(call: Call, place: Place, ids: dict) -> Tree:
    """The tree a path names, as the caller may see it."""
    s = call.session()
    if "subscription_id" in ids:
        return docs.subscription_tree(
            place, subscriptions.for_request(s, call.utility_id, call.caller, ids["subscription_id"], _pending(call))
        )
    customer = subscriptions.customer_by_uuid(s, call.utility_id, ids["retail_customer_id"])
    return Tree(docs.retail_customer_href(place, customer.uuid), customer, list(customer.usage_points))


def _usage_points(call: Call, **ids):
    place = _place(call)
    tree = _tree(call, place, ids)
    entries, updated = docs.usage_entries(place, tree, kinds=frozenset({"UsagePoint"}))
    return _feed(call, place, "Usage points", entries, updated)


def _usage_point(call: Call, **ids):
    place = _member_place(call)
    tree = _tree(call, place, ids)
    return espi_http.atom_document(call, docs.usage_point_entry(place, tree, ids["usage_point_id"]))


def _children(kind: str, collection: bool, id_name: str | None = None):
    """A view of one kind of entry below a usage point (the collection, or the member `id_name` names)."""

    def view(call: Call, **ids):
        place = _place(call) if collection else _member_place(call)
        tree = _tree(call, place, ids)
        up = tree.usage_point(ids["usage_point_id"])
        kinds = frozenset({kind})
        entries, updated = docs.usage_entries(place, tree, [up], kinds=kinds)
        if kind == "IntervalBlock":  # below one meter reading: its blocks only
            wanted = urls.below(
                tree.parent,
                urls.USAGE_POINTS,
                up.uuid,
                urls.METER_READINGS,
                ids["meter_reading_id"],
                urls.INTERVAL_BLOCKS,
            )
            entries = docs.of_kind(entries, kind, wanted)
            if not collection:
                return _entry(call, docs.member(entries, kind, ids[id_name or ""]))
            found = list(entries)
            if not found and not _meter_reading_exists(call, place, tree, up, ids["meter_reading_id"]):
                raise NotFound(ids["meter_reading_id"])
            return _feed(call, place, f"{kind} entries", found, updated)
        if not collection:
            return _entry(call, docs.member(entries, kind, ids[id_name or ""]))
        return _feed(call, place, f"{kind} entries", entries, updated)

    return view


def _meter_reading_exists(call: Call, place: Place, tree: Tree, up, mr_uuid: str) -> bool:
    entries, _ = docs.usage_entries(place, tree, [up], kinds=frozenset({"MeterReading"}))
    return any(isinstance(e, Entry) and e.uuid == mr_uuid for e in entries)


def _quality_summaries(call: Call, **ids):
    """Power quality is not measured in the sandbox's world: the collection is empty."""
    place = _place(call)
    tree = _tree(call, place, ids)
    tree.usage_point(ids["usage_point_id"])
    return _feed(call, place, "ElectricPowerQualitySummary entries", [])


def _quality_summary(call: Call, **ids):
    place = _place(call)
    _tree(call, place, ids).usage_point(ids["usage_point_id"])
    raise NotFound(ids["quality_summary_id"])


TREE_VIEWS: dict[str, Callable] = {
    "UsagePoints": _usage_points,
    "UsagePoint": _usage_point,
    "MeterReadings": _children("MeterReading", True),
    "MeterReading": _children("MeterReading", False, "meter_reading_id"),
    "IntervalBlocks": _children("IntervalBlock", True),
    "IntervalBlock": _children("IntervalBlock", False, "interval_block_id"),
    "UsageSummaries": _children("UsageSummary", True),
    "UsageSummary": _children("UsageSummary", False, "usage_summary_id"),
    "ElectricPowerUsageSummaries": _children("UsageSummary", True),
    "ElectricPowerUsageSummary": _children("UsageSummary", False, "usage_summary_id"),
    "ElectricPowerQualitySummaries": _quality_summaries,
    "ElectricPowerQualitySummary": _quality_summary,
}


# --- batch ----------------------------------------------------------------------------------


def batch_subscription(call: Call, **ids):
    place = _place(call)
    tree = _tree(call, place, ids)
    ups = None
    if "usage_point_id" in ids:
        ups = [tree.usage_point(ids["usage_point_id"])]
    elif call.behaviour.batch_mode == "async" and call.caller.kind == TokenKind.CUSTOMER:
        points = list(tree.usage_points)
        later = _batch_later(call, ids["subscription_id"], points) if points else None
        if later is not None:
            return later
    return espi_http.atom(call, docs.usage_feed(place, tree, _self(call), "Green Button Connect My Data", ups))


def _batch_later(call: Call, subscription_id: str, points) -> Response | None:
    """An asynchronous utility's answer: 202 Accepted, and later a BatchList of the subscription's
    per-UsagePoint URLs (with this request's query) POSTed to the notification URI; None once that
    BatchList was delivered (the data is ready: answered as a synchronous utility does)."""
    b = call.behaviour
    root = urls.resource_root(call.host_url, call.slug)
    query = ("?" + call.request.query_string.decode("latin-1")) if call.request.query_string else ""
    uris = [
        urls.href(root, "BatchSubscriptionUsagePoint", subscription_id=subscription_id, usage_point_id=up.uuid) + query
        for up in points
    ]
    try:
        if announce.batch_later(call.sandbox.db, call.caller.application.id, uris, call.now, b.batch_delay_seconds):
            return None
    except Refused as exc:
        return espi_http.refusal(409, "notification_uri_required", exc.message, "async_batch_needs_notify_uri")
    resp = jsonify(
        status="accepted",
        message="the data is being prepared: a BatchList naming its URLs will be "
        "POSTed to the application's notification URI",
        usage_points=len(uris),
    )
    resp.status_code = 202
    resp.headers["Retry-After"] = str(b.batch_retry_after)
    resp.headers["X-Sandbox-Reason"] = "async_batch"
    return resp


def batch_bulk(call: Call, bulk_id: str):
    # a bulk is many subscriptions read once: their blocks' text is not kept (it would push out
    # the text of subscriptions that are polled)
    place = dataclasses.replace(_place(call), rendered=None, documents=None)
    s = call.session()
    found = subscriptions.bulk(s, call.utility_id, call.caller, bulk_id, place.clock.now())
    sent: set[str] = set()
    groups, updated = [], 0
    shown: set[int] = set()  # a usage point two authorizations share comes once (ids are unique in a document)
    for sh in found:
        ups = [up for up in sh.usage_points if up.id not in shown]
        shown.update(up.id for up in ups)
        if not ups:
            continue
        entries, up = docs.usage_entries(place, docs.subscription_tree(place, sh, ups), sent=sent)
        groups.append(entries)
        updated = max(updated, up)
    return _feed(call, place, f"Bulk {bulk_id}", itertools.chain(*groups), updated or None)


def batch_retail_customer_usage(call: Call, **ids):
    """A customer's own usage data (Download My Data) over the last 13 months."""
    place = _place(call)
    tree = _tree(call, place, ids)
    tree.days = docs.DMD_DAYS
    ups = [tree.usage_point(ids["usage_point_id"])] if "usage_point_id" in ids else None
    resp = espi_http.atom(call, docs.usage_feed(place, tree, _self(call), "Green Button Download My Data", ups))
    resp.headers["Content-Disposition"] = "attachment; filename=GreenButtonDownload.xml"
    return resp


@upload_limit(dmd.MAX_IMPORT_BYTES)
def upload_usage(call: Call, retail_customer_id: str):
    """Upload a Green Button file as the customer's data (ESPI.md 11, items 63-64): 400 naming what is
    wrong and nothing stored, or 200 and the data served at once."""
    sb = call.sandbox
    customer = subscriptions.customer_by_uuid(call.session(), call.utility_id, retail_customer_id)
    try:
        done = dmd.import_green_button(sb, customer, call.request.get_data())
    except dmd.ImportRefused as exc:
        return espi_http.refusal(400, "invalid_request", f"body: {exc}", "bad_upload")
    resp = jsonify(usage_points=done.usage_points, readings=done.readings, replaced=done.replaced)
    resp.headers["Location"] = urls.href(
        urls.resource_root(call.host_url, call.slug),
        "BatchRetailCustomerUsagePoint",
        retail_customer_id=retail_customer_id,
    )
    return resp


# --- customer (PII) data -----------------------------------------------------------------------


def _owners(
    call: Call, place: Place, retail_customer_id: str | None = None
) -> Iterator[tuple[Customer, list[UsagePoint] | None, str]]:
    """(customer, the usage points their PII names (None: all), the parent of its usage-point links)
    of each customer whose PII the caller sees: a customer token its own customer with what was shared
    (the policy checked any id), the data custodian the one named, or every customer of the utility."""
    p = call.caller
    if p.kind == TokenKind.CUSTOMER:
        shared = subscriptions.of_token(call.session(), p, _pending(call))
        yield shared.customer, shared.usage_points, docs.subscription_href(place, shared.id)
        return
    if retail_customer_id is not None:
        found = [subscriptions.customer_by_uuid(call.session(), call.utility_id, retail_customer_id)]
    else:
        found = subscriptions.customers_of_utility(call.session(), call.utility_id)
    for customer in found:
        yield customer, None, docs.retail_customer_href(place, customer.uuid)


def _statements_shown(call: Call) -> bool:
    """Whether the call's PII documents hold Statements: the caller may see them, and the profile
    writes ESPI 4.0 (3.3 has no Statement)."""
    return call.form.version != "3.3" and access.sees_statements(call.caller)


def _pii(call: Call, place: Place, retail_customer_id: str | None = None) -> list[Entry]:
    """The PII entries the caller sees (one customer's, or all it may see), the tree's entries; found
    before the document streams (a NotFound is a 404, not a broken stream)."""
    shown = _statements_shown(call)
    return [
        e
        for customer, points, parent in _owners(call, place, retail_customer_id)
        for e in docs.customer_documents(
            place, customer, lambda uuid, parent=parent: urls.below(parent, urls.USAGE_POINTS, uuid), points, shown
        )
    ]


def batch_retail_customer(call: Call, retail_customer_id: str):
    place = _place(call)
    return _feed(call, place, "Retail customer", _pii(call, place, retail_customer_id), prefix="cust")


def customer_list(call: Call, retail_customer_id: str):
    place = _place(call)
    _, below = docs.pii_at(_pii(call, place, retail_customer_id), _self(call))
    return _feed(call, place, "Customer", below, prefix="cust")


def customer_tree(call: Call, retail_customer_id: str, rest: str):
    place = _place(call)
    one, below = docs.pii_at(_pii(call, place, retail_customer_id), _self(call))
    if one is not None:
        return _entry(call, one, "cust")
    if not below:
        raise NotFound(rest)
    return _feed(call, place, below[0].kind, below, prefix="cust")


def _pii_collection(kind: str):
    """A root collection of the OpenAPI ({R}/Customer, {R}/Meter...): the kind's entries of every
    customer the caller sees, as the RetailCustomer tree serves them (its self and up links)."""

    def view(call: Call):
        place = _place(call)
        return _feed(call, place, f"{kind} entries", docs.of_kind(_pii(call, place), kind), prefix="cust")

    return view


def _pii_member(kind: str, id_name: str):
    def view(call: Call, **ids):
        place = _member_place(call)
        return _entry(call, docs.member(_pii(call, place), kind, ids[id_name]), "cust")

    return view


def statement_document(call: Call, statement_id: str):
    """The bill document a Statement points at (its statementURL): a PDF, as a download."""
    place = _place(call)  # the query parameters are checked on every GET
    if _statements_shown(call):
        for customer, points, _ in _owners(call, place):
            try:
                found = statements.statement(place.world, place.utility, place.clock, customer, statement_id, points)
            except NotFound:
                continue
            return send_file(
                io.BytesIO(bill_pdf(call.utility, customer, found)),
                mimetype=statements.MEDIA_TYPE,
                as_attachment=True,
                download_name=found.file_name,
            )
    raise NotFound(statement_id)


statement_document.needs_request_context = True  # type: ignore[attr-defined]  # send_file: answered by Flask


def program_date_list(call: Call):
    place = _place(call)
    return _feed(call, place, "ProgramDateIdMappings entries", docs.program_dates(place), prefix="cust")


def program_date_one(call: Call, program_date_id_mappings_id: str):
    place = _member_place(call)
    return _entry(
        call, docs.member(docs.program_dates(place), "ProgramDateIdMappings", program_date_id_mappings_id), "cust"
    )


# --- shared resources: ReadingType and LocalTimeParameters -------------------------------------------


def _trees_visible(call: Call, place: Place) -> list[Tree]:
    s = call.session()
    p = call.caller
    if p.kind == TokenKind.CUSTOMER:
        return [docs.subscription_tree(place, subscriptions.of_token(call.session(), p, _pending(call)))]
    by_customer: dict[int, Tree] = {}
    for up in subscriptions.usage_points_of_utility(s, call.utility_id):
        t = by_customer.get(up.customer_id)
        if t is None:
            t = by_customer[up.customer_id] = Tree(docs.retail_customer_href(place, up.customer.uuid), up.customer, [])
        t.usage_points.append(up)  # a list source
    return list(by_customer.values())


def reading_type_list(call: Call):
    place = _place(call)
    return _feed(call, place, "ReadingType entries", docs.reading_types(place, _trees_visible(call, place)))


def reading_type_one(call: Call, reading_type_id: str):
    place = _member_place(call)
    return _entry(
        call, docs.member(docs.reading_types(place, _trees_visible(call, place)), "ReadingType", reading_type_id)
    )


def local_time_list(call: Call):
    place = _place(call)
    return _feed(call, place, "LocalTimeParameters entries", [docs.local_time(place)])


def local_time_one(call: Call, local_time_parameters_id: str):
    place = _member_place(call)
    return _entry(call, docs.member([docs.local_time(place)], "LocalTimeParameters", local_time_parameters_id))


# --- the data custodian's collections -----------------------------------------------------------


def _all_entries(call: Call, place: Place, kind: str):
    for tree in _trees_visible(call, place):
        entries, _ = docs.usage_entries(place, tree, kinds=frozenset({kind}))
        yield from docs.of_kind(entries, kind)


def _custodian_list(kind: str):
    def view(call: Call):
        place = _place(call)
        return _feed(call, place, f"{kind} entries", _all_entries(call, place, kind))

    return view


def _custodian_one(kind: str, id_name: str):
    def view(call: Call, **ids):
        place = _member_place(call)
        return _entry(call, docs.member(_all_entries(call, place, kind), kind, ids[id_name]))

    return view


# --- management: ApplicationInformation, Authorization, ReadServiceStatus --------------------------


def application_list(call: Call):
    place = _place(call)
    apps = subscriptions.third_party_applications(call.session(), call.utility_id)
    entries = (application_entry(a, call.utility.data_custodian_id, call.host_url, call.slug) for a in apps)
    return _feed(call, place, "ApplicationInformation entries", entries)


def authorization_list(call: Call):
    place = _place(call)
    found = subscriptions.authorizations_visible(
        call.session(), call.utility_id, call.caller
    )  # loaded with their links
    entries = (authorization_entry(a, call.host_url, call.slug, call.now) for a in found)
    return _feed(call, place, "Authorization entries", entries)


def authorization_one(call: Call, authorization_id: str):
    _place(call)  # the query parameters are checked on every GET
    auth = subscriptions.authorization_visible(call.session(), call.utility_id, call.caller, authorization_id)
    return _entry(call, authorization_entry(auth, call.host_url, call.slug, call.now))


def authorization_put(call: Call, authorization_id: str):
    """Update an Authorization: its status is the one field a third party may change, and only to 0
    (revoked), as DELETE does. The body is an espi:Authorization, bare or in an Atom entry."""
    auth = subscriptions.authorization_visible(call.session(), call.utility_id, call.caller, authorization_id)
    try:
        root = parse_untrusted(call.request.get_data(), MAX_PUT_BYTES)
    except XmlRefused as exc:
        raise Refused(f"body: {exc}", "body") from None
    el = root if root.tag == _ESPI + "Authorization" else root.find(f"{_ATOM}content/{_ESPI}Authorization")
    if el is None:
        raise Refused("body: expected an espi:Authorization element (bare, or in an Atom entry's content)", "body")
    status = (el.findtext(_ESPI + "status") or "").strip()
    if status not in ("0", "1"):
        raise Refused("status: send 0 to revoke the authorization (1 leaves an active one as it is)", "status")
    if status == "0":
        _revoke(call, auth.id)
    elif not authorizations.can_end(auth, call.now):
        raise Refused(
            "status: an ended authorization cannot be made active again; ask the customer to authorize anew", "status"
        )
    auth = subscriptions.authorization_visible(call.fresh_session(), call.utility_id, call.caller, authorization_id)
    return _entry(call, authorization_entry(auth, call.host_url, call.slug, call.now))


def authorization_delete(call: Call, authorization_id: str):
    auth = subscriptions.authorization_visible(call.session(), call.utility_id, call.caller, authorization_id)
    _revoke(call, auth.id)
    resp = Response(status=call.behaviour.delete_status)  # 204, or the profile's
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _revoke(call: Call, authorization_row_id: int) -> None:
    sb = call.sandbox
    by = access.TokenKind(call.caller.kind)
    authorizations.revoke_by_third_party(
        sb.db, sb.clock, call.utility_id, authorization_row_id, custodian=by == TokenKind.CUSTODIAN
    )


def read_service_status(call: Call):
    sb = call.sandbox
    p = call.caller
    if p.kind == TokenKind.CLIENT:  # a step of the onboarding checklist
        onboarding.note_call(sb.db, p.application.id, "service_status_at", call.utility.profile, sb.clock.now())
    return Response(forms.render(service_status(1), call.form), content_type=espi_http.ATOM)


VIEWS: dict[str, Callable] = {
    "ReadServiceStatus": read_service_status,
    "ApplicationInformationList": application_list,
    "AuthorizationList": authorization_list,
    "BatchSubscription": batch_subscription,
    "BatchSubscriptionUsagePoints": batch_subscription,
    "BatchSubscriptionUsagePoint": batch_subscription,
    "BatchBulk": batch_bulk,
    "BatchRetailCustomer": batch_retail_customer,
    "BatchRetailCustomerUsagePointOne": batch_retail_customer_usage,
    "CustomerList": customer_list,
    "CustomerTree": customer_tree,
    **{
        name: view
        for kind, id_name, *_ in urls.PII_ROOT
        for name, view in ((f"{kind}Collection", _pii_collection(kind)), (kind, _pii_member(kind, id_name)))
    },
    "StatementDocument": statement_document,
    "ProgramDateIdMappingsList": program_date_list,
    "ProgramDateIdMappings": program_date_one,
    "Subscription": _usage_points,
    "ReadingTypes": reading_type_list,
    "ReadingType": reading_type_one,
    "LocalTimeParametersList": local_time_list,
    "LocalTimeParameters": local_time_one,
    "UsagePointList": _custodian_list("UsagePoint"),
    "UsagePointAny": _custodian_one("UsagePoint", "usage_point_id"),
    "MeterReadingList": _custodian_list("MeterReading"),
    "MeterReadingAny": _custodian_one("MeterReading", "meter_reading_id"),
    "IntervalBlockList": _custodian_list("IntervalBlock"),
    "IntervalBlockAny": _custodian_one("IntervalBlock", "interval_block_id"),
    **{prefix + name: view for prefix, _ in urls.TREE_PARENTS for name, view in TREE_VIEWS.items()},
}
BY_METHOD: dict[tuple[str, str], Callable] = {
    ("Authorization", "GET"): authorization_one,
    ("Authorization", "PUT"): authorization_put,
    ("Authorization", "DELETE"): authorization_delete,
    ("BatchRetailCustomerUsagePoint", "GET"): batch_retail_customer_usage,
    ("BatchRetailCustomerUsagePoint", "POST"): upload_usage,
}
ELSEWHERE = {"ApplicationInformation"}  # the registration API's views, routed the same way (web.registration)


def _views(resource: str) -> dict[str, Callable]:
    """The view of each method the matrix grants on `resource`."""
    by_method = {m: v for (r, m), v in BY_METHOD.items() if r == resource}
    return by_method or {m: VIEWS[resource] for m in access.methods_of(resource)}


for _name in access.served():
    if _name not in ELSEWHERE:
        espi_http.route(bp, _name, _views(_name))
