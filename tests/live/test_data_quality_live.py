"""The pytest plugin's client against the real run.py: set_data_quality and data_quality, and the
resource server's next answer following them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from espi.checks import ESPI, parse

from sandbox.testing.client import ControlRefused, SandboxClient

from .server import LiveServer

pytestmark = pytest.mark.live
KEY = "quality-key"
OUTAGE = dt.date(2025, 7, 4)


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("quality") / "world.db")
    with LiveServer(
        "--database", db, "--customers", "1", "--reset", "--no-demo-app", env={"SANDBOX_ADMIN_KEY": KEY}
    ) as s:
        c = SandboxClient(s.url, KEY)
        c.freeze(dt.datetime(2025, 7, 15, 18, 30, tzinfo=dt.timezone.utc))
        yield c


def _readings(doc: bytes) -> list[tuple[dt.date, int]]:
    tz = ZoneInfo("America/Los_Angeles")
    return [
        (
            dt.datetime.fromtimestamp(int(r.findtext(f"{ESPI}timePeriod/{ESPI}start")), tz).date(),
            int(r.findtext(ESPI + "value")),
        )
        for r in parse(doc).iter(ESPI + "IntervalReading")
    ]


def test_the_plugin_sets_and_reads_a_customers_data_quality(control):
    world = control.data_quality("bayview", "demo")
    assert world["zero_share"] == world["negative_share"] == 0 and world["outage_days"] == []
    tokens = control.authorize("demo")
    before = control.get(tokens["resourceURI"], tokens)
    assert before.status == 200
    assert OUTAGE in {d for d, _ in _readings(before.body)}

    set_ = control.set_data_quality("bayview", "demo", negative_share=0.3, outage_days=[OUTAGE])
    assert set_ == control.data_quality("bayview", "demo")
    assert set_["negative_share"] == 0.3 and set_["outage_days"] == [OUTAGE.isoformat()]
    after = _readings(control.get(tokens["resourceURI"], tokens).body)
    assert OUTAGE not in {d for d, _ in after}
    assert 0.2 < sum(v < 0 for _, v in after) / len(after) < 0.4

    with pytest.raises(ControlRefused) as refused:
        control.set_data_quality("bayview", "demo", negative_share=2)
    assert refused.value.status == 400 and refused.value.field == "negative_share"
    assert control.data_quality("bayview", "demo") == set_

    assert control.set_data_quality("bayview", "demo") == world  # no knobs: the world's again
    assert control.get(tokens["resourceURI"], tokens).body == before.body
