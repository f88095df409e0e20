"""The planner's answer over time (issue 21, item 4) and capacity-plan input (item 2)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import SCENARIOS

from twin.core.errors import ScenarioError
from twin.experiments.sweep.answer import answer_over_time, planners_answer
from twin.experiments.sweep.spec import load_sweep
from twin.scenario.loading import load_scenario

LINES = "capacity_plan[0].devices.clinimacs_prodigy"
DATE = "capacity_plan[0].date"
SWEEP = f"""
name: plans
base: {SCENARIOS / 'centralised.yaml'}
set:
  capacity_plan: [{{date: 2027-06-07, site: central_factory, devices: {{clinimacs_prodigy: 2}}}}]
axes:
  {LINES}: [2, 4]
  {DATE}: [2027-06-07, 2027-12-06]
targets:
  vein_to_vein_p90_days: {{max: 40}}
answer:
  over_time: true
  cost_per_unit:
    {LINES}: 10
"""


def _plan(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(SWEEP)
    return load_sweep(p)


def _summary(plan, p90: dict) -> pd.DataFrame:
    """KPI rows: vein_to_vein_p90_days@YEAR per point from ``p90[(lines, late)][year]``."""
    rows = []
    for pt in plan.points:
        late = pt[DATE] > dt.date(2027, 6, 7)
        for year, v in p90[(pt[LINES], late)].items():
            rows.append({**pt, "kpi": f"vein_to_vein_p90_days@{year}", "mean": v})
    return pd.DataFrame(rows)


def test_each_period_gets_the_cheapest_plan_that_held_the_targets_so_far_and_each_plan_its_first_failure(tmp_path):
    plan = _plan(tmp_path)
    p90 = {(2, False): {2027: 38, 2028: 42, 2029: 39},   # cheap, fails in 2028 (and is out from then on)
           (2, True): {2027: 41, 2028: 39, 2029: 39},    # cheap but late: fails at once
           (4, False): {2027: 37, 2028: 38, 2029: 39},   # holds every year
           (4, True): {2027: 39, 2028: 39, 2029: 41}}    # holds until 2029
    by_period, points = answer_over_time(plan, _summary(plan, p90))
    assert by_period["period"].tolist() == ["2027", "2028", "2029"]
    chosen = by_period.set_index("period")
    assert chosen.loc["2027", LINES] == 2 and chosen.loc["2027", "cost"] == 20
    assert chosen.loc["2028", LINES] == 4 and chosen.loc["2028", DATE] == dt.date(2027, 6, 7)
    assert chosen.loc["2029", LINES] == 4 and chosen.loc["2029", DATE] == dt.date(2027, 6, 7)
    first = {(r[LINES], r[DATE] > dt.date(2027, 6, 7)): r["first_failure"] for _, r in points.iterrows()}
    assert first == {(2, False): "2028", (2, True): "2027", (4, False): "", (4, True): "2029"}
    row = points[(points[LINES] == 2) & (points[DATE] == dt.date(2027, 6, 7))].iloc[0]
    assert row["missed"] == "vein_to_vein_p90_days 42 > max 40 (by 2)"
    assert planners_answer(plan, _summary(plan, p90)).empty  # no demand axis: no per-demand answer


def test_a_period_no_plan_meets_says_what_the_nearest_missed(tmp_path):
    plan = _plan(tmp_path)
    p90 = {k: {2027: 38, 2028: 44 if k[0] == 2 else 41} for k in [(2, False), (2, True), (4, False), (4, True)]}
    by_period, _ = answer_over_time(plan, _summary(plan, p90))
    last = by_period.iloc[-1]
    assert not last["met"] and last["missed"].startswith("vein_to_vein_p90_days 41 > max 40 (by 1)")


def test_a_plan_naming_an_unknown_site_or_retiring_too_many_is_a_located_error(tmp_path):
    base = (SCENARIOS / "centralised.yaml").read_text()
    p = tmp_path / "s.yaml"
    p.write_text(base + "capacity_plan:\n  - {date: 2027-03-01, site: nowhere, devices: {clinimacs_prodigy: 1}}\n")
    with pytest.raises(ScenarioError, match="unknown site 'nowhere'") as err:
        load_scenario(p)
    assert err.value.field == "capacity_plan[0].site" and err.value.line == len(base.splitlines()) + 2
    p.write_text(base + "capacity_plan:\n  - {date: 2027-03-01, site: central_factory, devices: {clinimacs_prodigy: -15}}\n")
    with pytest.raises(ScenarioError, match="only 14 are in service"):
        load_scenario(p)
