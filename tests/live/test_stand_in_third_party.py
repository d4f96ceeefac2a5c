"""A stand-in third party written the way a real one is, against the live sandbox: Authlib's OAuth2Session
(client_secret_basic, PKCE S256, state checked on the callback) for the authorization-code and refresh grants
(ESPI.md 5.2-5.3), the customer signing in and consenting through the portal's own forms, and the data read
with greenbutton-objects, a Green Button parser the sandbox does not ship.

What the third party gets must be what the customer sees: the energy and cost totals of its feed, for the
days the portal's home page totals, equal the page's totals and the portal's CSV download of the same days,
exactly, in explicit units (Wh and kWh, therms, 1e-5 USD and USD). Then: a refreshed token reads the same
bytes; gzip is the same bytes compressed; CORS headers and a token-less preflight (ESPI.md 4.5).

The utility is lakeshore, which requires PKCE. Its water service is not shared: greenbutton-objects 2024.7.11
does not know MeasurementKind 58 (volume, ESPI.md 8.7) and cannot parse a water ReadingType; nor is FB 7
asked for: it does not know flowDirection 4 (net) either.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from greenbutton_objects import parse as gb_parse
from greenbutton_objects.enums import FlowDirectionType
from lxml import html

from .tokens import CALLBACK, DEMO, csrf, signed_in

pytestmark = pytest.mark.live

SLUG = "lakeshore"
TZ = ZoneInfo("America/New_York")  # lakeshore's time zone (seed_data/utilities/lakeshore.toml)
CURRENCY = "USD"
# the file's unit (ReadingType uom) -> the unit the portal and the CSV write, and the power of ten between them
PORTAL_UNITS = {"wattHours": ("kWh", 3), "therms": ("therms", 0)}
FLOWS = {FlowDirectionType.forward: "delivered", FlowDirectionType.reverse: "received"}


@dataclass
class Authorized:
    base: str
    meta: dict  # the authorization server's metadata (RFC 8414)
    tp: OAuth2Session  # the third party's session, holding the token
    customer: requests.Session  # the customer's browser, signed in to the portal
    shared: dict[str, str]  # usage point id (portal form value) -> its commodity
    feed: bytes  # the token's resourceURI, read right after authorization


def _consent(customer: requests.Session, url: str) -> tuple[requests.Response, dict[str, str]]:
    """Answer the consent page at `url`: Allow, for every service but water."""
    page = customer.get(url, timeout=30)
    assert page.status_code == 200, page.text[:300]
    services = dict(
        re.findall(r'name="usage_point" value="(\d+)"[^>]*>\s*<span><span class="commodity (\w+)">', page.text)
    )
    assert sorted(services.values()) == ["electricity", "gas", "water"], services
    shared = {k: v for k, v in services.items() if v != "water"}
    r = customer.post(
        url,
        data={"csrf_token": csrf(page.text), "decision": "accept", "usage_point": list(shared)},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text[:300]
    return r, shared


def scope_asked(meta: dict) -> str:
    """The utility's usage scope without FB 7: greenbutton-objects 2024.7.11 knows no flowDirection 4 (the
    net series FB 7 grants) and refuses a feed that holds one; FB 8 (delivered and received) it reads."""
    fb, rest = meta["scopes_supported"][0].split(";", 1)
    assert "_7_" in fb, fb
    return fb.replace("_7_", "_", 1) + ";" + rest


def _session(meta: dict) -> OAuth2Session:
    return OAuth2Session(
        *DEMO,
        scope=scope_asked(meta),
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


@pytest.fixture(scope="module")
def authorized(live) -> Authorized:
    meta = requests.get(f"{live}/dc/{SLUG}/.well-known/oauth-authorization-server", timeout=30).json()
    assert meta["pkce_required"] is True and "S256" in meta["code_challenge_methods_supported"]
    tp = _session(meta)
    verifier = generate_token(64)
    url, state = tp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    customer = signed_in(live, SLUG)
    answer, shared = _consent(customer, url)
    callback = answer.headers["Location"]
    assert callback.startswith(CALLBACK + "?"), callback
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    # Authlib checks the state again and sends the code with the verifier, authenticating with HTTP Basic
    tp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    r = tp.get(tp.token["resourceURI"], timeout=60)
    assert r.status_code == 200, r.text[:300]
    return Authorized(live, meta, tp, customer, shared, r.content)


# --- what the portal shows ------------------------------------------------------------------------


@dataclass
class Shown:
    """One total of the home page: a stream of a usage point over the page's period."""

    value: int  # data-value: the stream's stored integer units
    cost: int  # data-cost: 1e-5 USD (credits negative)
    quantity: Decimal  # the text, in `unit`
    unit: str
    money: str  # the text, e.g. "$66.72" or "−$7.97 credit"


def portal_totals(customer: requests.Session, base: str) -> tuple[dt.date, dt.date, dict[tuple[str, str], Shown]]:
    """(first day, end day exclusive, {(usage point label, flow): Shown}) from the home page."""
    doc = html.fromstring(customer.get(f"{base}/dc/{SLUG}/", timeout=30).text)
    periods, shown = set(), {}
    for section in doc.xpath("//section[contains(concat(' ', @class, ' '), ' usage-point ')]"):
        label = section.xpath("./h2/span[contains(@class, 'commodity')]")[0].tail.strip()
        (totals,) = section.xpath(".//div[@class='totals']")
        periods.add((totals.get("data-period-start"), totals.get("data-period-end")))
        for p in totals.xpath("./p[@class='total']"):
            flow = "received" if p.xpath("string(.//span[@class='label'])") == "Exported" else "delivered"
            number, unit = p.xpath("string(.//strong[@class='quantity'])").split(" ", 1)
            shown[(label, flow)] = Shown(
                int(p.get("data-value")),
                int(p.get("data-cost")),
                Decimal(number.replace(",", "")),
                unit,
                " ".join(p.xpath("string(.//span[@class='cost'])").split()),
            )
    (period,) = periods  # one period for every service
    return dt.date.fromisoformat(period[0]), dt.date.fromisoformat(period[1]), shown


def csv_totals(
    customer: requests.Session, base: str, ids: list[str], first: dt.date, end: dt.date
) -> dict[tuple[str, str], tuple[Decimal, str, Decimal, str, int]]:
    """{(usage point label, flow): (quantity, unit, cost, currency, readings)} of the portal's CSV download
    of local days first <= day < end (the form's end day is inclusive)."""
    form = customer.get(f"{base}/dc/{SLUG}/download", timeout=30).text
    r = customer.post(
        f"{base}/dc/{SLUG}/download",
        data={
            "csrf_token": csrf(form),
            "usage_point": ids,
            "period": "custom",
            "start": first.isoformat(),
            "end": (end - dt.timedelta(days=1)).isoformat(),
            "cost": "1",
            "format": "csv",
        },
        timeout=60,
    )
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text[:300]
    sums: dict[tuple[str, str], list] = {}
    for row in csv.DictReader(io.StringIO(r.content.decode("utf-8"))):
        key = (row["usage_point"], row["flow"])
        s = sums.setdefault(key, [Decimal(0), row["unit"], Decimal(0), row["currency"], 0])
        assert (s[1], s[3]) == (row["unit"], row["currency"]), "one unit and one currency per stream"
        s[0] += Decimal(row["quantity"])
        s[2] += Decimal(row["cost"])
        s[4] += 1
    return {k: tuple(v) for k, v in sums.items()}


# --- what the third party computes from its feed --------------------------------------------------------


@dataclass
class Summed:
    raw: int  # sum of IntervalReading values as written
    multiplier: int  # the ReadingType powerOfTenMultiplier
    uom: str  # the ReadingType uom (greenbutton-objects' name)
    cost: int  # sum of costs, 1e-5 of `currency`
    currency: str
    readings: int

    @property
    def quantity(self) -> Decimal:
        """The sum in the ReadingType's unit: raw x 10^powerOfTenMultiplier."""
        return Decimal(self.raw).scaleb(self.multiplier)


def feed_totals(feed: bytes, first: dt.date, end: dt.date) -> dict[tuple[str, str], Summed]:
    """{(usage point title, flow): Summed} over readings starting within local days first <= day < end."""
    lo = dt.datetime.combine(first, dt.time(), TZ)
    hi = dt.datetime.combine(end, dt.time(), TZ)
    out = {}
    for up in gb_parse.parse_feed(io.BytesIO(feed)):
        for mr in up.meterReadings:
            rt = mr.readingType
            irs = [ir for ir in mr.intervalReadings if lo <= ir.timePeriod.start < hi]
            assert all(ir.cost is not None for ir in irs), "every reading priced (the scope grants cost)"
            key = (up.title, FLOWS[rt.flowDirection])
            assert key not in out, f"one MeterReading per flow: {key}"
            out[key] = Summed(
                sum(ir._value for ir in irs),
                rt.powerOfTenMultiplier,
                rt.uom.name,
                sum(round(ir.cost * 100000) for ir in irs),
                rt.currency.name.upper(),
                len(irs),
            )
    return out


def money_text(cost: int, flow: str) -> str:
    """How the portal writes 1e-5 USD: rounded half up to cents, a minus sign for credits."""
    amount = (Decimal(cost) / 100000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = ("\u2212" if amount < 0 else "") + f"${abs(amount):,.2f}"
    return text + (" credit" if flow == "received" else "")


# --- the tests -----------------------------------------------------------------------------------------


def test_the_token_response_names_the_subscription_and_the_authorization(authorized):
    t, meta = authorized.tp.token, authorized.meta
    assert t["token_type"].lower() == "bearer" and t["access_token"] and t["refresh_token"]
    assert t["scope"] == scope_asked(meta)
    assert re.fullmatch(
        re.escape(meta["espi_resource_endpoint"]) + r"/Batch/Subscription/[0-9a-f-]{36}", t["resourceURI"]
    ), t["resourceURI"]
    assert re.fullmatch(
        re.escape(meta["espi_resource_endpoint"]) + r"/Authorization/[0-9a-f-]{36}", t["authorizationURI"]
    ), t["authorizationURI"]


def test_the_code_is_not_redeemed_without_its_pkce_verifier(authorized):
    tp = _session(authorized.meta)
    url, _ = tp.create_authorization_url(authorized.meta["authorization_endpoint"], code_verifier=generate_token(64))
    answer, _ = _consent(authorized.customer, url)
    with pytest.raises(OAuthError) as refused:
        tp.fetch_token(
            authorized.meta["token_endpoint"],
            authorization_response=answer.headers["Location"],
            code_verifier=generate_token(64),
        )
    assert refused.value.error == "invalid_grant"


def test_the_feed_totals_equal_the_portal_totals_for_the_same_days(authorized):
    first, end, shown = portal_totals(authorized.customer, authorized.base)
    assert (end - first).days == 30
    from_csv = csv_totals(authorized.customer, authorized.base, list(authorized.shared), first, end)
    summed = feed_totals(authorized.feed, first, end)
    # the services shared: electricity delivered and received (solar), gas; water was not shared
    assert set(summed) == {k for k in shown if not k[0].lower().startswith("water")} == set(from_csv), (
        sorted(summed),
        sorted(shown),
        sorted(from_csv),
    )
    for key, s in summed.items():
        page, (csv_qty, csv_unit, csv_cost, csv_currency, csv_rows) = shown[key], from_csv[key]
        unit, power = PORTAL_UNITS[s.uom]
        # energy: the file's unit (Wh, therm) is the portal's (kWh, therms) times 10^power
        assert page.unit == csv_unit == unit, (key, page.unit, csv_unit)
        assert s.quantity == page.quantity.scaleb(power), f"{key}: {s.quantity} {s.uom} vs {page.quantity} {unit}"
        assert s.quantity == csv_qty.scaleb(power), f"{key}: {s.quantity} {s.uom} vs CSV {csv_qty} {unit}"
        assert s.quantity == Decimal(page.value).scaleb(s.multiplier), f"{key}: data-value {page.value}"
        # cost: the file's 1e-5 USD, the page's data-cost (1e-5 USD) and its text (USD, to the cent), the CSV's USD
        assert s.currency == csv_currency == CURRENCY
        assert s.cost == page.cost, f"{key}: {s.cost} vs data-cost {page.cost} (1e-5 {CURRENCY})"
        assert Decimal(s.cost).scaleb(-5) == csv_cost, f"{key}: {s.cost} x 1e-5 vs CSV {csv_cost} {CURRENCY}"
        assert page.money == money_text(s.cost, key[1]), (key, page.money)
        assert s.readings == csv_rows, f"{key}: {s.readings} readings in the file, {csv_rows} CSV rows"
    assert any(s.cost < 0 for s in summed.values()), "the solar export is credited"


def test_a_refreshed_token_reads_the_same_data(authorized):
    tp, before = authorized.tp, dict(authorized.tp.token)
    after = tp.refresh_token(authorized.meta["token_endpoint"])
    assert after["access_token"] != before["access_token"]
    assert (after["resourceURI"], after["authorizationURI"]) == (before["resourceURI"], before["authorizationURI"])
    r = tp.get(after["resourceURI"], timeout=60)
    assert r.status_code == 200 and r.content == authorized.feed
    old = requests.get(
        before["resourceURI"],
        headers={"Authorization": "Bearer " + before["access_token"]},
        params={"max-results": "1"},
        timeout=30,
    )
    assert old.status_code == 401, "the replaced access token stops working (ESPI.md 11, item 21)"


def test_gzip_is_the_same_bytes_compressed(authorized):
    tp, uri = authorized.tp, authorized.tp.token["resourceURI"]
    plain = tp.get(uri, headers={"Accept-Encoding": "identity"}, timeout=60)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    zipped = tp.get(uri, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=60)
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers.get("Vary", "")
    raw = zipped.raw.read(decode_content=False)
    assert raw[:2] == b"\x1f\x8b" and len(raw) < len(plain.content) // 4
    assert gzip.decompress(raw) == plain.content == authorized.feed


def test_cors_headers_and_a_preflight_without_a_token(authorized):
    uri, origin = authorized.tp.token["resourceURI"], "https://energy-app.example"
    r = authorized.tp.get(uri, headers={"Origin": origin}, params={"max-results": "1"}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] in (origin, "*")
    pre = requests.options(
        uri,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
        timeout=30,
    )
    assert pre.status_code == 204, pre.text[:300]
    assert pre.headers["Access-Control-Allow-Origin"] in (origin, "*")
    methods = {m.strip() for m in pre.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "OPTIONS"} <= methods, methods
    headers = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert "authorization" in headers, headers
    assert pre.content == b"", "a preflight carries no data"
