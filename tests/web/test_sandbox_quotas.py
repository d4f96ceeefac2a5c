"""A private sandbox's quotas (services.quotas, web.private): customers, third-party applications,
notifications waiting, requests a minute. Each refusal is a 429 naming the quota and changes nothing;
the default sandbox has none."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from conftest import ADMIN_KEY, APP_CONFIG
from sqlalchemy import func, select

from sandbox import create_app
from sandbox.core.models import Application, Customer

H = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def tight(request, tmp_path, seeded_worlds, clock):
    """A deployment whose sandboxes may hold 19 customers and 16 applications, and answer 8 requests a
    minute (or as many as the test's `requests` mark says)."""
    url = seeded_worlds.copy(tmp_path / "quotas.db", customers=APP_CONFIG["CUSTOMERS"])
    marked = request.node.get_closest_marker("requests")
    cfg = {
        **APP_CONFIG,
        "DATABASE_URL": url,
        "QUOTA_CUSTOMERS": 19,
        "QUOTA_APPLICATIONS": 16,
        "QUOTA_IMPORTED_READINGS": 20,
    }
    app = create_app({**cfg, "QUOTA_REQUESTS_PER_MINUTE": marked.args[0] if marked else 8}, clock=clock)
    yield app
    app.extensions["private_sandboxes"].close_all()
    app.extensions["sandbox"].db.dispose()


def _made(app, **body) -> tuple[dict, str, dict]:
    c = app.test_client()
    made = c.post("/sandbox-api/sandboxes", headers=H, json={"customers": 1, **body}).get_json()
    return made, urlsplit(made["base_url"]).path, {"Authorization": f"Bearer {made['admin_key']}"}


def _count(app, made: dict, model) -> int:
    private = app.extensions["private_sandboxes"].built(app.extensions["sandboxes"].get(made["id"]))
    with private.extensions["sandbox"].db.sessions() as s:
        return s.scalar(select(func.count(model.id))) or 0


def test_customers_beyond_the_quota_are_a_429_that_adds_none(tight):
    made, base, own = _made(tight)
    c = tight.test_client()
    before = _count(tight, made, Customer)  # 5 utilities x (1 generated + the demo customer), 7 named identities
    assert before == 17
    r = c.post(f"{base}/sandbox-api/seed", headers=own, json={"utility": "bayview", "customers": 3})
    assert r.status_code == 429 and r.get_json()["field"] == "customers"
    assert "SANDBOX_QUOTA_CUSTOMERS" in r.get_json()["error_description"]
    assert _count(tight, made, Customer) == before
    assert (
        c.post(f"{base}/sandbox-api/seed", headers=own, json={"utility": "bayview", "customers": 2}).status_code == 200
    )


def test_an_application_beyond_the_quota_is_refused_by_the_registration_api(tight):
    made, base, _ = _made(tight)
    c = tight.test_client()
    assert _count(tight, made, Application) == 15  # the seeded ones: 3 a utility
    meta = {"client_name": "One", "redirect_uris": ["https://one.example/cb"]}
    assert c.post(f"{base}/dc/bayview/espi/1_1/register", json=meta).status_code == 201
    r = c.post(f"{base}/dc/bayview/espi/1_1/register", json={**meta, "client_name": "Two"})
    assert r.status_code == 429 and r.headers["X-Sandbox-Reason"] == "quota:applications", r.get_json()
    assert "SANDBOX_QUOTA_APPLICATIONS" in r.get_json()["error_description"]
    assert _count(tight, made, Application) == 16


def test_requests_beyond_the_minutes_quota_are_a_429_with_retry_after(tight):
    made, base, _ = _made(tight)
    c = tight.test_client()
    answers = [c.get(f"{base}/healthz").status_code for _ in range(10)]
    assert answers[:8] == [200] * 8
    r = c.get(f"{base}/healthz")
    assert r.status_code == 429 and r.headers["X-Sandbox-Reason"] == "quota:requests_per_minute"
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    other, other_base, _ = _made(tight)
    assert c.get(f"{other_base}/healthz").status_code == 200  # a neighbour's minute is its own
    assert c.get("/healthz").status_code == 200  # and the default sandbox has no quota


def test_the_default_sandbox_has_no_quota(tight):
    c = tight.test_client()
    r = c.post("/sandbox-api/seed", headers=H, json={"utility": "bayview", "customers": 12})
    assert r.status_code == 200


@pytest.mark.requests(0)
def test_an_application_beyond_the_quota_is_refused_on_the_developer_portal_too(tight):
    """A page's change the quota refuses is a 429 that says why, never a 500."""
    from web.helpers import csrf

    made, base, _ = _made(tight, utilities=["bayview"])  # 3 seeded applications: 13 more may come
    c = tight.test_client()
    page = c.get(f"{base}/dc/bayview/developer/").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "name": "Ann", "email": "ann@example.com", "password": "correct horse"}
    assert c.post(f"{base}/dc/bayview/developer/signup", data=form).status_code == 303
    app_form = {
        "name": "Watt Watcher",
        "contact_email": "ann@example.com",
        "redirect_uris": "https://ww.example.com/cb",
    }
    statuses = []
    for _ in range(14):
        new_page = c.get(f"{base}/dc/bayview/developer/apps/new")
        assert new_page.status_code == 200, (len(statuses), new_page.status_code, new_page.get_data()[:200])
        new = new_page.get_data(as_text=True)
        app_form["scopes"] = re.findall(r'name="scopes" value="([^"]+)"', new)[:1]  # one the utility offers
        statuses.append(c.post(f"{base}/dc/bayview/developer/apps/new", data={**app_form, "csrf_token": csrf(new)}))
    assert [r.status_code for r in statuses[:13]] == [201] * 13
    assert statuses[13].status_code == 429 and "SANDBOX_QUOTA_APPLICATIONS" in statuses[13].get_data(as_text=True)
    assert _count(tight, made, Application) == 16


def test_imported_readings_beyond_the_quota_are_refused_and_none_stored(tight):
    from espi.checks import SAMPLES

    from sandbox.core.errors import QuotaExceeded
    from sandbox.core.models import ImportedReading
    from sandbox.services.dmd import import_green_button

    made, _, _ = _made(tight)
    private = tight.extensions["private_sandboxes"].built(tight.extensions["sandboxes"].get(made["id"]))
    sb = private.extensions["sandbox"]
    with sb.db.sessions() as s:
        demo = s.scalars(select(Customer).where(Customer.username == "demo")).first()
        assert import_green_button(sb, demo, (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes()).readings == 13
        assert import_green_button(sb, demo, (SAMPLES / "gba_cmdtest_Gas.xml").read_bytes()).replaced  # the same again
        with pytest.raises(QuotaExceeded) as refused:
            import_green_button(sb, demo, (SAMPLES / "gba_cmdtest_threeusagepointsonecustomer.xml").read_bytes())
    assert refused.value.field == "imported_readings" and refused.value.status == 429
    assert _count(tight, made, ImportedReading) == 13


def test_abuse_limits_count_apart_in_a_storage_sandboxes_share(tmp_path, seeded_worlds, clock, monkeypatch):
    """With the limiter's counters in one store for every sandbox (a Redis a deployment's processes share),
    failed sign-ins at one sandbox lock nothing at its neighbour: the sandbox is part of every key."""
    import limits.storage
    from web.helpers import csrf

    shared = limits.storage.MemoryStorage()
    monkeypatch.setattr(limits.storage, "storage_from_string", lambda uri, **kw: shared)
    url = seeded_worlds.copy(tmp_path / "limits.db", customers=APP_CONFIG["CUSTOMERS"])
    cfg = {**APP_CONFIG, "DATABASE_URL": url, "RATELIMIT": True, "RATELIMIT_STORAGE": "memory://"}
    app = create_app({**cfg, "RATELIMIT_SIGNIN_PER_ADDRESS": "2 per 10 minutes"}, clock=clock)
    try:
        c = app.test_client()
        bases = [urlsplit(_made(app)[0]["base_url"]).path for _ in range(2)]

        def wrong(base: str) -> int:
            page = c.get(f"{base}/dc/bayview/").get_data(as_text=True)
            form = {"method": "password", "username": "demo", "password": "nope", "csrf_token": csrf(page)}
            return c.post(f"{base}/dc/bayview/login", data=form).status_code

        assert [wrong(bases[0]) for _ in range(3)][-1] == 429  # the neighbour's limit reached
        assert wrong(bases[1]) == 401  # here: a first failure, not a lock
    finally:
        app.extensions["private_sandboxes"].close_all()
        app.extensions["sandbox"].db.dispose()
