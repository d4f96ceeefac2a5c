"""The documents of the resource server's URLs (ESPI.md 4.3): which entries a feed or an entry
URL answers with, for a subscription, a bulk request, a customer's own data, the data custodian's
collections and the customer (PII) resources, with the query parameters applied.

Entries come from the feed builders (usage, customer, management); a request asks only for the
kinds of entry it serves, so a UsagePoint entry costs no readings. Member URLs give an <entry>
document, collections and batch URLs a <feed> (ESPI.md 11, item 38).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from sandbox.core.changes import kept_of
from sandbox.core.clock import Clock
from sandbox.core.errors import NotFound
from sandbox.core.models import Customer, UsagePoint
from sandbox.espi import query as espi_query
from sandbox.espi import urls
from sandbox.espi.atom import BlockRun, Entry, FeedWriter, KeptDocument, RenderedRuns
from sandbox.espi.scopes import EVERYTHING, Content
from sandbox.espi.uuids import resource_uuid_str
from sandbox.feeds.customer import customer_entries, program_date_entries
from sandbox.feeds.usage import USAGE_KINDS, Urls, UsageFeed, local_time_entry
from sandbox.services import statements as bill_statements
from sandbox.services.readings import History, quality_of, usage_point_history
from sandbox.services.subscriptions import Shared
from sandbox.synth.calendar import local_date, local_midnight, month_start
from sandbox.synth.world import UtilityDef, WorldDef

DMD_DAYS = 397  # a customer's own data over the API: the last 13 months, as Download My Data offers


@dataclass
class Place:
    """Where a request's documents are made: the world, the utility, the clock and the resource root."""

    world: WorldDef
    utility: UtilityDef
    clock: Clock
    root: str
    query: espi_query.Query = field(default_factory=espi_query.Query)
    rendered: RenderedRuns | None = None  # block runs' text kept between requests
    documents: RenderedRuns | None = None  # whole usage documents kept between requests (usage_feed)

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())


@dataclass
class Tree:
    """Usage points seen from one parent (a subscription, or a retail customer) with what is granted.

    `source` gives them: a list, or a Shared subscription (which loads them only when a request
    needs them all, and finds one by its id with one query)."""

    parent: str  # {P}: the parent's href
    owner: Customer | None  # whose usage points; None: the Shared source's customer (loaded when needed)
    source: list[UsagePoint] | Shared
    content: Content = EVERYTHING
    earliest: dt.date | None = None  # HistoryLength's bound
    days: int | None = None  # at most this many days back from the end of the data

    @property
    def customer(self) -> Customer:
        if self.owner is not None:
            return self.owner
        if isinstance(self.source, list):
            raise ValueError("a tree of listed usage points names its customer")
        return self.source.customer

    @property
    def usage_points(self) -> list[UsagePoint]:
        return self.source if isinstance(self.source, list) else self.source.usage_points

    def usage_point(self, uuid: str) -> UsagePoint:
        if not isinstance(self.source, list):
            return self.source.usage_point(uuid)
        for up in self.source:
            if up.uuid == uuid:
                return up
        raise NotFound(uuid)


# --- usage data ---------------------------------------------------------------------------------


def _window(place: Place, tree: Tree, history: History) -> tuple[dt.date, dt.date]:
    """The days to compute: the history, bounded by HistoryLength and the query's time windows. The
    filter then cuts exactly; the days computed only need to hold every entry it could keep, whole:
    a bill (or a weekly or monthly block) is kept by `updated-min` when its period ends after it, so
    the start goes back to the Monday before the first of the month."""
    tz = place.utility.time_zone
    start, end = history.first, history.end
    if tree.earliest is not None:
        start = max(start, tree.earliest)
    if tree.days is not None:
        start = max(start, end - dt.timedelta(days=tree.days))
    q = place.query
    lows = [t for t in (q.published_min, q.updated_min) if t is not None]
    highs = [t for t in (q.published_max, q.updated_max) if t is not None]
    # a bound far outside these days gives the same window as one just outside them, so the calendar's own
    # edges (years 1 and 9999) never reach the date arithmetic; the filter still compares the exact times
    near = (
        local_midnight(tz, start - dt.timedelta(days=3)),
        local_midnight(tz, max(start, end) + dt.timedelta(days=62)),
    )
    if lows:
        first = month_start(local_date(tz, min(max(max(lows), near[0]), near[1])) - dt.timedelta(days=1))
        start = max(start, first - dt.timedelta(days=first.weekday()))
    if highs:
        end = min(end, local_date(tz, min(max(min(highs), near[0]), near[1])) + dt.timedelta(days=2))
    return start, max(start, end)


def usage_entries(
    place: Place,
    tree: Tree,
    ups: Sequence[UsagePoint] | None = None,
    kinds: frozenset[str] = USAGE_KINDS,
    sent: set[str] | None = None,
) -> tuple[Iterator[Entry | BlockRun], int]:
    """(the entries, lazily; the feed's `updated`) for `ups` (default: all of the tree's). Shared
    entries (ReadingType, LocalTimeParameters) come once per `sent` set (default: per call)."""
    feeds, updated = _usage_feeds(place, tree, ups, kinds, sent)
    return _entries_of(feeds), updated


_Feeds = list[tuple[UsageFeed, UsagePoint, History]]


def _usage_feeds(
    place: Place,
    tree: Tree,
    ups: Sequence[UsagePoint] | None,
    kinds: frozenset[str] = USAGE_KINDS,
    sent: set[str] | None = None,
) -> tuple[_Feeds, int]:
    """(each usage point's feed over its days, with its history; the document's `updated`)."""
    sent = set() if sent is None else sent
    chosen = list(tree.usage_points if ups is None else ups)
    histories = [usage_point_history(place.world, place.utility, place.clock, tree.customer, up) for up in chosen]
    links = Urls(place.root, tree.parent)
    feeds, updated = [], 0
    for up, h in zip(chosen, histories):
        start, end = _window(place, tree, h)
        feed = UsageFeed(place.world, place.utility, links, start, end, True, tree.content, kinds, sent=sent)
        feeds.append((feed, up, h))
        updated = max(updated, feed.span(h).updated)
    return feeds, updated or place.now


def _entries_of(feeds: _Feeds) -> Iterator[Entry | BlockRun]:
    return (e for feed, up, h in feeds for e in feed.usage_point_entries(up, h))


def usage_feed(
    place: Place, tree: Tree, self_href: str, title: str, ups: Sequence[UsagePoint] | None = None
) -> Iterable[bytes]:
    """The feed document of every usage entry of `ups` (default: all of the tree's): a
    Batch/Subscription, a customer's own data.

    A polled subscription asks for the same bytes again and again: with `place.documents`, the
    written document is kept by everything its bytes are made of (`_document_key`: the usage points'
    rows, their customer's data quality, the days each history and window spans, which move with the
    sandbox clock, the scope, the query, where it is served) and answered from there while those are
    the same. Those are read on every call (the access policy judged the token before), so a moved
    clock, a data-quality change or another usage point list is a new document at once; imported
    readings (read from the database as the document streams) are never kept. A document answered
    from the store is a KeptDocument, which keeps its gzip form too."""
    feeds, updated = _usage_feeds(place, tree, ups)
    store = place.documents
    key = _document_key(place, tree, self_href, title, feeds, updated) if store is not None else None
    if store is None or key is None:
        return feed(place, self_href, title, _entries_of(feeds), updated)
    kept = store.get(place.world, key)
    if kept is not None:
        return KeptDocument(kept, store, place.world, key)
    return store.keeping(place.world, key, feed(place, self_href, title, _entries_of(feeds), updated))


def _document_key(place: Place, tree: Tree, self_href: str, title: str, feeds: _Feeds, updated: int) -> tuple | None:
    """What a usage document's bytes are made of besides the world (the kept store is the world's
    own): None when a usage point has imported readings (they are read as the document streams)."""
    points = []
    for f, up, h in feeds:
        if up.imported:
            return None
        points.append(
            (
                up.uuid,
                up.label,
                up.commodity,
                json.dumps(up.params, sort_keys=True),
                quality_of(place.world, up.customer),
                h.first,
                h.end,
                f.start,
                f.end,
            )
        )
    return (
        "usage-feed",
        place.utility.slug,
        place.root,
        self_href,
        title,
        place.query,
        tree.parent,
        tree.content,
        updated,
        tuple(points),
    )


def member(entries: Iterable[Entry | BlockRun], kind: str, uuid: str) -> Entry:
    """The entry of `kind` with id `uuid` among `entries` (stops at the first); NotFound otherwise."""
    for e in entries:
        if isinstance(e, BlockRun):
            if e.kind == kind and uuid in e.uuids:
                return e.entry(e.uuids.index(uuid))
        elif e.kind == kind and e.uuid == uuid:
            return e
    raise NotFound(uuid)


def of_kind(entries: Iterable[Entry | BlockRun], kind: str, up_href: str | None = None) -> Iterator[Entry | BlockRun]:
    """The entries of one kind (optionally with this `up` link: one parent's collection)."""
    for e in entries:
        if e.kind == kind and (up_href is None or e.up_href == up_href):
            yield e


# --- documents ----------------------------------------------------------------------------------


def feed_id(place: Place, self_href: str) -> str:
    return resource_uuid_str(place.world.seed, "feed", self_href)


def feed(
    place: Place,
    self_href: str,
    title: str,
    entries: Iterable[Entry | BlockRun],
    updated: int | None = None,
    prefix: str = "espi",
) -> Iterator[bytes]:
    """A feed document of `entries` with the request's query parameters applied (streamed)."""
    writer = FeedWriter(prefix, place.rendered, place.world)
    return writer.feed(
        feed_id(place, self_href), title, self_href, updated or place.now, espi_query.apply(place.query, entries)
    )


def entry(e: Entry, prefix: str = "espi") -> bytes:
    return FeedWriter(prefix).entry_document(e)


def usage_point_entry(place: Place, tree: Tree, uuid: str, prefix: str = "espi") -> bytes:
    """The entry document of one of the tree's usage points (NotFound for any other id).

    Its bytes depend on the database (the subscription, the usage point, its customer), the world,
    where it is served, what the scope grants and the day published data ends: a subscription's is
    kept in the process while the database does not change (core.changes) and that day is the same,
    so a repeated GET reads and writes nothing."""
    if not isinstance(tree.source, Shared):
        return _usage_point_entry(place, tree, uuid, prefix)
    shared = tree.source
    key = (
        id(place.world),
        place.world.seed,
        place.utility.slug,
        place.root,
        prefix,
        place.query,
        tree.parent,
        tree.content,
        tree.earliest,
        tree.days,
        shared.authorization_id,
        shared.customer_id,
        shared.provisioned,
        uuid,
        place.clock.published_end(place.utility.time_zone),
    )
    return kept_of(shared.session, "usage-point-entry", 2_000).get(  # about 2 KB each
        key, lambda: _usage_point_entry(place, tree, uuid, prefix)
    )


def _usage_point_entry(place: Place, tree: Tree, uuid: str, prefix: str) -> bytes:
    up = tree.usage_point(uuid)
    entries, _ = usage_entries(place, tree, [up], kinds=frozenset({"UsagePoint"}))
    return entry(member(entries, "UsagePoint", up.uuid), prefix)


# --- shared resources -----------------------------------------------------------------------------


def local_time(place: Place) -> Entry:
    tz = place.utility.time_zone
    today = place.clock.today(tz)
    return local_time_entry(
        place.world, place.utility, place.root, local_midnight(tz, place.world.history_start), today.year
    )


def reading_types(place: Place, trees: Iterable[Tree]) -> Iterator[Entry]:
    """Every ReadingType of the trees' usage points, once each."""
    sent: set[str] = set()
    for tree in trees:
        found, _ = usage_entries(place, tree, kinds=frozenset({"ReadingType"}), sent=sent)
        yield from (e for e in found if isinstance(e, Entry))


# --- customer (PII) data ------------------------------------------------------------------------


def customer_documents(
    place: Place,
    customer: Customer,
    usage_point_href,
    usage_points: list[UsagePoint] | None = None,
    statements: bool = False,
) -> list[Entry]:
    """The customer's PII entries, naming `usage_points` (default: all the customer's), with their
    bill statements if `statements`."""
    periods = (
        bill_statements.periods(place.world, place.utility, place.clock, customer, usage_points) if statements else []
    )
    return list(
        customer_entries(
            place.world, place.utility, customer, place.root, usage_point_href, place.now, usage_points, periods
        )
    )


def program_dates(place: Place) -> list[Entry]:
    """The utility's ProgramDateIdMappings entries (its tariffs' codes)."""
    return list(program_date_entries(place.world, place.utility, place.root))


def pii_at(entries: list[Entry], href: str) -> tuple[Entry | None, list[Entry]]:
    """(the entry whose self link is `href`, or None; the entries whose up link is `href`)."""
    href = href.rstrip("/")
    return next((e for e in entries if e.self_href == href), None), [e for e in entries if e.up_href == href]


def subscription_tree(place: Place, shared: Shared, usage_points: list[UsagePoint] | None = None) -> Tree:
    """A subscription's tree as its scope grants it (all its usage points unless given)."""
    return Tree(
        subscription_href(place, shared.id),
        None if usage_points is None else shared.customer,
        shared if usage_points is None else usage_points,
        shared.content,
        shared.earliest(place.clock.now(), place.utility.time_zone),
    )


def subscription_href(place: Place, subscription_id: str) -> str:
    return urls.href(place.root, "Subscription", subscription_id=subscription_id)


def retail_customer_href(place: Place, customer_uuid: str) -> str:
    return urls.href(place.root, "RetailCustomer", retail_customer_id=customer_uuid)
