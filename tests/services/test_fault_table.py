"""One table of fault scenarios (services.faults): each row carries its effect, checked when the
module loads, and every other place derives its list from the table."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest
from lxml import etree

from sandbox.core.errors import FaultAnswer, Refused, SandboxError, TokenRefused
from sandbox.services import faults
from sandbox.services.faults import RESOURCE, SCENARIOS, Answer, Delay, Drop, Rewrite, Scenario, Truncate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = (ROOT / "tests" / "samples" / "nist_TestGBDataHourlyNineDaysBinnedDaily.xml").read_bytes()
ATOM = "{http://www.w3.org/2005/Atom}"


def _stamp(root, resource: str = "") -> None:
    """A made-up document fault: every entry's title says it was here (and which resource it was given)."""
    for title in root.iter(ATOM + "title"):
        title.text = f"made-up {resource}".strip()


MADE_UP = Scenario("made-up", "every entry's title is rewritten", "ignore titles", "", Rewrite(_stamp), RESOURCE)


def test_a_made_up_document_fault_added_to_the_table_is_applied(monkeypatch):
    monkeypatch.setattr(faults, "BY_NAME", faults.table(*SCENARIOS, MADE_UP))
    found = faults.parse(["made-up:IntervalBlock"], "X-Sandbox-Fault")
    assert found[0].scenario is MADE_UP and MADE_UP.kind == faults.DOCUMENT
    plan = faults.plan(found)
    assert plan.rewrites == found and plan.refusal is None and plan.delay is None
    titles = [t.text for t in etree.fromstring(faults.rewrite(SAMPLE, plan.rewrites)).iter(ATOM + "title")]
    assert titles and set(titles) == {"made-up IntervalBlock"}
    with pytest.raises(Refused, match="made-up names a resource"):  # its argument is checked as the row says
        faults.parse(["made-up:Nothing"], "faults")


def test_a_scenario_with_no_effect_or_an_unknown_one_is_refused_when_made():
    for effect in (None, "rewrite", _stamp, object()):
        with pytest.raises(TypeError, match="its effect"):
            Scenario("no-effect", "does nothing", "nothing", "", effect)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes no argument"):
        Scenario("cut", "cut", "retry", "", Truncate(), RESOURCE)
    with pytest.raises(TypeError, match="given twice"):
        faults.table(*SCENARIOS, SCENARIOS[0])


def test_the_module_does_not_load_with_a_row_without_effect(monkeypatch):
    """The check runs while the table is built: the module itself fails to import."""
    source = Path(faults.__file__).read_text()
    broken = source.replace("Rewrite(faulty.gap_days)", "None")
    assert broken != source
    module = types.ModuleType("broken_faults")
    monkeypatch.setitem(sys.modules, "broken_faults", module)  # as an import would (dataclasses look there)
    with pytest.raises(TypeError, match="'gap-days': its effect None"):
        exec(compile(broken, "broken_faults.py", "exec"), module.__dict__)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.kind == faults.DOCUMENT], ids=lambda s: s.name)
def test_every_document_row_rewrites_a_document(scenario):
    arg = "IntervalBlock" if scenario.takes is RESOURCE else ""
    found = faults.parse([f"{scenario.name}:{arg}" if arg else scenario.name], "faults")
    assert faults.rewrite(SAMPLE, found) != faults.rewrite(SAMPLE, ())


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if isinstance(s.effect, Answer)], ids=lambda s: s.name)
def test_every_answer_row_makes_a_refusal_with_a_reason(scenario):
    refusal = faults.plan(faults.parse([scenario.name], "faults")).refusal
    assert isinstance(refusal, SandboxError) and refusal.status >= 400 and refusal.reason


def test_the_plan_keeps_the_order_the_web_applies():
    found = faults.parse(
        [
            "token-expired-early",
            "rate-limited",
            "server-error:500",
            "slow:1.5",
            "connection-reset",
            "truncated-body",
            "gap-days",
        ],
        "faults",
    )
    plan = faults.plan(found)
    assert plan.delay == 1.5 and plan.drop and plan.truncate
    assert [f.scenario.name for f in plan.rewrites] == ["gap-days"]
    # the first answer row of the table wins, whatever order the call named them in
    assert isinstance(plan.refusal, FaultAnswer) and (plan.refusal.status, plan.refusal.retry_after) == (500, 2)
    assert isinstance(faults.plan(faults.parse(["token-expired-early"], "h")).refusal, TokenRefused)
    rate = faults.plan(faults.parse(["token-expired-early", "rate-limited"], "h")).refusal
    assert rate is not None and (rate.status, rate.retry_after, rate.reason) == (429, 1, "fault:rate-limited")
    assert faults.plan(faults.parse(["slow"], "h")).delay == 2.0 and faults.plan(()) == faults.NOTHING


def test_every_effect_kind_is_used_by_a_row():
    assert {type(s.effect) for s in SCENARIOS} == {Answer, Delay, Drop, Truncate, Rewrite}


def test_the_catalogue_and_the_control_api_schema_derive_from_the_table():
    from sandbox.web.control.operations import FAULT

    names = [s.name for s in SCENARIOS]
    assert [row["name"] for row in faults.catalogue()] == names == list(faults.BY_NAME)
    assert FAULT["properties"]["name"]["enum"] == names


def _strings(path: Path) -> set[str]:
    return {
        n.value
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_no_other_module_spells_a_scenario_name():
    """Only the table names scenarios (and the tests): the web layer and the document side read the effects."""
    names = set(faults.BY_NAME)
    spelled = {
        f"{p.relative_to(ROOT)}: {sorted(_strings(p) & names)}"
        for p in sorted((ROOT / "sandbox").rglob("*.py"))
        if p != Path(faults.__file__) and _strings(p) & names
    }
    assert spelled == set()
