"""Onboarding services without HTTP routes: metadata rules, certificates, terms, the notification
test against a real local endpoint, the checklist and the Review -> Production transitions."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from conftest import FIXED_NOW
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from espi.checks import ESPI, assert_valid, parse
from live.third_party import ThirdParty
from sqlalchemy import select
from web.helpers import closed_port_url, demo_grant, kept_secret, make_certificate, offered, sb_of, sha256_fingerprint

from sandbox.core import errors
from sandbox.core.models import Application, ApplicationStatusChange, Developer
from sandbox.espi.scopes import plain_words
from sandbox.services import onboarding, signin, world

NOW = FIXED_NOW.replace(tzinfo=None)


@pytest.fixture
def third_party():
    with ThirdParty() as tp:
        yield tp


def utility_row_id(app, slug: str) -> int:
    return world.utility_id(sb_of(app).db, slug)


def metadata(world, slug="bayview", **changes) -> onboarding.Metadata:
    base = onboarding.Metadata(
        name="Watt Watcher",
        redirect_uris=["https://ww.example.com/cb"],
        scopes=offered(world, slug)[:1],
        contact_email="dev@ww.example.com",
        notify_uri="https://ww.example.com/notify",
    )
    return dataclasses.replace(base, **changes)


def new_app(app, slug="bayview", **changes) -> onboarding.Issued:
    sb = sb_of(app)
    return onboarding.register(
        sb.db,
        sb.clock,
        utility_row_id(app, slug),
        sb.world.seed,
        metadata(sb.world, slug, **changes),
        registration_token=True,
    )


def load(app, app_id: int) -> Application:
    with sb_of(app).db.sessions() as s:
        return s.get(Application, app_id)


# --- metadata -------------------------------------------------------------------------------


def test_validate_metadata_accepts_offered_scopes_and_names_the_callers_fields(world):
    scopes = offered(world, "bayview")
    meta = onboarding.validate_metadata(
        {
            "name": " App ",
            "redirect_uris": ["https://a.example/cb", "https://a.example/cb", "http://127.0.0.1:9/cb"],
            "scopes": [scopes[1]],
            "notify_uri": "",
            "contact_email": "x@y.example",
        },
        scopes,
    )
    assert meta.name == "App" and meta.redirect_uris == ["https://a.example/cb", "http://127.0.0.1:9/cb"]
    assert meta.scopes == [scopes[1]] and meta.notify_uri is None
    # term order differs from the offered string, but it is the same scope
    terms = scopes[0].split(";")
    reordered = ";".join([terms[0], terms[3], terms[1], terms[2]])
    assert onboarding.validate_metadata(
        {"name": "A", "redirect_uris": ["https://a.example/cb"], "scopes": [reordered]}, scopes
    ).scopes == [scopes[0]]
    cases = [
        ({"redirect_uris": ["https://a.example/cb#frag"]}, "redirect_uris", "invalid_redirect_uri", "fragment"),
        ({"redirect_uris": ["/relative/cb"]}, "redirect_uris", "invalid_redirect_uri", "absolute"),
        ({"redirect_uris": ["ftp://a.example/cb"]}, "redirect_uris", "invalid_redirect_uri", "absolute"),
        ({"redirect_uris": ["https://user:pw@a.example/cb"]}, "redirect_uris", "invalid_redirect_uri", "password"),
        (
            {"redirect_uris": ["https://a.example/ok", "https://a.example/c b"]},
            "redirect_uris[1]",
            "invalid_redirect_uri",
            "spaces",
        ),
        ({"redirect_uris": []}, "redirect_uris", "invalid_redirect_uri", "at least one"),
        ({"scopes": ["FB=1_3;IntervalDuration=3600"]}, "scopes", "invalid_client_metadata", "not offered"),
        ({"scopes": ["FB=one"]}, "scopes", "invalid_client_metadata", "not a valid ESPI scope"),
        ({"scopes": []}, "scopes", "invalid_client_metadata", "at least one"),
        ({"notify_uri": "notify.example.com"}, "notify_uri", "invalid_client_metadata", "absolute"),
        ({"contact_email": "nobody"}, "contact_email", "invalid_client_metadata", "e-mail"),
        ({"name": "  "}, "name", "invalid_client_metadata", "name"),
    ]
    for change, field, error, words in cases:
        raw = {"name": "A", "redirect_uris": ["https://a.example/cb"], "scopes": [scopes[0]]} | change
        with pytest.raises(errors.Refused) as exc:
            onboarding.validate_metadata(raw, scopes)
        assert (exc.value.field, exc.value.error) == (field, error), change
        assert exc.value.message.startswith(field + ":") and words in exc.value.message, exc.value.message
    # the caller's own field names appear in the messages
    with pytest.raises(errors.Refused) as exc:
        onboarding.validate_metadata(
            {"name": "A", "redirect_uris": ["x"], "scopes": None},
            scopes,
            names={"redirect_uris": "redirect_uri"},
            default_scopes=True,
        )
    assert exc.value.field == "redirect_uri"
    assert (
        onboarding.validate_metadata(
            {"name": "A", "redirect_uris": ["https://a.example/cb"]}, scopes, default_scopes=True
        ).scopes
        == scopes
    )


def test_scope_meaning_in_plain_words(world):
    usage, with_customer = offered(world, "lakeshore")
    words = plain_words(usage)
    assert "Electricity use in intervals" in words and "Water use" in words and "Natural gas use" in words
    assert "Readings every 15 minutes, every hour and daily" in words and "Up to 13 months of history" in words
    assert not any("Contact details" in w for w in words)
    assert any("Contact details" in w for w in plain_words(with_customer))
    assert (
        onboarding.scope_title(usage) == "Usage data"
        and onboarding.scope_title(with_customer) == "Usage and customer data"
    )


def test_register_stores_only_hashes_and_a_fresh_client_id(app):
    a, b = new_app(app), new_app(app)
    assert a.app.client_id != b.app.client_id and a.app.client_id.startswith("tp-")
    row = load(app, a.app.id)
    assert row.status == "review" and row.developer_id is None
    assert row.client_secret_hash == kept_secret(app, a.client_secret) and a.client_secret not in row.client_secret_hash
    assert row.registration_token_hash == kept_secret(app, a.registration_access_token)
    assert row.client_secret_hash != kept_secret(app, b.client_secret)


def test_rotate_secret_replaces_the_hash(app):
    issued = new_app(app)
    sb = sb_of(app)
    new = onboarding.rotate_secret(sb.db, issued.app.utility_id, issued.app.id)
    row = load(app, issued.app.id)
    assert new != issued.client_secret
    assert row.client_secret_hash == kept_secret(app, new) != kept_secret(app, issued.client_secret)
    with pytest.raises(errors.NotFound):  # another developer's application
        onboarding.rotate_secret(sb.db, issued.app.utility_id, issued.app.id, developer_id=12345)


def test_developer_sign_up_and_login(app):
    sb = sb_of(app)
    uid = utility_row_id(app, "bayview")
    dev = onboarding.sign_up(sb.db, sb.clock, uid, "Ann", "Ann@Example.com", "correct horse")
    for name, email, password, field in [
        ("Ann", "ann@example.com", "correct horse", "email"),
        ("", "b@example.com", "correct horse", "name"),
        ("Bo", "not-an-email", "correct horse", "email"),
        ("Bo", "bo@example.com", "short", "password"),
    ]:
        with pytest.raises(errors.Refused) as exc:
            onboarding.sign_up(sb.db, sb.clock, uid, name, email, password)
        assert exc.value.field == field
    with sb.db.sessions() as s:
        assert s.scalars(select(Developer)).all()[0].email == "Ann@Example.com"
        assert len(s.scalars(select(Developer)).all()) == 1
    assert signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "correct horse").developer_id == dev.id
    assert not signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "wrong").ok
    # the same e-mail at another utility is another account
    assert not signin.developer_login(
        sb.db, sb.clock, utility_row_id(app, "prairie"), "ann@example.com", "correct horse"
    ).ok
    for _ in range(4):
        signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "wrong")
    locked = signin.developer_login(sb.db, sb.clock, uid, "ann@example.com", "correct horse")
    assert locked.locked and not locked.ok


# --- certificates ---------------------------------------------------------------------------


def test_parse_certificate_reads_subject_fingerprint_and_expiry():
    pem, _ = make_certificate("tp.example.org", not_after=dt.datetime(2026, 1, 31, 12, tzinfo=dt.timezone.utc))
    info = onboarding.parse_certificate(pem, FIXED_NOW)
    assert "CN=tp.example.org" in info.subject and "O=Test TP" in info.subject
    assert info.fingerprint == sha256_fingerprint(pem) and len(info.fingerprint) == 95
    assert info.expires_at == dt.datetime(2026, 1, 31, 12)
    assert onboarding.parse_certificate(pem.encode(), FIXED_NOW).fingerprint == info.fingerprint
    chain = pem + make_certificate("ca.example.org")[0]
    assert onboarding.parse_certificate(chain, FIXED_NOW).fingerprint == info.fingerprint  # the first one counts


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not_yet_valid",
        "private_key_alone",
        "certificate_and_key",
        "garbage",
        "broken_base64",
        "empty",
        "der",
    ],
)
def test_parse_certificate_refusals(case):
    pem, key = make_certificate()
    data, words = {
        "expired": (
            make_certificate(not_before=FIXED_NOW - dt.timedelta(days=400), not_after=FIXED_NOW - dt.timedelta(days=1))[
                0
            ],
            "expired on 2025-07-14",
        ),
        "not_yet_valid": (make_certificate(not_before=FIXED_NOW + dt.timedelta(days=2))[0], "not valid before"),
        "private_key_alone": (key, "private key"),
        "certificate_and_key": (pem + key, "private key"),
        "garbage": ("hello, this is not a certificate", "BEGIN CERTIFICATE"),
        "broken_base64": ("-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n", "could not be read"),
        "empty": ("", "choose a PEM file"),
        "der": (x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER), "DER"),
    }[case]
    with pytest.raises(errors.Refused) as exc:
        onboarding.parse_certificate(data, FIXED_NOW)
    assert words in exc.value.message and exc.value.field == "certificate"


def test_store_certificate_keeps_nothing_on_refusal(app, world):
    issued = new_app(app)
    sb = sb_of(app)
    pem, key = make_certificate()
    with pytest.raises(errors.Refused):
        onboarding.store_certificate(
            sb.db, sb.clock, issued.app.utility_id, issued.app.id, pem + key, world.utility("bayview").profile
        )
    assert load(app, issued.app.id).certificate_pem is None
    info = onboarding.store_certificate(
        sb.db, sb.clock, issued.app.utility_id, issued.app.id, pem, world.utility("bayview").profile
    )
    row = load(app, issued.app.id)
    assert row.certificate_fingerprint == info.fingerprint == sha256_fingerprint(pem)
    assert "PRIVATE" not in row.certificate_pem and row.certificate_expires_at == info.expires_at


# --- notification test ----------------------------------------------------------------------


def test_notification_test_posts_a_schema_valid_batch_list(app, world, third_party):
    issued = new_app(app, notify_uri=third_party.url)
    sb = sb_of(app)
    root = "http://sandbox.test/dc/bayview/espi/1_1/resource"
    result = onboarding.send_test_notification(
        sb.db, sb.clock, issued.app.utility_id, issued.app.id, root, world.utility("bayview").profile
    )
    assert result.ok and result.status == 200 and result.body == "thanks" and result.ms >= 0
    (got,) = third_party.received
    assert got["path"] == "/espi/1_1/Notification"
    assert got["headers"]["Content-Type"] == "application/xml"
    doc = parse(got["body"])
    assert_valid(doc)
    assert doc.tag == ESPI + "BatchList"
    assert [r.text for r in doc.findall(ESPI + "resources")] == [f"{root}/Batch/Bulk/{issued.app.client_id}"]
    row = load(app, issued.app.id)
    assert (row.notify_check_status, row.notify_check_ms, row.notify_check_body) == (200, result.ms, "thanks")
    assert row.notify_check_at == NOW


def test_notification_test_names_the_subscriptions_of_the_application(app, world, third_party):
    """The demo application has the demo customer's authorization: its Batch/Subscription is named."""
    sb = sb_of(app)
    demo_grant(app)
    with sb.db.transaction() as s:
        demo = s.scalars(
            select(Application).where(
                Application.client_id == "demo-third-party", Application.utility.has(slug="bayview")
            )
        ).one()
        demo.notify_uri = third_party.url
        from sandbox.core.models import Authorization

        sub = s.scalars(select(Authorization.subscription_uuid).where(Authorization.application_id == demo.id)).one()
    result = onboarding.send_test_notification(
        sb.db, sb.clock, demo.utility_id, demo.id, "http://h/r", world.utility("bayview").profile
    )
    assert result.uris == (f"http://h/r/Batch/Subscription/{sub}",)
    assert parse(third_party.received[0]["body"]).findtext(ESPI + "resources") == f"http://h/r/Batch/Subscription/{sub}"


def test_notification_test_records_failures(app, world):
    sb = sb_of(app)
    profile = world.utility("bayview").profile
    with ThirdParty(status=503, body=b"x" * 5000) as failing:
        issued = new_app(app, notify_uri=failing.url)
        result = onboarding.send_test_notification(
            sb.db, sb.clock, issued.app.utility_id, issued.app.id, "http://h/r", profile
        )
        assert result.status == 503 and not result.ok and len(result.body) == onboarding.NOTIFY_BODY_CHARS
        check = {c.key: c for c in onboarding.checklist(load(app, issued.app.id), profile, now=FIXED_NOW)}[
            "notification"
        ]
        assert not check.done and "HTTP 503" in check.detail
    nobody = new_app(app, notify_uri=closed_port_url())
    result = onboarding.send_test_notification(
        sb.db, sb.clock, nobody.app.utility_id, nobody.app.id, "http://h/r", profile
    )
    assert (
        result.status == 0
        and "no answer" in result.body
        and ("refused" in result.body.lower() or "Errno" in result.body)
    )
    row = load(app, nobody.app.id)
    assert row.notify_check_status == 0 and "no answer" in row.notify_check_body
    without = new_app(app, notify_uri=None)
    with pytest.raises(errors.Refused) as exc:
        onboarding.send_test_notification(
            sb.db, sb.clock, without.app.utility_id, without.app.id, "http://h/r", profile
        )
    assert exc.value.field == "notify_uri"


def test_notification_test_gives_up_after_the_timeout(app, world):
    with ThirdParty(hold=True) as slow:
        issued = new_app(app, notify_uri=slow.url)
        sb = sb_of(app)
        result = onboarding.send_test_notification(
            sb.db,
            sb.clock,
            issued.app.utility_id,
            issued.app.id,
            "http://h/r",
            world.utility("bayview").profile,
            timeout=0.3,
        )
        assert result.status == 0 and "timed out" in result.body.lower() and result.ms >= 250


def test_post_notification_does_not_follow_redirects():
    with ThirdParty(status=307) as tp:
        tp.headers["Location"] = tp.url + "/again"
        result = onboarding.post_notification(tp.url, b"<x/>", 5)
        assert result.status == 307 and [r["path"] for r in tp.received] == ["/espi/1_1/Notification"]


# --- checklist and transitions -------------------------------------------------------------


def _finish_portal_steps(app, issued, slug, profile, third_party):
    sb = sb_of(app)
    uid = issued.app.utility_id
    onboarding.accept_terms(sb.db, sb.clock, uid, issued.app.id, profile.terms_version, profile)
    onboarding.store_certificate(sb.db, sb.clock, uid, issued.app.id, make_certificate()[0], profile)
    onboarding.send_test_notification(sb.db, sb.clock, uid, issued.app.id, "http://h/r", profile)


def _lead_sets(app, app_id, profile, **times) -> bool:
    """What the OAuth server does: set client_token_at / service_status_at, then evaluate."""
    sb = sb_of(app)
    with sb.db.transaction() as s:
        row = s.get(Application, app_id)
        for k, v in times.items():
            setattr(row, k, v)
        return onboarding.evaluate(row, profile, FIXED_NOW)


def test_checklist_order_and_automatic_production(app, world, third_party):
    profile = world.utility("bayview").profile
    assert profile.approval == "automatic"
    issued = new_app(app, notify_uri=third_party.url)
    checks = onboarding.checklist(load(app, issued.app.id), profile, now=FIXED_NOW)
    assert [c.key for c in checks] == ["terms", "certificate", "urls", "notification", "client_token", "service_status"]
    assert [c.done for c in checks] == [False, False, True, False, False, False]
    assert all(c.label and c.detail for c in checks)
    _finish_portal_steps(app, issued, "bayview", profile, third_party)
    assert [c.done for c in onboarding.checklist(load(app, issued.app.id), profile, now=FIXED_NOW)] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert _lead_sets(app, issued.app.id, profile, client_token_at=NOW) is False
    assert load(app, issued.app.id).status == "review"
    assert _lead_sets(app, issued.app.id, profile, service_status_at=NOW) is True
    assert load(app, issued.app.id).status == "production"
    assert _lead_sets(app, issued.app.id, profile) is False  # nothing more to change
    with sb_of(app).db.sessions() as s:
        change = s.scalars(
            select(ApplicationStatusChange).where(ApplicationStatusChange.application_id == issued.app.id)
        ).one()
        assert (change.old_status, change.new_status, change.changed_by) == ("review", "production", "automatic")


def test_portal_step_last_also_moves_to_production(app, world, third_party):
    """The OAuth steps first, the terms last: accepting them completes the list."""
    profile = world.utility("bayview").profile
    issued = new_app(app, notify_uri=third_party.url)
    _lead_sets(app, issued.app.id, profile, client_token_at=NOW, service_status_at=NOW)
    sb = sb_of(app)
    uid = issued.app.utility_id
    onboarding.store_certificate(sb.db, sb.clock, uid, issued.app.id, make_certificate()[0], profile)
    onboarding.send_test_notification(sb.db, sb.clock, uid, issued.app.id, "http://h/r", profile)
    assert load(app, issued.app.id).status == "review"
    onboarding.accept_terms(sb.db, sb.clock, uid, issued.app.id, profile.terms_version, profile)
    assert load(app, issued.app.id).status == "production"


def test_staff_approval_utility_waits_for_approve(app, world, third_party):
    profile = world.utility("lakeshore").profile
    assert profile.approval == "staff" and profile.terms_version == 2
    issued = new_app(app, "lakeshore", notify_uri=third_party.url)
    sb = sb_of(app)
    with sb.db.transaction() as s:
        with pytest.raises(errors.Refused) as exc:
            onboarding.approve(s.get(Application, issued.app.id), FIXED_NOW, profile)
        assert "Terms accepted" in exc.value.message and "Certificate on file" in exc.value.message
    _finish_portal_steps(app, issued, "lakeshore", profile, third_party)
    assert _lead_sets(app, issued.app.id, profile, client_token_at=NOW, service_status_at=NOW) is False
    assert load(app, issued.app.id).status == "review"
    approved = onboarding.approve_application(
        sb.db, sb.clock, issued.app.utility_id, issued.app.id, profile, by="staff"
    )
    assert approved.status == "production" and load(app, issued.app.id).status == "production"
    with pytest.raises(errors.Refused) as exc:  # only from Review
        onboarding.approve_application(sb.db, sb.clock, issued.app.utility_id, issued.app.id, profile)
    assert "not Review" in exc.value.message


def test_newer_terms_are_asked_again_and_expired_certificate_undoes_the_item(app, world, third_party):
    profile = world.utility("bayview").profile  # version 1
    issued = new_app(app, notify_uri=third_party.url)
    sb = sb_of(app)
    onboarding.accept_terms(sb.db, sb.clock, issued.app.utility_id, issued.app.id, 1, profile)
    with pytest.raises(errors.Refused):  # not the current version
        onboarding.accept_terms(sb.db, sb.clock, issued.app.utility_id, issued.app.id, 2, profile)
    row = load(app, issued.app.id)
    assert row.terms_version == 1 and row.terms_accepted_at == NOW
    newer = dataclasses.replace(profile, terms_version=2)
    terms = onboarding.checklist(row, newer, now=FIXED_NOW)[0]
    assert not terms.done and "version 2 is current" in terms.detail
    assert onboarding.checklist(row, profile, 2, now=FIXED_NOW)[0].done is False  # terms_version argument wins
    assert onboarding.checklist(row, profile, now=FIXED_NOW)[0].done is True
    pem, _ = make_certificate(not_after=FIXED_NOW + dt.timedelta(days=10))
    onboarding.store_certificate(sb.db, sb.clock, issued.app.utility_id, issued.app.id, pem, profile)
    row = load(app, issued.app.id)
    assert onboarding.checklist(row, profile, now=FIXED_NOW)[1].done
    later = onboarding.checklist(row, profile, now=FIXED_NOW + dt.timedelta(days=11))[1]
    assert not later.done and "expired" in later.detail


def test_terms_text_replaces_the_utility_name(world):
    text = onboarding.terms_text(world.terms, 2, "Lakeshore Energy & Water")
    assert "{utility}" not in text and "Lakeshore Energy & Water within 72 hours" in text
    with pytest.raises(errors.NotFound):
        onboarding.terms_text(world.terms, 99, "X")


def test_changing_the_notify_uri_clears_the_last_test(app, world, third_party):
    profile = world.utility("bayview").profile
    issued = new_app(app, notify_uri=third_party.url)
    sb = sb_of(app)
    onboarding.send_test_notification(sb.db, sb.clock, issued.app.utility_id, issued.app.id, "http://h/r", profile)
    assert load(app, issued.app.id).notify_check_status == 200
    onboarding.update(
        sb.db,
        sb.clock,
        issued.app.utility_id,
        issued.app.id,
        metadata(world, notify_uri="https://elsewhere.example/n"),
        profile,
    )
    row = load(app, issued.app.id)
    assert (
        row.notify_check_status is None
        and row.notify_check_at is None
        and row.notify_uri == "https://elsewhere.example/n"
    )
