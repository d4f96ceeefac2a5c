"""Bill statements as PDF documents (issue 22, item 5) and their download from the portal: the
bill shows the numbers of the portal's Bills table and monthly tables, is the same bytes every
time, survives names the PDF core fonts cannot write, and is served to its customer only."""

from __future__ import annotations

import dataclasses
import io
import re

import pypdf
from lxml import html as lxml_html
from sqlalchemy import select
from web.helpers import sb_of, text, token_from
from werkzeug.http import parse_options_header

from sandbox.core.models import Customer
from sandbox.services import statements
from sandbox.services.bill_pdf import bill_pdf, pdf_text

token = token_from("/dc/bayview/")


def login(client, slug="bayview"):
    r = client.post(
        f"/dc/{slug}/login",
        data={
            "csrf_token": token(client, f"/dc/{slug}/"),
            "method": "password",
            "username": "demo",
            "password": "demo",
        },
    )
    assert r.status_code == 303


def pdf_lines(body: bytes) -> list[str]:
    """The document's text, line by line, whitespace collapsed."""
    reader = pypdf.PdfReader(io.BytesIO(body))
    return [" ".join(line.split()) for page in reader.pages for line in page.extract_text().splitlines()]


def cells(el) -> list[str]:
    return [" ".join(c.text_content().split()) for c in el.xpath("./th|./td")]


def as_pdf(portal_text: str) -> str:
    """How the portal's text is written with the core fonts: its minus sign as a hyphen-minus."""
    return portal_text.replace("\u2212", "-")


def demo_statements(app, slug="bayview", number=0):
    sb = sb_of(app)
    with sb.db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.number == number, Customer.utility.has(slug=slug))).one()
        return statements.statements(sb.world, sb.world.utility(slug), sb.clock, c)


def download(client, href):
    r = client.get(href)
    assert r.status_code == 200, text(r)
    assert r.mimetype == "application/pdf"
    disposition, options = parse_options_header(r.headers["Content-Disposition"])
    assert disposition == "attachment"
    assert r.headers["Cache-Control"] == "no-store"
    return r.data, options["filename"]


def test_the_bill_shows_the_numbers_of_the_portals_bills_and_monthly_tables(client, app):
    login(client)
    page = lxml_html.fromstring(text(client.get("/dc/bayview/")))
    head = cells(page.xpath('//table[@id="bills"]/thead/tr')[0])
    newest = page.xpath('//table[@id="bills"]/tbody/tr')[0]
    row = cells(newest)
    body, name = download(client, newest.xpath(".//a[@class='bill-pdf']/@href")[0])
    lines = pdf_lines(body)
    assert name == "bill-2025-06.pdf" and "Bill for June 2025" in lines
    assert f"Amount due {as_pdf(row[head.index('Total')])}" in lines
    assert "Billing period 01 Jun 2025 to 30 Jun 2025" in lines and "Issue date 01 Jul 2025" in lines
    demo = demo_statements(app)[-1]
    assert f"Statement {demo.uuid}" in lines
    with sb_of(app).db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()
        assert f"Customer {c.name}" in lines and f"Account number {c.account_number}" in lines
        assert f"Service address {c.street}, {c.city}, {c.state} {c.postal_code}" in lines
    # each usage point's part: the figures of its monthly table for that month, in its own part
    sections = page.xpath("//section[@data-usage-point]")
    assert len(sections) == 2
    for section in sections:
        title = " ".join(section.xpath("./h2")[0].text_content().split())  # "Electricity Home electric service"
        commodity, label = title.split(" ", 1)
        start = lines.index(f"{commodity}: {label}")
        end = next(i for i in range(start, len(lines)) if lines[i].startswith(f"Total {commodity.lower()} "))
        part = lines[start : end + 1]
        monthly = section.xpath('.//table[@class="monthly"]')[0]
        columns = cells(monthly.xpath("./thead/tr")[0])
        figures = dict(zip(columns, cells(monthly.xpath('./tbody/tr[@data-month="2025-06-01"]')[0])))
        assert f"Consumption {figures['Used']}" in part
        assert f"Energy charges {as_pdf(figures['Energy charges'])}" in part
        assert f"Basic service charge {figures['Fixed charge']}" in part
        assert f"Total {commodity.lower()} {as_pdf(figures['Bill'])}" in part
        # the Bills table's column of this commodity holds the same total
        assert as_pdf(row[head.index(commodity)]) == as_pdf(figures["Bill"])
        if "Exported" in figures:  # the demo's electricity has solar: its export and credits
            assert f"Solar export {figures['Exported']}" in part
            assert f"Solar export credits {as_pdf(figures['Credits'])}" in part
            assert figures["Credits"].startswith("\u2212")
        else:
            assert not any(line.startswith("Solar export") for line in part)
        meter = section.xpath('./p[@class="meta"]')[0].text.split()[-1]
        tariff = sb_of(app).world.utility("bayview").tariffs[commodity.lower()].name
        assert part[1] == f"Meter {meter} · Tariff: {tariff}"
    assert sum("Exported" in cells(s.xpath('.//table[@class="monthly"]/thead/tr')[0]) for s in sections) == 1


def test_every_row_of_the_bills_table_downloads_its_own_months_bill(client, app):
    login(client)
    page = lxml_html.fromstring(text(client.get("/dc/bayview/")))
    rows = page.xpath('//table[@id="bills"]/tbody/tr')
    by_uuid = {st.uuid: st for st in demo_statements(app)}
    assert len(rows) == 13
    for tr in rows:
        href = tr.xpath(".//a[@class='bill-pdf']/@href")[0]
        st = by_uuid[re.fullmatch(r"/dc/bayview/bills/([0-9a-f-]{36})\.pdf", href).group(1)]
        body, name = download(client, href)
        assert name == st.file_name
        assert f"Bill for {st.first_day:%B %Y}" in pdf_lines(body)
        assert f"Amount due {as_pdf(cells(tr)[-1])}" in pdf_lines(body)
        assert tr.xpath("./th/a")[0].text_content() == f"{st.first_day:%b %Y}{st.first_day:%b ’%y} bill, PDF"


def test_the_same_statement_gives_the_same_bytes_dated_when_it_was_issued(client, app, clock):
    login(client)
    st = demo_statements(app)[-1]
    first, _ = download(client, f"/dc/bayview/bills/{st.uuid}.pdf")
    clock.freeze(clock.now().replace(hour=23, minute=59, second=1))  # later the same day: the same statements
    again, _ = download(client, f"/dc/bayview/bills/{st.uuid}.pdf")
    assert first == again
    info = pypdf.PdfReader(io.BytesIO(first)).metadata
    assert info.creation_date.timestamp() == st.issued
    assert info.title == "Bayview Power & Light: bill for June 2025"
    older, _ = download(client, f"/dc/bayview/bills/{demo_statements(app)[-2].uuid}.pdf")
    assert older != first


def test_names_beyond_the_core_fonts_are_transliterated_not_a_crash(client, app):
    sb = sb_of(app)
    with sb.db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()
        c.first_name, c.last_name, c.street = "Zoë Łukasz", "Nguyễn 王", "12 Straße — Ωmega Way"
        s.commit()
    login(client)
    st = demo_statements(app)[-1]
    body, _ = download(client, f"/dc/bayview/bills/{st.uuid}.pdf")
    lines = pdf_lines(body)
    assert "Customer Zoë Lukasz Nguyen ?" in lines
    assert any(line.startswith("Service address 12 Straße — ?mega Way, ") for line in lines)


def test_core_font_text():
    assert pdf_text("\u2212$5.00 €3 £2 m³ ’") == "-$5.00 €3 £2 m³ ’"
    assert pdf_text("Đorđe Ştefan Øyvind 王") == "Dorde Stefan Øyvind ?"


def test_paper_follows_the_utilitys_locale(app):
    sb = sb_of(app)
    utility = sb.world.utility("bayview")
    with sb.db.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.number == 0, Customer.utility.has(slug="bayview"))).one()
        st = statements.statements(sb.world, utility, sb.clock, c)[-1]
        letter = pypdf.PdfReader(io.BytesIO(bill_pdf(utility, c, st))).pages[0].mediabox
        a4 = (
            pypdf.PdfReader(io.BytesIO(bill_pdf(dataclasses.replace(utility, locale="en_GB"), c, st))).pages[0].mediabox
        )
    assert (round(letter.width), round(letter.height)) == (612, 792)
    assert (round(a4.width), round(a4.height)) == (595, 842)


def test_a_bill_is_its_customers_only(client, app):
    other = demo_statements(app, number=1)[-1]
    r = client.get(f"/dc/bayview/bills/{other.uuid}.pdf")
    assert r.status_code == 302 and r.headers["Location"].endswith("/dc/bayview/")  # signed out: sign in first
    login(client)
    for uuid in (other.uuid, "not-a-statement", demo_statements(app, "prairie")[-1].uuid):
        r = client.get(f"/dc/bayview/bills/{uuid}.pdf")
        assert r.status_code == 404 and "No such bill on your account" in text(r)
        assert r.mimetype != "application/pdf"
