"""Property-based tests of the ESPI query parameters (ESPI.md 4.4; 11, items 12 and 52-55) on the live API,
with a customer token, on its Batch/Subscription/{id} and on one IntervalBlock collection
(Subscription/{id}/UsagePoint/{up}/MeterReading/{mr}/IntervalBlock).

The property: every combination of published-min/-max, updated-min/-max, max-results, start-index and
depth either pages deterministically (the pages, fetched with max-results or depth = k and start-index =
1, 1+k, 1+2k..., concatenate to the unpaged feed, no entry twice), keeping only IntervalBlocks (and
UsageSummaries) inside the time window and every parent entry, or is refused with 400 naming the
parameter (a JSON body whose error_description names it, and X-Sandbox-Reason).

The oracle for what a time filter keeps is the unfiltered feed (fetched once), filtered here by the
documented rule: IntervalBlocks by their interval and UsageSummaries by their billingPeriod against
published-min/-max, every data entry by atom:updated against updated-min/-max, parents always kept.

A year of hourly data is ~6 MB, so the windows drawn for paging span a few days at most (the unbounded
side of a one-sided window lies beyond the data); paging a whole feed is done once, with large pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
import requests
from espi.checks import ATOM, ESPI, check_feed, check_usage_structure, parse
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from .tokens import customer_token, offered_scopes

pytestmark = pytest.mark.live

SLUG = "bayview"
DAY = 86400
TIME_PARAMS = ("published-min", "published-max", "updated-min", "updated-max")
COUNT_PARAMS = ("max-results", "start-index", "depth")
PAIRS = (("published-min", "published-max"), ("updated-min", "updated-max"))
STRUCTURAL = frozenset({"UsagePoint", "LocalTimeParameters", "MeterReading", "ReadingType"})
WINDOWED = frozenset({"IntervalBlock", "UsageSummary"})
# database=None: nothing written to the tree (no .hypothesis/); each example is a few HTTP requests
SETTINGS = settings(max_examples=40, deadline=None, database=None)


# --- reading feeds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One atom:entry as the tests need it."""

    id: str
    kind: str
    self_href: str
    up_href: str
    window: tuple[int, int] | None  # IntervalBlock interval / UsageSummary billingPeriod, epoch seconds
    updated: int


def _epoch(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp())


def _link(entry, rel: str) -> list[str]:
    return [x.get("href") for x in entry.findall(ATOM + "link") if x.get("rel") == rel]


def items(root: etree._Element) -> list[Item]:
    out = []
    for e in root.findall(ATOM + "entry"):
        content = e.find(ATOM + "content")[0]
        kind = etree.QName(content).localname
        window = None
        period = {"IntervalBlock": "interval", "UsageSummary": "billingPeriod"}.get(kind)
        if period:
            start = int(content.findtext(f"{ESPI}{period}/{ESPI}start"))
            window = (start, start + int(content.findtext(f"{ESPI}{period}/{ESPI}duration")))
        out.append(
            Item(
                e.findtext(ATOM + "id"),
                kind,
                _link(e, "self")[0],
                _link(e, "up")[0],
                window,
                _epoch(e.findtext(ATOM + "updated")),
            )
        )
    return out


class Api:
    """The token's views of the data: its session, its resourceURI, one IntervalBlock collection, and the
    unfiltered batch feed (a plain class: hypothesis prints it in a failing example)."""

    def __init__(self, session: requests.Session, batch: str, collection: str, full: list[Item]):
        self.session, self.batch, self.collection, self.full = session, batch, collection, full
        blocks = [i.window for i in full if i.kind == "IntervalBlock" and i.window]
        self.first = min(w[0] for w in blocks)  # start of the first IntervalBlock
        self.last = max(w[1] for w in blocks)  # end of the last one
        self.boundaries = sorted({t for i in full if i.window for t in i.window})  # blocks' and bills' bounds

    def __repr__(self) -> str:
        return f"Api({self.batch}, {len(self.full)} entries)"

    def blocks_of_collection(self) -> list[Item]:
        return [i for i in self.full if i.kind == "IntervalBlock" and i.up_href == self.collection]


@pytest.fixture(scope="module")
def api(live) -> Api:
    tok = customer_token(live, SLUG, offered_scopes(live, SLUG)[0])
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + tok["access_token"]
    r = s.get(tok["resourceURI"], timeout=60)
    assert r.status_code == 200, r.text[:300]
    full = items(parse(r.content))
    blocks = [i for i in full if i.kind == "IntervalBlock"]
    assert len(blocks) > 300, "a year of daily blocks"
    mr = next(i for i in full if i.kind == "MeterReading")
    collection = mr.self_href + "/IntervalBlock"
    assert collection.startswith(tok["resourceURI"].replace("/Batch/Subscription/", "/Subscription/"))
    return Api(s, tok["resourceURI"], collection, full)


# --- the documented filter (the oracle) -------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    published_min: int | None = None
    published_max: int | None = None
    updated_min: int | None = None
    updated_max: int | None = None

    def keeps(self, i: Item) -> bool:
        if i.kind in STRUCTURAL:
            return True
        start, end = i.window if i.window else (i.updated, i.updated)
        return not (
            (self.published_min is not None and start < self.published_min)
            or (self.published_max is not None and end > self.published_max)
            or (self.updated_min is not None and i.updated < self.updated_min)
            or (self.updated_max is not None and i.updated > self.updated_max)
        )

    def at(self, name: str) -> int | None:
        return getattr(self, name.replace("-", "_"))

    def empty(self) -> bool:
        """A minimum after its maximum: nothing can be inside."""
        return any(
            self.at(lo) is not None and self.at(hi) is not None and self.at(lo) > self.at(hi) for lo, hi in PAIRS
        )


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant_of(text: str) -> int:
    """The instant a well-formed or lenient (offset) value names."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(when.timestamp())


# --- drawing values ---------------------------------------------------------------------------------


@dataclass
class Value:
    text: str
    quality: str  # "valid": must be accepted; "lenient": may be accepted or refused; "malformed": must be refused


def _not_a_datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return True
    return False


def _malformed_time(t: int) -> st.SearchStrategy[str]:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return st.one_of(
        st.sampled_from(
            [
                "yesterday",
                "now",
                "",
                "2026-13-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-03-01T24:61:00Z",
                d.strftime("%Y-%m-%d"),  # a date alone
                d.strftime("%Y-%m-%dT%H:%M:%S"),  # no zone
                d.strftime("%Y-%m-%dT%H:%MZ"),  # no seconds
                d.strftime("%Y-%m-%dT%H:%M:%SZjunk"),
                d.strftime("%d/%m/%YT%H:%M:%SZ"),
                str(t),  # epoch seconds
            ]
        ),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24).filter(_not_a_datetime),
    )


def _lenient_time(t: int) -> st.SearchStrategy[str]:
    """The same instant in another ISO 8601 spelling the reference's regex refuses (ESPI.md 11, item 55:
    'other forms may be rejected')."""
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    minus5 = d.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    return st.sampled_from([d.strftime("%Y-%m-%dT%H:%M:%S+00:00"), minus5.strftime("%Y-%m-%dT%H:%M:%S-05:00")])


MALFORMED_COUNTS = ["ten", "-1", "1.5", "", "1e3", "+5", "0x10", "\u0661", "5 5", "five", "1,000"]
ALL_PARAMS = TIME_PARAMS + COUNT_PARAMS


@dataclass
class Combo:
    params: dict[str, Value]

    def query(self) -> dict[str, str]:
        return {k: v.text for k, v in self.params.items()}

    def named(self, quality: str) -> set[str]:
        return {k for k, v in self.params.items() if v.quality == quality}

    def window(self) -> Window:
        return Window(*(instant_of(self.params[k].text) if k in self.params else None for k in TIME_PARAMS))

    def time_query(self) -> dict[str, str]:
        return {k: v.text for k, v in self.params.items() if k in TIME_PARAMS}


def draw_instant(
    data, api: Api, near: int | None = None, spread: int = 2 * DAY, anchors: list[int] | None = None
) -> int:
    """An instant in or around the data: `near` a time, or at a block or billing boundary (nudged by
    a second or an hour), or anywhere from three days before the data to three days after."""
    if near is not None:
        return near + data.draw(
            st.one_of(
                st.integers(-spread, spread), st.integers(-spread // 3600, spread // 3600).map(lambda h: h * 3600)
            ),
            label="offset",
        )
    anywhere = st.integers(api.first - 3 * DAY, api.last + 3 * DAY)
    at = st.sampled_from(anchors or api.boundaries)
    base = data.draw(st.one_of(at, at, anywhere), label="anchor")
    return base + data.draw(st.sampled_from([0, 0, 0, -1, 1, -3600, 3600]), label="nudge")


def draw_time_value(data, t: int) -> Value:
    """`t` as YYYY-MM-DDThh:mm:ssZ, or now and then in another ISO 8601 spelling of the same instant."""
    if data.draw(st.integers(0, 99), label="spelling") < 6:
        return Value(data.draw(_lenient_time(t), label="lenient time"), "lenient")
    return Value(iso(t), "valid")


def draw_window(data, api: Api, max_width: int = 4 * DAY, anchors: list[int] | None = None) -> dict[str, Value]:
    """Time parameters whose window holds at most `max_width` of data: a pair (published or updated, on
    either side; now and then minimum after maximum), or one side only at an edge of the data; plus,
    now and then, each other time parameter, mostly beyond the window and sometimes cutting into it."""
    shape = data.draw(st.sampled_from(["pair", "pair", "pair", "lower-at-end", "upper-at-start"]), label="shape")
    out: dict[str, int] = {}
    if shape == "pair":
        lo = draw_instant(data, api, anchors=anchors)
        width = data.draw(
            st.one_of(
                st.integers(0, max_width // DAY).map(lambda d: d * DAY), st.integers(0, max_width), st.integers(-DAY, 0)
            ),
            label="width",
        )
        width += data.draw(st.sampled_from([0, 0, -1, 1, -3600, 3600]), label="width nudge")
        hi = lo + width
        out[data.draw(st.sampled_from(["published-min", "updated-min"]), label="lower")] = lo
        out[data.draw(st.sampled_from(["published-max", "updated-max"]), label="upper")] = hi
    elif shape == "lower-at-end":
        lo = draw_instant(data, api, near=api.last - max_width // 2, spread=max_width // 2 + DAY)
        hi = api.last + DAY
        out[data.draw(st.sampled_from(["published-min", "updated-min"]), label="lower")] = lo
    else:
        lo, hi = api.first - DAY, draw_instant(data, api, near=api.first + max_width // 2, spread=max_width // 2 + DAY)
        out[data.draw(st.sampled_from(["published-max", "updated-max"]), label="upper")] = hi
    for name in TIME_PARAMS:
        if name in out or not data.draw(st.booleans(), label=f"with {name}"):
            continue
        beyond = data.draw(st.integers(0, 3 * DAY), label=f"{name} beyond")
        if data.draw(st.integers(0, 5), label=f"{name} cuts") == 0:
            out[name] = draw_instant(data, api, near=(lo + hi) // 2, spread=max(abs(hi - lo), DAY))
        else:
            out[name] = lo - beyond if name.endswith("-min") else hi + beyond
    return {k: draw_time_value(data, t) for k, t in out.items()}


def draw_count(data, name: str) -> Value:
    if name == "start-index":
        if data.draw(st.integers(0, 99), label="start-index 0") < 5:
            return Value("0", "lenient")  # 1-based: 0 may be refused or read as 1
        return Value(str(data.draw(st.integers(1, 30), label=name)), "valid")
    return Value(str(data.draw(st.integers(0, 12), label=name)), "valid")


def draw_malformed(data, api: Api, name: str) -> str:
    if name in TIME_PARAMS:
        return data.draw(_malformed_time(draw_instant(data, api)), label=f"malformed {name}")
    return data.draw(st.sampled_from(MALFORMED_COUNTS), label=f"malformed {name}")


def draw_combo(data, api: Api, malformed_share: int = 25) -> Combo:
    """A window (draw_window), each of max-results, start-index and depth two times in three, and in
    `malformed_share` per cent of combinations one or two parameters malformed."""
    params = draw_window(data, api)
    for name in COUNT_PARAMS:
        if data.draw(st.integers(0, 2), label=f"with {name}"):
            params[name] = draw_count(data, name)
    if data.draw(st.integers(0, 99), label="malformed?") < malformed_share:
        for name in data.draw(
            st.lists(st.sampled_from(ALL_PARAMS), min_size=1, max_size=2, unique=True), label="malformed parameters"
        ):
            params[name] = Value(draw_malformed(data, api, name), "malformed")
    return Combo(params)


# --- asking the server ------------------------------------------------------------------------------


def get(api: Api, url: str, query: dict[str, str]) -> requests.Response:
    return api.session.get(url, params=query, timeout=60)


def feed_items(r: requests.Response, validate: bool = False) -> list[Item]:
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    root = parse(r.content)
    assert root.tag == ATOM + "feed"
    if validate:
        check_usage_structure(check_feed(root, related_resolve=False), root)
    return items(root)


def assert_refused_naming(r: requests.Response, candidates: set[str]) -> None:
    """400, JSON, X-Sandbox-Reason, and an error_description naming one of `candidates`."""
    assert r.status_code == 400, (r.status_code, r.text[:200], candidates)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
    body = r.json()
    assert body["error"] == "invalid_request"
    assert r.headers.get("X-Sandbox-Reason"), "X-Sandbox-Reason header"
    assert any(name in body["error_description"] for name in candidates), (body, candidates)


def page_size(combo: Combo) -> int | None:
    sizes = [int(combo.params[k].text) for k in ("max-results", "depth") if k in combo.params]
    return min(sizes) if sizes else None


def page_through(
    api: Api, url: str, time_query: dict[str, str], k: int, by: tuple[str, ...], expected: int
) -> list[Item]:
    """Every page of size k (asked with each parameter in `by` = k), concatenated; each page full but the last."""
    got: list[Item] = []
    start = 1
    for _ in range(expected // k + 2):
        page = feed_items(get(api, url, {**time_query, **{p: str(k) for p in by}, "start-index": str(start)}))
        assert len(page) <= k, f"a page of {len(page)} entries for {by} = {k}"
        got += page
        if len(page) < k:
            return got
        start += k
    raise AssertionError(f"paging did not end after {expected // k + 2} pages of {k}")


def check_combo(api: Api, url: str, combo: Combo, data, universe: list[Item]) -> None:
    """The property for one combination, on one URL whose unfiltered entries are `universe`."""
    r = get(api, url, combo.query())
    malformed, lenient = combo.named("malformed"), combo.named("lenient")
    if malformed:
        event("refused: malformed")
        assert_refused_naming(r, malformed | lenient)
        return
    window = combo.window()
    if r.status_code == 400:
        # allowed for another ISO 8601 spelling or start-index=0 (item 55: "may be rejected"), and for a
        # minimum after its maximum (naming either); a well-formed combination is otherwise answered
        allowed = set(lenient)
        for lo, hi in PAIRS:
            a, b = window.at(lo), window.at(hi)
            if a is not None and b is not None and a > b:
                allowed |= {lo, hi}
        assert allowed, f"{combo.query()} is well-formed, yet refused: {r.text[:300]}"
        event("refused: lenient or min after max")
        assert_refused_naming(r, allowed)
        return

    answer = feed_items(r)
    unpaged = feed_items(get(api, url, combo.time_query()), validate=url == api.batch)
    ids = [i.id for i in unpaged]
    assert len(ids) == len(set(ids)), "an entry twice in the unpaged feed"
    assert set(ids) <= {i.id for i in universe}, "only entries of the URL's unfiltered feed"

    # the combination itself: the unpaged feed from start-index, at most max-results/depth entries
    first = int(combo.params["start-index"].text) if "start-index" in combo.params else 1
    first = max(first, 1)
    size = page_size(combo)
    wanted = ids[first - 1 :] if size is None else ids[first - 1 : first - 1 + size]
    assert [i.id for i in answer] == wanted, "start-index/max-results/depth select a slice of the unpaged feed"

    blocks = sum(1 for i in unpaged if i.kind == "IntervalBlock")
    event(f"paged: {'no' if not blocks else 'some' if blocks < 6 else 'more'} IntervalBlocks")
    # paging through the unpaged feed with pages of k
    k = size if size else data.draw(st.integers(1, 8), label="page size")
    by = tuple(p for p in ("max-results", "depth") if p in combo.params) or data.draw(
        st.sampled_from([("max-results",), ("depth",), ("max-results", "depth")]), label="page by"
    )
    pages = page_through(api, url, combo.time_query(), k, by, len(ids))
    assert [i.id for i in pages] == ids, f"pages of {k} ({', '.join(by)}) = the unpaged feed"
    assert len({i.id for i in pages}) == len(pages), "no entry on two pages"

    # what the time filter kept: data inside the window, every parent
    for i in unpaged:
        if i.kind in WINDOWED:
            assert window.keeps(i), f"{i.kind} {i.window} (updated {iso(i.updated)}) is outside {window}"
    if url == api.batch:
        parents = {i.id for i in api.full if i.kind in STRUCTURAL}
        assert parents <= set(ids), "UsagePoint, MeterReading, ReadingType and LocalTimeParameters entries are kept"
        position = {i.self_href: n for n, i in enumerate(unpaged)}
        for n, i in enumerate(unpaged):
            if i.kind == "IntervalBlock":
                assert position[i.up_href.rsplit("/", 1)[0]] < n, "the block's MeterReading comes before it"


# --- the properties -----------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_every_combination_on_the_batch_feed_pages_deterministically_or_is_refused(api, data):
    check_combo(api, api.batch, draw_combo(data, api), data, api.full)


@settings(SETTINGS, max_examples=25)
@given(data=st.data())
def test_every_combination_on_an_interval_block_collection_pages_deterministically_or_is_refused(api, data):
    check_combo(api, api.collection, draw_combo(data, api), data, api.blocks_of_collection())


@SETTINGS
@given(data=st.data())
def test_a_malformed_parameter_is_refused_with_400_naming_it(api, data):
    combo = draw_combo(data, api, malformed_share=100)
    malformed = combo.named("malformed")
    url = data.draw(st.sampled_from([api.batch, api.collection]), label="url")
    r = get(api, url, combo.query())
    assert_refused_naming(r, malformed | combo.named("lenient"))
    body = r.json()
    named = {n for n in ALL_PARAMS if n in body["error_description"]}
    assert named & malformed or named & combo.named("lenient"), f"the description names one of {malformed}: {body}"
    assert r.headers["X-Sandbox-Reason"] == body["reason"]


# no shrinking: each example fetches up to 40 days of data, and shrinking one failure took ~50 s; the
# failure message names the query and what is missing
@settings(SETTINGS, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(data=st.data())
def test_a_time_filter_keeps_exactly_the_entries_inside_its_window(api, data):
    """Against the unfiltered feed: no entry inside the window is lost, none outside kept (items 52-53).
    Windows up to 40 days, so that billing periods (UsageSummary) fall inside some of them."""
    bills = [i.updated for i in api.full if i.kind == "UsageSummary"]
    drawn = draw_window(data, api, max_width=40 * DAY, anchors=bills)
    combo = Combo({k: Value(iso(instant_of(v.text)), "valid") for k, v in drawn.items()})
    window = combo.window()
    r = get(api, api.batch, combo.query())
    if window.empty() and r.status_code == 400:
        return
    got = [i.id for i in feed_items(r)]
    expected = [i.id for i in api.full if window.keeps(i)]
    missing = [i for i in api.full if window.keeps(i) and i.id not in set(got)]
    extra = set(got) - set(expected)
    assert not missing and not extra, (
        f"{combo.query()}: missing {[(i.kind, i.window, iso(i.updated)) for i in missing][:4]} "
        f"({len(missing)}), {len(extra)} kept outside the window"
    )
    assert got == expected, "in the unfiltered feed's order"


def test_a_bill_is_kept_by_an_updated_window_that_holds_its_updated_time(api):
    """A deterministic case of the property above: each UsageSummary is updated at the end of its billing
    period; updated-min an hour before that (and updated-max a day after) must keep it."""
    bill = next(i for i in api.full if i.kind == "UsageSummary" and i.window[0] > api.first + 60 * DAY)
    query = {"updated-min": iso(bill.updated - 3600), "updated-max": iso(bill.updated + DAY)}
    got = feed_items(get(api, api.batch, query))
    summaries = [i.id for i in got if i.kind == "UsageSummary"]
    expected = [i.id for i in api.full if i.kind == "UsageSummary" and i.updated == bill.updated]
    assert summaries == expected, f"{query}: the bills updated at {iso(bill.updated)} are kept (got {summaries})"


def test_the_whole_collection_pages_to_the_unpaged_collection(api):
    """No time filter: 13 months of daily blocks, in pages of 128, are the unpaged collection."""
    unpaged = feed_items(get(api, api.collection, {}))
    assert [i.id for i in unpaged] == [i.id for i in api.blocks_of_collection()]
    pages = page_through(api, api.collection, {}, 128, ("max-results",), len(unpaged))
    assert [i.id for i in pages] == [i.id for i in unpaged]
