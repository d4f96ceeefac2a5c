"""The Atom envelope of ESPI documents, written as a stream of bytes.

Entries are built with lxml and serialized one at a time, so a feed of any length needs
the memory of one entry. Namespaces are declared once on the feed: each entry is
serialized inside a throw-away feed element carrying the same declarations, and the
wrapper's tags are cut off. Entries that come by the thousand are serialized by lxml once
per layout, with markers where their values go, and written from that text: a
MeterReading's IntervalBlocks (`BlockRun`, whose readings are integers formatted
directly) and entries made with `Entry.formed` (UsageSummary). That is what keeps a year
of hourly data within a few milliseconds (see bench/bench_xml.py); tests check that both
give the bytes lxml gives for each entry.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
CUST = "http://naesb.org/espi/customer"
NSMAPS = {"espi": {None: ATOM, "espi": ESPI}, "cust": {None: ATOM, "cust": CUST}}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

A = "{%s}" % ATOM


def iso(epoch: int | float | str) -> str:
    """xs:dateTime in UTC with a Z, to the second (a str passes through: template markers)."""
    if isinstance(epoch, str):
        return epoch
    return _iso(int(epoch))


@lru_cache(maxsize=8192)
def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=8192)
def _iso_bytes(epoch: int) -> bytes:
    return _iso(epoch).encode()


# Entries written from a template are serialized by lxml once with markers (@@NAME@@) where
# their values go; the values are UUIDs, integers, timestamps or escaped text.
_MARKER_RE = re.compile(r"@@([A-Z0-9]+)@@")
_BLOCK_ORDER = (("UUID", "UUID", "DURATION", "START"), ("PUBLISHED", "UPDATED"))  # around the readings
_BLOCK_INTEGERS = frozenset({"DURATION", "START"})  # a block's markers written with %d, the others bytes


def _percent_format(text: str, integers: frozenset[str] = frozenset()) -> tuple[str, tuple[str, ...]]:
    """text with its markers made %s (%d for the names in `integers`; % made %%), and the names of
    the markers in order."""
    parts = _MARKER_RE.split(text)
    fmt = "".join(("%d" if p in integers else "%s") if i % 2 else p.replace("%", "%%") for i, p in enumerate(parts))
    return fmt, tuple(parts[1::2])


class Link(NamedTuple):
    """An atom:link (a named tuple: a MeterReading's entry makes one per block, hundreds at a time)."""

    rel: str
    href: str
    type: str | None = None

    def text(self) -> str:
        """The atom:link element as lxml writes it in an entry (Atom the default namespace)."""
        head, tail = _link_frame(self.rel, self.type)
        return head + _attr(self.href) + tail


@lru_cache(maxsize=256)
def _link_frame(rel: str, type_: str | None) -> tuple[str, str]:
    """A link's text before and after its href (a handful of rel and type pairs are ever written)."""
    typed = f' type="{_attr(type_)}"' if type_ else ""
    return f'<link rel="{_attr(rel)}" href="', f'"{typed}/>'


_ATTR_ESCAPES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_RELATED = "@@RELATED@@"  # the one link element standing for an entry's related links
_RELATED_MARK = f'<link rel="related" href="{_RELATED}"/>'.encode()


_ATTR_SPECIAL = re.compile(r'[&<>"\n\r\t]')


def _attr(value: str) -> str:
    return xml_escape(value, _ATTR_ESCAPES) if _ATTR_SPECIAL.search(value) else value


def _put_links(data: bytes, related: Sequence[Link]) -> bytes:
    head, mark, tail = data.partition(_RELATED_MARK)
    if not mark:
        raise AssertionError("an entry with related links was written without their mark")
    return head + _links_text(related).encode("utf-8") + tail


def _links_text(related: Sequence[Link]) -> str:
    """The links' elements, as Link.text writes each (a MeterReading links each of its hundreds of
    blocks: their hrefs are checked for characters to escape at once, not one by one)."""
    if _ATTR_SPECIAL.search("".join([link.href for link in related])):
        return "".join([link.text() for link in related])
    parts: list[str] = []
    for link in related:
        head, tail = _link_frame(link.rel, link.type)
        parts += (head, link.href, tail)
    return "".join(parts)


@dataclass
class Entry:
    """One atom:entry. `content` builds the ESPI/cust element lazily, so filtered-out entries cost nothing."""

    kind: str  # ESPI resource name, e.g. "IntervalBlock"
    uuid: str
    self_href: str
    up_href: str
    title: str
    published: int | str  # epoch seconds (text only for the writer's template markers)
    updated: int | str
    content: Callable[[], etree._Element]
    related: list[Link] = field(default_factory=list)
    readings: Callable[[], bytes] | None = None  # pre-formatted IntervalReadings appended to the content
    window: tuple[int, int] | None = None  # (start, end) of the data it holds, for published-min/max
    structural: bool = False  # a parent (UsagePoint, MeterReading, ReadingType...) kept whatever the time filters
    # optional: content is form(*fields), its layout fixed by which fields are None; the writer then
    # serializes one such entry with lxml and writes the others of the same layout from that text
    form: Callable[..., etree._Element] | None = None
    fields: tuple = ()

    @classmethod
    def formed(
        cls,
        kind: str,
        uuid: str,
        up_href: str,
        title: str,
        published: int,
        updated: int,
        form: Callable[..., etree._Element],
        fields: tuple,
        **more,
    ) -> "Entry":
        """An entry at {up_href}/{uuid} whose content is form(*fields); fields are integers, or text."""
        return cls(
            kind,
            uuid,
            f"{up_href}/{uuid}",
            up_href,
            title,
            published,
            updated,
            lambda: form(*fields),
            form=form,
            fields=fields,
            **more,
        )


@dataclass
class ReadingRun:
    """A stream's IntervalReading elements, kept as one bytes %-format per reading and the flat list
    of the readings' arguments (`width` per reading): a block's bytes are then one format call.
    Bytes, not text: formatting them directly spares a copy of the whole feed (and its memory)."""

    pattern: bytes
    width: int
    args: list
    _formats: dict[int, bytes] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.args) // self.width

    def format(self, count: int) -> bytes:
        f = self._formats.get(count)
        if f is None:
            f = self._formats[count] = self.pattern * count
        return f

    def text(self, a: int, b: int) -> bytes:
        """Readings a <= i < b."""
        return self.format(b - a) % tuple(self.args[a * self.width : b * self.width])


@dataclass
class BlockRun:
    """The IntervalBlocks of one MeterReading, one per local day: a feed's bulk, kept in columns.

    Block i has id uuids[i], covers windows[i], is published at published[i] and holds
    readings slices[i][0] <= k < slices[i][1] of readings(). The writer renders a run in one
    pass from a template that lxml serialized once; `entry(i)` gives block i as an ordinary Entry.
    """

    up_href: str
    uuids: list[str]
    windows: list[tuple[int, int]]
    published: list[int]
    slices: list[tuple[int, int]]
    readings: Callable[[], ReadingRun]
    kind: str = "IntervalBlock"
    # everything the blocks and their readings are made from, when that is a pure function of it
    # (synthetic data): the writer may then keep the run's text (RenderedRuns). None: never kept.
    key: tuple | None = None

    def __len__(self) -> int:
        return len(self.uuids)

    def subset(self, keep: list[int]) -> "BlockRun":
        pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
        return BlockRun(
            self.up_href, pick(self.uuids), pick(self.windows), pick(self.published), pick(self.slices), self.readings
        )

    def entry(self, i: int) -> Entry:
        start, end = self.windows[i]
        a, b = self.slices[i]
        return Entry(
            self.kind,
            self.uuids[i],
            f"{self.up_href}/{self.uuids[i]}",
            self.up_href,
            "",
            self.published[i],
            self.published[i],
            lambda: interval_block(start, end - start),
            readings=lambda: self.readings().text(a, b),
            window=(start, end),
        )


_OPEN = {
    prefix: etree.tostring(etree.Element(A + "feed", nsmap=nsmap)).replace(b"/>", b">")
    for prefix, nsmap in NSMAPS.items()
}  # the wrapper an entry is serialized in


class RenderedRuns:
    """The text of recently written block runs, by what they are made of (BlockRun.key), within a
    byte budget, least recently used first out. A second store of this kind keeps whole usage
    documents (feeds.documents.usage_feed), by everything their bytes are made of.

    A third party polling a subscription asks for the same year of synthetic blocks again and again;
    formatting the readings is most of the cost of writing them. The text kept is valid for one
    world only: asked with another world, everything kept is dropped (a reseed never serves old
    text). Thread-safe; each worker process keeps its own.
    """

    def __init__(self, budget_bytes: int = 32 * 1024 * 1024):
        self.budget = budget_bytes
        self._runs: OrderedDict[tuple, list[bytes]] = OrderedDict()
        self._size = 0
        self._world: object = None
        self._lock = threading.Lock()

    def _belong_to(self, world: object) -> None:
        if world is not self._world:
            self._runs.clear()
            self._size, self._world = 0, world

    def get(self, world: object, key: tuple) -> list[bytes] | None:
        with self._lock:
            self._belong_to(world)
            chunks = self._runs.get(key)
            if chunks is not None:
                self._runs.move_to_end(key)
            return chunks

    @property
    def largest(self) -> int:
        """The longest run kept: one huge run would push out all the others."""
        return self.budget // 4

    def put(self, world: object, key: tuple, chunks: list[bytes]) -> None:
        size = sum(len(c) for c in chunks)
        if size > self.largest:
            return
        with self._lock:
            self._belong_to(world)
            if key in self._runs:
                return
            self._runs[key] = chunks
            self._size += size
            while self._size > self.budget:
                _, old = self._runs.popitem(last=False)
                self._size -= sum(len(c) for c in old)

    def keeping(self, world: object, key: tuple, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """`chunks` as they come, kept under `key` once all came (a stream left unfinished, or longer
        than `largest`, is not kept, nor held while it is written)."""
        made: list[bytes] | None = []
        size = 0
        for piece in chunks:
            if made is not None:
                size += len(piece)
                if size <= self.largest:
                    made.append(piece)
                else:
                    made = None
            yield piece
        if made is not None:
            self.put(world, key, made)

    @property
    def size(self) -> int:
        return self._size


class KeptDocument(list[bytes]):
    """A whole document answered from a store (its chunks of bytes), which also keeps the document's
    gzip form once a client asked for it: a polled document is then compressed once, not per call."""

    def __init__(self, chunks: list[bytes], store: RenderedRuns, world: object, key: tuple):
        super().__init__(chunks)
        self._store, self._world, self._key = store, world, ("gzip", *key)

    def gzipped(self) -> list[bytes]:
        """The document gzip-compressed (level 6, a gzip header and trailer: what a stream compressed
        as it is written gives), kept in the same store."""
        found = self._store.get(self._world, self._key)
        if found is None:
            z = zlib.compressobj(6, zlib.DEFLATED, 31)
            found = [b"".join([z.compress(chunk) for chunk in self] + [z.flush()])]
            self._store.put(self._world, self._key, found)
        return found


_RESOURCE_WORD = re.compile(r"^[A-Z][A-Za-z]+$")


def feed_kind(self_href: str) -> str:
    """The resource a feed's URL names (its last path step that is a resource name, not an id), for
    the `type` of its self link: `espi-feed/UsagePoint`, `espi-feed/Subscription` (every link of a
    document carries a type, as the 2025 production samples do and ESPI 3.3's atom.xsd requires)."""
    path = self_href.split("?", 1)[0].rstrip("/")
    for step in reversed(path.split("/")):
        if _RESOURCE_WORD.match(step) and step not in ("Batch",):
            return step
    return "Feed"


class FeedWriter:
    """Writes one feed: `header()`, then `entry(e)` for each entry, then `footer()`.

    With `rendered` (and the `world` the runs belong to), block runs that have a key are written
    once and their text kept there."""

    def __init__(self, prefix: str = "espi", rendered: RenderedRuns | None = None, world: object = None):
        if prefix not in NSMAPS:
            raise ValueError(prefix)
        self.prefix = prefix
        self.rendered, self.world = rendered, world
        self.feed_type = f"{prefix}-feed"
        self.entry_type = f"{prefix}-entry"
        self._open = _OPEN[prefix]
        self._templates: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._forms: dict[tuple, tuple[str, tuple[str, ...]]] = {}

    def header(self, feed_id: str, title: str, self_href: str, updated: int) -> bytes:
        root = etree.Element(A + "feed", nsmap=NSMAPS[self.prefix])
        etree.SubElement(root, A + "id").text = f"urn:uuid:{feed_id}"
        etree.SubElement(root, A + "title").text = title
        etree.SubElement(root, A + "updated").text = iso(updated)
        etree.SubElement(root, A + "link", rel="self", href=self_href, type=f"{self.feed_type}/{feed_kind(self_href)}")
        body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
        return XML_DECLARATION + body[: -len(b"</feed>")] + b"\n"

    def footer(self) -> bytes:
        return b"</feed>\n"

    def _entry_element(self, parent: etree._Element | None, e: Entry) -> etree._Element:
        entry = (
            etree.SubElement(parent, A + "entry")
            if parent is not None
            else etree.Element(A + "entry", nsmap=NSMAPS[self.prefix])
        )
        etree.SubElement(entry, A + "id").text = f"urn:uuid:{e.uuid}"
        etree.SubElement(entry, A + "link", rel="self", href=e.self_href, type=f"{self.entry_type}/{e.kind}")
        etree.SubElement(entry, A + "link", rel="up", href=e.up_href, type=f"{self.feed_type}/{e.kind}")
        if e.related:  # written as text by _links: a MeterReading links each of its hundreds of blocks
            etree.SubElement(entry, A + "link", rel="related", href=_RELATED)
        etree.SubElement(entry, A + "title").text = e.title
        content = etree.SubElement(entry, A + "content")
        content.append(e.content())
        etree.SubElement(entry, A + "published").text = iso(e.published)
        etree.SubElement(entry, A + "updated").text = iso(e.updated)
        return entry

    def _splice(self, data: bytes, e: Entry) -> bytes:
        """The entry's related links and pre-formatted readings put in the places marked for them."""
        if e.related:
            data = _put_links(data, e.related)
        if e.readings is None:
            return data
        close = f"</{self.prefix}:{e.kind}>".encode()
        cut = data.rfind(close)
        if cut < 0:  # the content element was empty and written as <x/>
            empty = f"<{self.prefix}:{e.kind}/>".encode()
            cut = data.rfind(empty)
            return data[:cut] + f"<{self.prefix}:{e.kind}>".encode() + e.readings() + close + data[cut + len(empty) :]
        return data[:cut] + e.readings() + data[cut:]

    def entry(self, e: Entry) -> bytes:
        if e.form is not None and e.readings is None and e.self_href == f"{e.up_href}/{e.uuid}":
            return self._formed(e)
        root = etree.Element(A + "feed", nsmap=NSMAPS[self.prefix])
        self._entry_element(root, e)
        data = etree.tostring(root, encoding="UTF-8")
        return self._splice(data[len(self._open) : -len(b"</feed>")], e) + b"\n"

    def _formed(self, e: Entry) -> bytes:
        """A formed entry written from its layout's template (see Entry.formed)."""
        key = (e.kind, e.up_href, tuple(e.related), e.form, tuple(f is None for f in e.fields))
        template = self._forms.get(key)
        if template is None:
            marks = tuple(None if f is None else f"@@F{i}@@" for i, f in enumerate(e.fields))
            form = e.form
            assert form is not None  # _formed is asked only for formed entries
            marker = Entry(
                e.kind,
                "@@UUID@@",
                f"{e.up_href}/@@UUID@@",
                e.up_href,
                "@@TITLE@@",
                "@@PUBLISHED@@",
                "@@UPDATED@@",
                lambda: form(*marks),
                e.related,
            )
            template = self._forms[key] = _percent_format(self.entry(marker).decode("utf-8"))
        fmt, order = template
        values = {
            "UUID": e.uuid,
            "TITLE": xml_escape(e.title),
            "PUBLISHED": iso(e.published),
            "UPDATED": iso(e.updated),
        }
        for i, f in enumerate(e.fields):
            values[f"F{i}"] = xml_escape(f) if isinstance(f, str) else _text(f)
        return (fmt % tuple([values[name] for name in order])).encode("utf-8")

    def _template(self, up_href: str, kind: str) -> tuple[bytes, bytes]:
        """One block entry as a bytes %-format before and after its readings, serialized by lxml once
        per MeterReading. Markers stand where the per-block values go (UUIDs, integers and timestamps,
        none needing escaping); `run` fills them in the order checked here."""
        template = self._templates.get((up_href, kind))
        if template is None:
            marker = Entry(
                kind,
                "@@UUID@@",
                f"{up_href}/@@UUID@@",
                up_href,
                "",
                "@@PUBLISHED@@",
                "@@UPDATED@@",
                lambda: interval_block("@@START@@", "@@DURATION@@"),
                readings=lambda: b"@@READINGS@@",
            )
            before, after = self.entry(marker).decode("utf-8").split("@@READINGS@@")
            (pre, pre_order), (post, post_order) = (_percent_format(t, _BLOCK_INTEGERS) for t in (before, after))
            if (pre_order, post_order) != _BLOCK_ORDER:
                raise AssertionError(f"block entry fields in an unexpected order: {pre_order}, {post_order}")
            template = self._templates[(up_href, kind)] = (pre.encode("utf-8"), post.encode("utf-8"))
        return template

    def run(self, r: BlockRun, chunk: int = 64) -> Iterator[bytes]:
        """The run's block entries, `chunk` blocks per piece of output (kept text, if there is)."""
        if self.rendered is None or r.key is None:
            yield from self._run(r, chunk)
            return
        key = (self.prefix, r.up_href, r.kind, chunk, r.key)
        kept = self.rendered.get(self.world, key)
        if kept is not None:
            yield from kept
            return
        yield from self.rendered.keeping(self.world, key, self._run(r, chunk))

    def _run(self, r: BlockRun, chunk: int) -> Iterator[bytes]:
        pre, post = self._template(r.up_href, r.kind)
        readings = r.readings()
        formats: dict[int, bytes] = {}
        args, width = readings.args, readings.width
        for lo in range(0, len(r), chunk):  # one %-format of the whole piece: a block is a part of it
            hi = min(lo + chunk, len(r))
            parts: list[bytes] = []
            values: list = []
            for uuid, (start, end), (a, b), published in zip(
                r.uuids[lo:hi], r.windows[lo:hi], r.slices[lo:hi], r.published[lo:hi]
            ):
                fmt = formats.get(b - a)
                if fmt is None:
                    fmt = formats[b - a] = pre + readings.format(b - a) + post
                parts.append(fmt)
                when = _iso_bytes(published)
                uuid_bytes = uuid.encode()
                values += (uuid_bytes, uuid_bytes, end - start, start)
                values += args[a * width : b * width]
                values += (when, when)
            yield b"".join(parts) % tuple(values)

    def entry_document(self, e: Entry) -> bytes:
        """A bare <entry> document (what a member URL returns)."""
        element = self._entry_element(None, e)
        return XML_DECLARATION + self._splice(etree.tostring(element, encoding="UTF-8"), e) + b"\n"

    def feed(
        self, feed_id: str, title: str, self_href: str, updated: int, entries: Iterable[Entry | BlockRun]
    ) -> Iterator[bytes]:
        yield self.header(feed_id, title, self_href, updated)
        for e in entries:
            if isinstance(e, BlockRun):
                yield from self.run(e)
            else:
                yield self.entry(e)
        yield self.footer()


def element(tag: str, ns: str, children: Sequence[tuple[str, object]] | dict) -> etree._Element:
    """An element with simple children in the given order; None values are left out.

    A child value may be an element (appended as is), a list (one child each), or a
    scalar (its text). Nested structures are (name, [(child, value), ...]) tuples.
    """
    el = etree.Element(f"{{{ns}}}{tag}")
    _fill(el, ns, children)
    return el


def _fill(parent: etree._Element, ns: str, children) -> None:
    items = children.items() if isinstance(children, dict) else children
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, etree._Element):
            parent.append(value)
        elif isinstance(value, list) and value and isinstance(value[0], tuple):
            sub = etree.SubElement(parent, f"{{{ns}}}{name}")
            _fill(sub, ns, value)
        elif isinstance(value, list):
            for v in value:
                etree.SubElement(parent, f"{{{ns}}}{name}").text = _text(v)
        else:
            etree.SubElement(parent, f"{{{ns}}}{name}").text = _text(value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def interval_block(start: int | str, duration: int | str) -> etree._Element:
    """The block with its interval; the readings are appended as text from `interval_readings`
    (here, beside the writer that fills it, so that the writer needs nothing of resources.py)."""
    return element("IntervalBlock", ESPI, [("interval", [("duration", duration), ("start", start)])])
