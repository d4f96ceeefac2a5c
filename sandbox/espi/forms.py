"""A finished ESPI document put in another form: ESPI version, namespace style, href style.

The writers (sandbox.espi.atom) produce one form, the plain one: ESPI 4.0, the `espi:` (or
`cust:`) prefix declared once on the feed root beside Atom as the default namespace, and
absolute hrefs. Clients in the wild are written against other forms of the same data (the
Green Button Alliance sample files, ElementTree output, ESPI 3.3 in Ontario), so `render`
rewrites a whole document into one of those. Every form carries exactly the same data: the
same elements in the same order with the same text and attributes; only the prefixes and
namespace declarations, the link hrefs' form and (for 3.3) the link types differ.

Everything goes through lxml. Namespaces are re-declared by moving subtrees under new parent
elements: lxml then rebinds each moved element to the nearest declaration of its namespace
in its new place (in C), so a feed's hundreds of thousands of readings are never visited
one by one from Python; only the entries' payloads and their direct children are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from sandbox.espi.atom import ATOM, CUST, XML_DECLARATION
from sandbox.espi.xmlio import SCHEMA_DIRS, schema_for

VERSIONS = ("4.0", "3.3")
NAMESPACES = ("espi", "default", "ns0")
HREFS = ("absolute", "root-relative")

__all__ = ["HREFS", "NAMESPACES", "PLAIN", "VERSIONS", "Form", "in_form", "render", "schema_for"]

assert set(VERSIONS) == set(SCHEMA_DIRS), "a version without its schema set (or the other way round)"

A = "{%s}" % ATOM
LINK_TYPE = "application/atom+xml"  # the media type every link of an ESPI document points to

# Elements of the 4.0 customer.xsd that the 3.3 one does not declare (see _to_3_3).
_NOT_IN_3_3 = ("{%s}Statement" % CUST, "{%s}StatementRef" % CUST)


PLAIN_FIELDS = (VERSIONS[0], NAMESPACES[0], HREFS[0])  # the writers' own form


@dataclass(frozen=True)
class Form:
    """How a document is written. Form() is what the writers produce (`plain`)."""

    version: str = "4.0"  # one of VERSIONS
    # "espi": the writers' own (espi:/cust: declared once on the root, Atom the default namespace);
    # "default": each payload (the child of atom:content) declares its ESPI or customer namespace as
    # its default and no prefix is used, as the Green Button Alliance sample files are written;
    # "ns0": ElementTree's generated prefixes ns0:, ns1:, ... for every namespace, Atom included
    namespaces: str = "espi"
    hrefs: str = "absolute"  # "absolute", or "root-relative": atom:link hrefs as "/dc/..." (no scheme or host)

    def __post_init__(self) -> None:
        for name, allowed in (("version", VERSIONS), ("namespaces", NAMESPACES), ("hrefs", HREFS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")

    @property
    def plain(self) -> bool:
        """True for the writers' own form: there is nothing to render."""
        return (self.version, self.namespaces, self.hrefs) == PLAIN_FIELDS


PLAIN = Form()


def in_form(chunks: Iterable[bytes], form: Form) -> Iterable[bytes]:
    """A document's chunks in `form`: as they come for the plain form (streamed), else the whole
    document rewritten at once."""
    return chunks if form.plain else [render(b"".join(chunks), form)]


def _parser() -> etree.XMLParser:
    # The input is the sandbox's own output (trusted), so huge_tree: a three-year file is tens of
    # megabytes. Blank text is kept: the newlines between entries stay where the writer put them.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_blank_text=False
    )


def render(data: bytes, form: Form) -> bytes:
    """A whole document as the sandbox writes it (an atom:feed or atom:entry, or a bare ESPI
    document such as BatchList, with its XML declaration) in `form`. Form() returns `data` itself."""
    if form.plain:
        return data
    root = etree.fromstring(data, _parser())
    if form.version == "3.3":
        _to_3_3(root)
    if form.hrefs == "root-relative":
        _root_relative(root)
    if form.namespaces == "default":
        root = _default_namespaces(root)
    elif form.namespaces == "ns0":
        root = _generated_prefixes(root)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8") + b"\n"


# --- ESPI 3.3 ---------------------------------------------------------------------------------
#
# What the 3.3 schema set (sandbox/espi/schema/v3.3) asks differently of what the sandbox writes,
# found by comparing the two sets declaration by declaration (annotations left aside) and by
# validating every kind of document the sandbox writes against 3.3 (tests/espi/test_forms.py):
#
# * atom.xsd: `type` is required on every atom:link (GBA change of 2022-12-08); 4.0 made it
#   optional. The writers leave it off a feed's self link and off an Authorization's related link
#   when the grant is not a customer's (the bulk or the resource root). Rule: a link without a type
#   gets application/atom+xml, the media type the sandbox serves every ESPI resource with; links
#   that have one (espi-entry/..., espi-feed/..., cust-entry/...) keep it.
# * customer.xsd: 4.0 added Statement and StatementRef (and their MediaType); 3.3 has neither. The
#   sandbox writes neither, so nothing is left out; a document that held one could not be said in
#   3.3 without losing data, so it is refused (ValueError) rather than written invalid.
# * espi.xsd: the same declarations, element order, types and enumerations in both versions, save
#   ServiceKind, where 3.3 also allows 10; the sandbox writes 0, 1 and 2 (electricity, gas, water),
#   valid in both. No rule.
# * Neither set has a version attribute or element an instance must carry: no rule.


def _to_3_3(root: etree._Element) -> None:
    for tag in _NOT_IN_3_3:
        for found in root.iter(tag):
            raise ValueError(f"ESPI 3.3 has no {etree.QName(found).localname}: the document cannot be written in 3.3")
    for link in root.iter(A + "link"):
        if link.get("type") is None:
            link.set("type", LINK_TYPE)


# --- hrefs ------------------------------------------------------------------------------------


def _root_relative(root: etree._Element) -> None:
    """Every atom:link href without its scheme and host ("/dc/..."): resolved against the server
    root it is the absolute href again. Hrefs without a host are left as they are."""
    for link in root.iter(A + "link"):
        href = link.get("href")
        if href is None:
            continue
        parts = urlsplit(href)
        if parts.scheme and parts.netloc:
            link.set("href", urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment)))


# --- namespace styles -------------------------------------------------------------------------


def _payloads(root: etree._Element) -> list[tuple[etree._Element, etree._Element]]:
    """(atom:content, its payload element) of every entry of an Atom document."""
    return [(content, content[0]) for content in root.iter(A + "content") if len(content)]


def _renamespaced(el: etree._Element, nsmap: dict) -> etree._Element:
    """A copy of `el` itself (tag, attributes, text, tail) declaring `nsmap`, holding el's children,
    moved there: lxml binds each moved element to the nearest declaration of its namespace."""
    new = etree.Element(el.tag, dict(el.attrib), nsmap=nsmap)
    new.text, new.tail = el.text, el.tail
    new.extend(list(el))
    return new


def _default_namespaces(root: etree._Element) -> etree._Element:
    if root.tag not in (A + "feed", A + "entry"):  # a bare ESPI document: its own namespace the default
        return _renamespaced(root, {None: etree.QName(root).namespace})
    for content, payload in _payloads(root):
        # a new payload in place, declaring its namespace as the default (lxml declares what nsmap
        # gives when the prefix is bound otherwise in scope: here Atom is the default), then the old
        # payload's children moved into it: each is bound to the nearest declaration, the new one
        new = etree.SubElement(content, payload.tag, dict(payload.attrib), nsmap={None: etree.QName(payload).namespace})
        new.text = payload.text
        new.extend(list(payload))
        content.remove(payload)
        new.tail = payload.tail
    etree.cleanup_namespaces(root)  # the root's espi:/cust: declaration, now used by nothing
    return root


def _generated_prefixes(root: etree._Element) -> etree._Element:
    """ElementTree's way: every namespace declared on the root as ns0, ns1, ... in the order of
    first use (the root's own namespace first)."""
    used = [etree.QName(root).namespace]
    # the writers declare every namespace on the root; payloads are the only other place one starts
    used += list(root.nsmap.values()) + [etree.QName(p).namespace for _, p in _payloads(root)]
    order = list(dict.fromkeys(ns for ns in used if ns))
    return _renamespaced(root, {f"ns{i}": ns for i, ns in enumerate(order)})
