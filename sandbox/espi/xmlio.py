"""Reading untrusted XML safely, and the ESPI schema sets (4.0, and 3.3 for output in that version)
that validate a whole feed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

from sandbox.core.errors import XmlRefused

SCHEMA_DIR = Path(__file__).with_name("schema")
# each version's folder holds atom.xsd, espi.xsd, customer.xsd, xml.xsd and gb-feed-wrapper.xsd
SCHEMA_DIRS = {"4.0": SCHEMA_DIR, "3.3": SCHEMA_DIR / "v3.3"}
_REMOTE_XML_XSD = (
    "https://www.w3.org/2001/03/xml.xsd",
    "http://www.w3.org/2001/03/xml.xsd",
    "http://www.w3.org/2001/xml.xsd",
)
MAX_XML_BYTES = 64 * 1024 * 1024
# A tree costs ~130 bytes an element: a file of tiny elements (<a/><a/>...) would take 30 times its size.
# A Green Button file holds an element per 30 bytes or more, so this bounds the tree, not real files.
MAX_XML_ELEMENTS = 2_000_000


class _LocalResolver(etree.Resolver):
    """atom.xsd imports the W3C xml.xsd by URL: the local stand-in of the same folder, never the network."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def resolve(self, url, pubid, context):
        if url in _REMOTE_XML_XSD:
            return self.resolve_filename(str(self.folder / "xml.xsd"), context)
        return None


def schema() -> etree.XMLSchema:
    """The ESPI 4.0 atom.xsd + espi.xsd + customer.xsd as one schema set (compiled once)."""
    return schema_for("4.0")


@lru_cache(maxsize=None)
def schema_for(version: str) -> etree.XMLSchema:
    """One version's (SCHEMA_DIRS) atom.xsd + espi.xsd + customer.xsd as one schema set, compiled once."""
    folder = SCHEMA_DIRS.get(version)
    if folder is None:
        raise ValueError(f"version: no ESPI schemas for {version!r} (known: {', '.join(SCHEMA_DIRS)})")
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalResolver(folder))
    return etree.XMLSchema(etree.parse(str(folder / "gb-feed-wrapper.xsd"), parser))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def check_size(data: bytes, max_bytes: int = MAX_XML_BYTES) -> None:
    """XmlRefused for a document larger than `max_bytes`, or with more elements than MAX_XML_ELEMENTS
    (counted before parsing, so a hostile file never becomes a tree of a gigabyte)."""
    if len(data) > max_bytes:
        raise XmlRefused(f"the file is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    elements = data.count(b"<") - data.count(b"</")
    if elements > MAX_XML_ELEMENTS:
        raise XmlRefused(f"the file has about {elements:,} elements; at most {MAX_XML_ELEMENTS:,} are accepted")


def parse_untrusted(data: bytes, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse bytes from outside: no DTD, no entity expansion, no network, bounded size and element count."""
    check_size(data, max_bytes)
    if not data.strip():
        raise XmlRefused("the file is empty")
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:  # XML keywords are case-sensitive: no copy of the file
        raise XmlRefused("the file declares a DTD or entities, which are not accepted in Green Button data")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"the file is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise XmlRefused("the file declares a DTD, which is not accepted in Green Button data")
    return root


def validation_errors(root: etree._Element, limit: int = 5) -> list[str]:
    """Schema errors of a parsed document (empty when it is valid ESPI 4.0)."""
    s = schema()
    if s.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in list(s.error_log)[:limit]]
