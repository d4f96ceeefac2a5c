"""The demo third-party app's own parts: its reader against what the sandbox writes, its reading
of every refusal the resource server gives, the scope it asks for, and its independence (it talks
to the utilities over HTTP only, never through the sandbox's modules)."""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import socket
import subprocess
import sys

import pytest
import requests
from conftest import ROOT
from sqlalchemy import select

from sandbox.core.models import Customer
from sandbox.demo import analysis, espi
from sandbox.demo.app import create_demo_app
from sandbox.demo.client import CHOICES, Connection, Refused, Unreachable, Utilities, refusal, scope_for
from sandbox.espi.scopes import allowed_by, function_blocks
from sandbox.services import readings
from sandbox.services.dmd import usage_document
from sandbox.services.world import offered_scopes

DEMO = ROOT / "sandbox" / "demo"
ALLOWED = ("sandbox.demo", "sandbox.version", "sandbox.core.config")  # its own code, the version, where templates are
ALSO_LOADED = ("sandbox.core.errors",)  # what core.config raises: a module that imports nothing of the package


def test_the_demo_app_imports_none_of_the_sandbox_but_its_version_and_templates():
    for path in DEMO.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                if name == "sandbox" or name.startswith("sandbox."):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
    # and at run time: building the app loads no other module of the sandbox
    code = (
        "import sys; from sandbox.demo.app import create_demo_app; create_demo_app('http://127.0.0.1:9'); "
        "print(sorted(m for m in sys.modules if m.startswith('sandbox')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    loaded = json.loads(out.stdout.replace("'", '"'))
    assert all(m == "sandbox" or m.startswith(ALLOWED + ALSO_LOADED) or m == "sandbox.core" for m in loaded), loaded


def test_the_reader_gets_every_reading_the_sandbox_wrote(app):
    sb = app.extensions["sandbox"]
    world = sb.require_world()
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        utility = world.utility("bayview")
        start, end = dt.date(2025, 5, 1), dt.date(2025, 7, 1)
        expected = {}
        electric_labels = {up.label for up in demo.usage_points if up.commodity == "electricity"}
        for up in demo.usage_points:
            for stream in readings.streams(world, utility, up):
                series = readings.series(world, utility, up, stream.key, start, end)
                expected[(up.label, stream.flow)] = (
                    int(series.values.sum()),
                    int(series.costs.sum()) if series.costs is not None else 0,
                    len(series),
                )
        data = b"".join(usage_document(sb, demo.id, None, start, end, True, "http://sandbox.test", net=True))
    assert {flow for _, flow in expected} == {"delivered", "received", "net"}  # the demo home has solar
    usage = espi.parse_usage(data)
    flows = {espi.FORWARD: "delivered", espi.REVERSE: "received", espi.NET: "net"}
    got = {
        (s.usage_point, flows[s.flow]): (
            sum(r.value for r in s.readings.values()),
            sum(r.cost or 0 for r in s.readings.values()),
            len(s.readings),
        )
        for s in usage.streams
    }
    assert got == expected
    assert len(usage.bills) == 2 * len(demo.usage_points)  # May and June, one bill per service
    a = analysis.analyse(usage, utility.time_zone)
    assert [m for m, _, _ in a.months] == ["2025-05", "2025-06"]
    assert a.first == start and a.last == end - dt.timedelta(days=1)
    # the net series is a total of its own, never added to what was delivered or exported
    totals = {t.label: t.quantity for t in a.totals}
    electric = {
        flow: sum(v[0] for (label, f), v in expected.items() if f == flow and label in electric_labels) / 1000
        for flow in ("delivered", "received")
    }
    assert totals["electricity"] == pytest.approx(electric["delivered"])
    assert totals["electricity net"] == pytest.approx(electric["delivered"] - electric["received"])


def test_a_file_that_is_not_green_button_is_refused_plainly():
    for data, words in (
        (b"<html/>", "not an Atom feed"),
        (b"not xml", "not XML"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "no usage points"),
        (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "not an Atom feed"),
    ):
        with pytest.raises(espi.NotGreenButton, match=words):
            espi.parse_usage(data)


def _answer(status: int, headers: dict | None = None, body: dict | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = json.dumps(body or {}).encode()
    return r


def _bearer(reason: str | None, description: str, status: int = 401) -> requests.Response:
    headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'}
    if reason:
        headers["X-Sandbox-Reason"] = reason
    return _answer(status, headers)


@pytest.mark.parametrize(
    "reason, description, words",
    [
        (
            "authorization_revoked_by_customer",
            "the authorization was revoked by the customer at 2025-07-15",
            "You revoked",
        ),
        (None, "the authorization was revoked by the customer at 2025-07-15", "You revoked"),
        ("authorization_expired", "the authorization expired at 2027-07-15T00:00:00Z", "has expired"),
        (None, "the customer moved out; the authorization ended at 2025-07-20", "when you moved out"),
        ("third_party_blocked", "the utility has blocked Demo Energy App", "has blocked this app"),
        ("some_new_reason", "something the app has not seen", "something the app has not seen"),
    ],
)
def test_a_401_ends_access_and_says_why(reason, description, words):
    r = refusal(_bearer(reason, description), "Bayview Power & Light")
    assert r.ended and r.status == 401 and words in r.message and "Bayview Power & Light" in r.message


def test_a_403_404_400_and_5xx_are_told_apart():
    scope = refusal(_bearer("insufficient_scope", "this token's scope does not cover UsageSummary", 403), "Bayview")
    assert not scope.ended and "does not let this app read that" in scope.message and "UsageSummary" in scope.message
    held = refusal(_bearer("third_party_on_hold", "on hold", 403), "Bayview")
    assert held.ended and "on hold" in held.message
    gone = refusal(_answer(404), "Bayview")
    assert gone.status == 404 and not gone.ended and "no such data" in gone.message
    bad = refusal(
        _answer(
            400, body={"error": "invalid_request", "error_description": "query parameter published-min: not a date"}
        ),
        "Bayview",
    )
    assert bad.code == "invalid_request" and "published-min" in bad.message and not bad.ended
    down = refusal(_answer(503), "Bayview")
    assert down.status == 503 and "try again later" in down.message


class _Answers:
    """An HTTP session that answers each GET with the next of `answers`, and counts them."""

    def __init__(self, *answers: requests.Response):
        self.answers, self.gets = list(answers), 0

    def get(self, *args, **kwargs) -> requests.Response:
        self.gets += 1
        return self.answers.pop(0)


def _connection() -> Connection:
    return Connection("bayview", "Bayview", "America/Los_Angeles", "http://x/token", {"access_token": "t"}, "FB=1")


def test_a_429_or_5xx_is_tried_again_after_retry_after_or_a_doubling_back_off(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sandbox.demo.client.time.sleep", waits.append)
    ok = _answer(200)
    ok._content = b"<feed/>"
    http = _Answers(_answer(429, {"Retry-After": "3"}), _answer(503), _answer(503, {"Retry-After": "1"}), ok)
    assert Utilities("http://x", "id", "secret", http).get(_connection(), "http://x/feed") == b"<feed/>"
    assert waits == [3.0, 2.0, 4.0]  # Retry-After when it says more than the back-off (1, 2, 4 s)


def test_the_retries_are_bounded_and_the_last_answer_is_said(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sandbox.demo.client.time.sleep", waits.append)
    http = _Answers(*(_answer(503, {"Retry-After": "2"}) for _ in range(10)))
    with pytest.raises(Refused) as refused:
        Utilities("http://x", "id", "secret", http).get(_connection(), "http://x/feed")
    assert http.gets == 4 and len(waits) == 3 and refused.value.status == 503


@pytest.mark.parametrize("slug", ["bayview", "lakeshore", "prairie", "trillium"])
def test_the_scope_asked_for_is_one_the_utilities_accept(world, slug):
    u = world.utility(slug)
    offered = offered_scopes(u)
    grammar = "strict" if u.profile.behaviour.scope_grammar == "lenient" else u.profile.behaviour.scope_grammar
    everything = scope_for(offered, set(CHOICES), customer_data=True)
    assert allowed_by(offered, everything, grammar, u.profile.function_blocks)
    assert function_blocks(everything) == function_blocks(offered[1])
    lean = scope_for(offered, set(), customer_data=False)
    allowed_by(offered, lean, grammar, u.profile.function_blocks)
    left_out = {n for _, (_, fbs) in CHOICES.items() for n in fbs}
    assert not function_blocks(lean) & left_out and 46 not in function_blocks(lean)
    assert lean.split(";")[1:] == offered[0].split(";")[1:]  # the other terms as offered


@pytest.mark.parametrize(
    "zone, standard, start, end",
    [
        ("America/Los_Angeles", -28800, 0x360E2000, 0xB40E2000),  # 2nd Sunday of March, 1st Sunday of November
        ("America/New_York", -18000, 0x360E2000, 0xB40E2000),
        ("Europe/Berlin", 3600, 0x3E0E2000, 0xAE0E3000),  # last Sunday of March 02:00, of October 03:00 (summer time)
    ],
)
def test_local_time_parameters_give_the_zones_wall_clock(zone, standard, start, end):
    from zoneinfo import ZoneInfo

    lt = espi.LocalTime(standard, 3600, start, end)
    tz = ZoneInfo(zone)
    t0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    for t in range(t0, t0 + 3 * 366 * 86400, 1800):  # every half hour of three years, transitions included
        assert lt.local(t) == dt.datetime.fromtimestamp(t, tz).replace(tzinfo=None), (zone, t)


def _demo_file(app, first: dt.date, end: dt.date) -> bytes:
    """bayview's demo customer's Download My Data file (every usage point, costs) for first <= day < end."""
    sb = app.extensions["sandbox"]
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        return b"".join(usage_document(sb, demo.id, None, first, end, True, "http://sandbox.test"))


def test_an_uploaded_file_is_read_in_its_own_local_time(app):
    """Without the utility's zone (a file from anywhere), the file's LocalTimeParameters place the days."""
    data = _demo_file(app, dt.date(2024, 10, 1), dt.date(2024, 12, 1))  # across the November change of clocks
    a = analysis.analyse(espi.parse_usage(data))
    assert (a.first, a.last) == (dt.date(2024, 10, 1), dt.date(2024, 11, 30))
    assert [m for m, _, _ in a.months] == ["2024-10", "2024-11"]


@pytest.mark.parametrize(
    "hostile, words",
    [
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content><!-- x --></content></entry></feed>',
            "no usage points",
        ),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"><entry>'
            b'<link rel="self" href="/R/UsagePoint/1/MeterReading/1/ReadingType/1"/>'
            b"<content><espi:ReadingType><espi:powerOfTenMultiplier>400</espi:powerOfTenMultiplier></espi:ReadingType>"
            b'</content></entry><entry><link rel="self" href="/R/UsagePoint/1/MeterReading/1"/>'
            b'<link rel="related" href="/R/UsagePoint/1/MeterReading/1/ReadingType/1"/>'
            b"<content><espi:MeterReading/></content></entry></feed>",
            "powerOfTenMultiplier 400",
        ),
    ],
)
def test_hostile_files_are_refused_not_crashed_on(hostile, words):
    with pytest.raises(espi.NotGreenButton, match=words):
        espi.parse_usage(hostile)


def test_a_dst_rule_naming_no_day_means_no_daylight_saving():
    lt = espi.LocalTime(-18000, 3600, 0x060E2000, 0xB40E2000)  # month 0
    assert lt.local(0) == dt.datetime(1969, 12, 31, 19)


def test_a_utility_that_does_not_answer_is_said_so_in_words_never_a_500():
    """The HTTP client's errors reach the app as Unreachable (the client is imported at the first
    call, not when the app is built): the directory, a connection and the error page say so."""
    with socket.socket() as held:  # bound and never listening: every connection to it is refused
        held.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{held.getsockname()[1]}"
        with pytest.raises(Unreachable) as raised:
            Utilities(down, "demo-third-party", "demo-secret").directory()
        assert isinstance(raised.value.__cause__, requests.ConnectionError) and str(raised.value)
        client = create_demo_app(down).test_client()
        home = client.get("/")
        assert home.status_code == 502 and b"The utility directory did not answer" in home.data
        connect = client.get("/connect/bayview")  # the directory asked outside any try: the app's handler
        assert connect.status_code == 502 and b"The utility did not answer" in connect.data


def test_the_bills_chart_matches_the_portals_bills_to_the_cent(app):
    """Month by month, what the demo app shows as bills (read from the file's UsageSummary entries) is
    what the portal's Bills table says the customer pays: fixed charges and solar credits included."""
    from collections import defaultdict
    from decimal import ROUND_HALF_UP, Decimal

    from sandbox.services import readings

    sb = app.extensions["sandbox"]
    world = sb.require_world()
    utility = world.utility("bayview")
    data = _demo_file(app, dt.date(2024, 7, 1), dt.date(2025, 7, 1))
    with sb.db.sessions() as s:
        demo = s.scalars(
            select(Customer).where(Customer.username == "demo", Customer.utility.has(slug="bayview"))
        ).one()
        portal: dict[str, int] = defaultdict(int)
        for up in demo.usage_points:
            for b in readings.bills(world, utility, up, dt.date(2024, 7, 1), dt.date(2025, 7, 1)):
                portal[b.first_day.strftime("%Y-%m")] += b.energy_charges + b.credits + b.fixed_charge
    cents = lambda x: Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # noqa: E731
    shown = analysis.analyse(espi.parse_usage(data), utility.time_zone).month_bills
    assert len(shown) == 12 and any(v < 0 for _, v in shown)  # summer months are credits (solar)
    assert [(m, cents(str(v))) for m, v in shown] == [(m, cents(Decimal(portal[m]) / 100000)) for m in sorted(portal)]
    energy_only = analysis.analyse(espi.parse_usage(data), utility.time_zone).month_costs
    assert sum(v for _, v in energy_only) != sum(v for _, v in shown)  # the interval costs alone differ


@pytest.mark.parametrize(
    ("low", "high"), [(0, 25), (0, 0.8), (-89.8, 130.2), (0, 12345), (-3, 0), (0, 1), (7, 7.5), (0, 0)]
)
def test_a_chart_axis_has_round_ticks_around_its_values(low, high):
    from sandbox.demo import charts

    bottom, top, step = charts.scale(low, high)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5)
    assert bottom <= min(low, 0) and top >= max(high, 0) and round((top - bottom) / step) <= charts.MAX_TICKS
    assert abs(bottom / step - round(bottom / step)) < 1e-9  # every tick a multiple of the step
