"""Whole usage documents kept between calls (feeds.documents.usage_feed, Sandbox.documents): a polled
Batch/Subscription is answered from the kept bytes, which are the bytes written anew, and everything
that could change them (the clock, a customer's data quality, an import, the query, the scope) gives
the new document at once; a token that may no longer call gets no kept bytes."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from conftest import ADMIN_KEY
from espi.checks import ESPI, check_feed, parse
from sqlalchemy import select
from web.helpers import demo_consent, sb_of

from sandbox.core.models import Customer
from sandbox.espi.atom import FeedWriter, RenderedRuns
from sandbox.services import dmd

H = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCOPE = "FB=1_3_4_5_12_13_14_16_32_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=3888000"  # 45 days
R = "/dc/bayview/espi/1_1/resource"


def authorize(client, scope: str = SCOPE) -> dict:
    return demo_consent(client, ADMIN_KEY, scope)


def get(client, path: str, token: str, **headers) -> bytes:
    r = client.get(path, headers={"Authorization": "Bearer " + token, **headers})
    assert r.status_code == 200, r.data[:300]
    return r.data


def batch(t: dict) -> str:
    return t["resourceURI"].split("localhost", 1)[1]


def written_anew(app, client, path: str, token: str) -> bytes:
    """The document as the server writes it with nothing kept (neither documents nor block text)."""
    sb = sb_of(app)
    kept = sb.documents, sb.rendered
    sb.documents, sb.rendered = RenderedRuns(0), RenderedRuns(0)
    try:
        return get(client, path, token)
    finally:
        sb.documents, sb.rendered = kept


@pytest.fixture
def writes(monkeypatch) -> list[str]:
    """The titles of the feeds the writer writes (a document answered from what was kept writes none)."""
    seen: list[str] = []
    real = FeedWriter.feed

    def feed(self, feed_id, title, *rest):
        seen.append(title)
        return real(self, feed_id, title, *rest)

    monkeypatch.setattr(FeedWriter, "feed", feed)
    return seen


def test_a_polled_subscription_is_answered_from_the_kept_document_with_the_bytes_written_anew(app, client, writes):
    t = authorize(client)
    first = get(client, batch(t), t["access_token"])
    check_feed(parse(first))
    assert writes == ["Green Button Connect My Data"] and sb_of(app).documents.size >= len(first)
    assert get(client, batch(t), t["access_token"]) == first and len(writes) == 1  # nothing written
    assert written_anew(app, client, batch(t), t["access_token"]) == first
    zipped = client.get(batch(t), headers={"Authorization": "Bearer " + t["access_token"], "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == first


def test_the_query_the_path_and_the_scope_each_have_their_own_document(app, client):
    t = authorize(client)
    whole = get(client, batch(t), t["access_token"])
    week = batch(t) + "?published-min=2025-07-01T00:00:00Z&published-max=2025-07-08T00:00:00Z"
    part = get(client, week, t["access_token"])
    assert part != whole and part == written_anew(app, client, week, t["access_token"])
    up = parse(whole).find(f".//{ESPI}UsagePoint/../..").findtext("{http://www.w3.org/2005/Atom}id")[9:]
    one = batch(t) + "/UsagePoint/" + up
    alone = get(client, one, t["access_token"])
    assert alone != whole and alone == written_anew(app, client, one, t["access_token"])
    cheaper = authorize(client, SCOPE.replace("_12_", "_").replace("_16_", "_"))  # no cost
    bare = get(client, batch(cheaper), cheaper["access_token"])
    assert b"<espi:cost>" in whole and b"<espi:cost>" not in bare
    assert bare == written_anew(app, client, batch(cheaper), cheaper["access_token"])
    assert get(client, batch(t), t["access_token"]) == whole


def test_a_clock_moved_to_another_day_is_a_new_document_at_once(app, client, clock):
    t = authorize(client)
    before = get(client, batch(t), t["access_token"])
    clock.advance(dt.timedelta(minutes=5))  # the same days: the same document
    assert get(client, batch(t), t["access_token"]) == before == written_anew(app, client, batch(t), t["access_token"])
    clock.advance(dt.timedelta(days=1))  # a day more published, a day fewer within HistoryLength
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": t["refresh_token"]},
        auth=("demo-third-party", "demo-secret"),
    )
    assert r.status_code == 200, r.data[:300]
    token = r.get_json()["access_token"]  # the first one expired meanwhile
    after = get(client, batch(t), token)
    assert after != before and after == written_anew(app, client, batch(t), token)
    starts = [int(x.text) for x in parse(after).iter(ESPI + "start")]
    assert max(starts) > max(int(x.text) for x in parse(before).iter(ESPI + "start"))


def test_a_data_quality_change_is_a_new_document_at_once(app, client):
    t = authorize(client)
    before = get(client, batch(t), t["access_token"])
    knobs = "/sandbox-api/utilities/bayview/customers/demo/data-quality"
    assert client.put(knobs, headers=H, json={"missing_share": 0.2}).status_code == 200
    harsh = get(client, batch(t), t["access_token"])
    assert harsh != before and harsh == written_anew(app, client, batch(t), t["access_token"])
    assert harsh.count(b"<espi:IntervalReading>") < 0.9 * before.count(b"<espi:IntervalReading>")
    assert client.put(knobs, headers=H, json={}).status_code == 200
    assert get(client, batch(t), t["access_token"]) == before


@pytest.mark.parametrize("end", ["revoke", "expire"])
def test_a_token_that_may_no_longer_call_gets_no_kept_bytes(app, client, end):
    t = authorize(client)
    get(client, batch(t), t["access_token"])
    assert sb_of(app).documents.size > 0
    assert client.post(f"/sandbox-api/authorizations/{t['authorization_id']}/{end}", headers=H).status_code == 200
    r = client.get(batch(t), headers={"Authorization": "Bearer " + t["access_token"]})
    assert r.status_code in (401, 403) and r.mimetype == "application/json" and b"<feed" not in r.data


def test_an_import_is_in_the_customers_document_at_once_and_imported_readings_are_never_kept(app, client):
    sb = sb_of(app)
    r = client.post(
        "/dc/bayview/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("data-custodian", "data-custodian-secret"),
    )
    assert r.status_code == 200, r.data[:300]
    custodian = r.get_json()["access_token"]
    with sb.db.sessions() as s:
        demo, other = (
            s.scalars(select(Customer).where(Customer.number == n, Customer.utility.has(slug="bayview"))).one()
            for n in (0, 1)
        )
        own = f"{R}/Batch/RetailCustomer/{other.uuid}/UsagePoint"
        file = b"".join(dmd.usage_document(sb, demo.id, None, dt.date(2025, 6, 1), dt.date(2025, 6, 4), True, "x"))
    before = get(client, own, custodian)
    assert get(client, own, custodian) == before and sb.documents.size > 0
    with sb.db.sessions() as s:
        dmd.import_green_button(sb, s.get(Customer, other.id), file)
    kept = sb.documents.size
    after = get(client, own, custodian)
    assert after.count(b"<espi:UsagePoint>") > before.count(b"<espi:UsagePoint>")
    assert after == written_anew(app, client, own, custodian) and sb.documents.size == kept  # not kept


def test_another_form_is_made_from_the_kept_plain_document(app, client):
    """The kept bytes are the plain document: a profile's form (here ESPI 3.3's) is applied to them
    as to one written anew."""
    t = authorize(client)
    plain = get(client, batch(t), t["access_token"])
    r = client.put(
        "/sandbox-api/utilities/bayview/third-parties/demo-third-party/profile", headers=H, json={"profile": "gba-xml"}
    )
    assert r.status_code == 200, r.data[:300]
    formed = get(client, batch(t), t["access_token"])
    assert formed != plain and formed == written_anew(app, client, batch(t), t["access_token"])


def test_a_kept_documents_gzip_form_is_made_once_and_kept_beside_it():
    from sandbox.espi.atom import KeptDocument

    world, store = object(), RenderedRuns()
    chunks = [b"<feed>", b"<entry>" * 5000, b"</feed>"]
    doc = KeptDocument(chunks, store, world, ("usage-feed", 1))
    assert list(doc) == chunks
    zipped = doc.gzipped()
    assert gzip.decompress(b"".join(zipped)) == b"".join(chunks) and store.size == len(b"".join(zipped))
    again = KeptDocument(chunks, store, world, ("usage-feed", 1)).gzipped()
    assert again is zipped and store.size == len(b"".join(zipped))  # compressed once
    assert KeptDocument(chunks, store, object(), ("usage-feed", 1)).gzipped() is not zipped  # another world's
