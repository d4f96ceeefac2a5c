"""A bill statement as the PDF document the utility sends: the document an ESPI `Statement`
points at, and the portal's bill download.

Numbers are formatted by `summaries` (as the portal's tables and charts write them), so the
document, the portal and the UsageSummary entries show the same amounts. The document uses
the PDF core fonts (nothing to ship or embed); they hold only Windows-1252 characters, so
other text is transliterated where Unicode can (accents dropped) and written as "?" where it
cannot. The same statement always gives the same bytes: the document's dates come from the
statement, never from the wall clock.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from sandbox.core.models import Customer, UsagePoint
from sandbox.services.statements import Statement
from sandbox.services.summaries import format_money, format_quantity
from sandbox.synth.archetypes import UsagePointParams
from sandbox.synth.bills import Bill
from sandbox.synth.usage import Stream, streams_for
from sandbox.synth.world import UtilityDef

if TYPE_CHECKING:  # fpdf2 (and fontTools) take a fifth of the start-up to import: imported at the first bill
    from fpdf import FPDF

ENCODING = "windows-1252"  # what fpdf2 writes the core fonts' text in (the PDF's WinAnsiEncoding)
FONT = "helvetica"
LETTER_LOCALES = ("en_US", "en_CA")  # printed on US Letter there, on A4 elsewhere
BASIC_SERVICE = "Basic service charge"  # the fixed charge, named as the UsageSummary notes it (feeds/usage.py)
ROW = 6  # mm, a table row
# characters the core fonts lack that people read as another one (Unicode does not decompose these)
STAND_INS = str.maketrans(
    {
        "\u2212": "-",
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0131": "i",
        "\u0127": "h",
        "\u0126": "H",
        "\u0167": "t",
        "\u0166": "T",
    }
)


def pdf_text(text: str) -> str:
    """`text` in characters the core fonts can write."""
    out = []
    for ch in text.translate(STAND_INS):
        if _writable(ch):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(_writable(c) for c in base) else "?")
    return "".join(out)


def _writable(ch: str) -> bool:
    try:
        ch.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _day(day: dt.date) -> str:
    return f"{day:%d %b %Y}"  # as the portal's `day` filter writes it


@lru_cache(maxsize=1)
def _document_class() -> Callable[[UtilityDef, str], FPDF]:
    from fpdf import FPDF

    class _Document(FPDF):
        """A bill's pages, each footed with the account, the statement month and the page number."""

        def __init__(self, utility: UtilityDef, foot: str):
            super().__init__(format="Letter" if utility.locale in LETTER_LOCALES else "A4")
            self.core_fonts_encoding = ENCODING
            self.foot = pdf_text(foot)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font(FONT, "", 8)
            self.set_text_color(90)
            self.cell(0, 5, f"{self.foot} · page {self.page_no()} of {{nb}}", align="C")

    return _Document


def bill_pdf(utility: UtilityDef, customer: Customer, statement: Statement) -> bytes:
    """The statement's bill: account, period, each usage point's use and charges, the amount due."""
    from fpdf import FontFace

    issued = dt.datetime.fromtimestamp(statement.issued, utility.tz)
    pdf = _document_class()(
        utility, f"{utility.name} · account {customer.account_number} · bill for {statement.first_day:%B %Y}"
    )
    pdf.set_creation_date(issued)
    pdf.set_title(pdf_text(f"{utility.name}: bill for {statement.first_day:%B %Y}"))
    pdf.set_author(pdf_text(utility.name))
    pdf.set_subject(f"Bill statement {statement.uuid}")
    pdf.set_lang("en")
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    primary = utility.colors.get("primary", "#333333")

    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(primary)
    pdf.cell(0, 10, pdf_text(utility.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(FONT, "", 12)
    pdf.cell(0, 7, f"Bill for {statement.first_day:%B %Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def money(amount: int) -> str:
        return pdf_text(format_money(amount, utility.currency))

    address = f"{customer.street}, {customer.city}, {customer.state} {customer.postal_code}"
    last_day = statement.end_day - dt.timedelta(days=1)
    facts = [
        ("Customer", customer.name),
        ("Account number", customer.account_number),
        ("Service address", address),
        ("Billing period", f"{_day(statement.first_day)} to {_day(last_day)}"),
        ("Issue date", _day(issued.date())),
        ("Statement", statement.uuid),
    ]
    pdf.set_font(FONT, "", 10)
    with pdf.table(
        col_widths=(1, 3),
        borders_layout="NONE",
        first_row_as_headings=False,
        text_align="LEFT",
        line_height=6,
        align="LEFT",
    ) as table:
        for label, value in facts:
            row = table.row()
            row.cell(label, style=FontFace(emphasis="BOLD"))
            row.cell(pdf_text(value))
    pdf.ln(4)

    pdf.set_fill_color(primary)
    pdf.set_text_color(255)
    pdf.set_font(FONT, "B", 14)
    margin = pdf.c_margin
    pdf.c_margin = 4  # the box's text stands off its edges
    pdf.cell(pdf.epw / 2, 12, "Amount due", fill=True)
    pdf.cell(0, 12, money(statement.total), fill=True, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.c_margin = margin
    pdf.set_text_color(0)
    pdf.set_fill_color(255)
    pdf.set_font(FONT, "", 9)
    pdf.cell(0, 6, f"Amounts in {utility.currency}.", new_x="LMARGIN", new_y="NEXT")

    for up, bill in statement.bills:
        pdf.ln(5)
        _usage_point(pdf, utility, up, bill, money)

    pdf.ln(6)
    pdf.set_font(FONT, "I", 8)
    pdf.set_text_color(90)
    pdf.multi_cell(
        0,
        4,
        pdf_text(
            f"{utility.name} is a fictional utility of the Green Button Sandbox: the "
            "readings and charges on this bill are synthetic. The same numbers are in the "
            "customer portal and in the Green Button data of this account."
        ),
    )
    return bytes(pdf.output())


def _usage_point(pdf: FPDF, utility: UtilityDef, up: UsagePoint, bill: Bill, money: Callable[[int], str]) -> None:
    """One usage point's part of the bill: what was used (and exported), and what it costs."""
    from fpdf import FontFace

    params = UsagePointParams.from_json(up.params)
    streams = {s.key: s for s in streams_for(utility, params)}
    delivered: Stream = streams[params.commodity]
    received = streams.get(f"{params.commodity}-received")
    lines = [("Consumption", format_quantity(bill.consumption, delivered), "")]
    if received is not None:
        lines.append(("Solar export", format_quantity(bill.received, received), ""))
    lines.append(("Energy charges", "", money(bill.energy_charges)))
    if received is not None or bill.credits:
        lines.append(("Solar export credits", "", money(bill.credits)))
    lines.append((BASIC_SERVICE, "", money(bill.fixed_charge)))
    if pdf.will_page_break(ROW * (len(lines) + 2) + 14):  # a usage point's part stays on one page
        pdf.add_page()
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 7, pdf_text(f"{up.commodity.capitalize()}: {up.label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    tariff = utility.tariffs[params.commodity].name
    pdf.cell(0, 5, pdf_text(f"Meter {up.meter_serial} · Tariff: {tariff}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(FONT, "", 10)
    with pdf.table(
        col_widths=(3, 2, 2),
        text_align=("LEFT", "RIGHT", "RIGHT"),
        line_height=ROW,
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 242)),
    ) as table:
        head = table.row()
        for h in ("", "Quantity", "Amount"):
            head.cell(h)
        for label, qty, amount in lines:
            row = table.row()
            for v in (label, pdf_text(qty), amount):
                row.cell(v)
        total = table.row(style=FontFace(emphasis="BOLD"))
        for v in (f"Total {up.commodity}", "", money(bill.total)):
            total.cell(v)
