"""--precision: replications are added until the main KPIs are precise enough or the cap is
reached; the replications are the same as a fixed-n run's, and layouts keep common random
numbers. Also: the outcome fractions are over resolved patients, with patients in progress."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import SCENARIOS, build, centralised_data

from twin.cli import main
from twin.experiments.compare import compare
from twin.experiments.run import Precision, run_scenario
from twin.results.stats import precision_status, summarise

KPI = ("throughput_per_year",)


def small() -> dict:
    """Centralised at 3 referrals a week over 80 days: cheap, random, patients in progress."""
    d = centralised_data()
    d.update(horizon_days=80, warmup_days=10, replications=5)
    d["referrals"]["rate_per_week"] = 3
    return d


@pytest.fixture(scope="module")
def fixed():
    """A fixed run of 7 replications and the relative half-width of KPI after n of them."""
    res = run_scenario(build(small()), replications=7)
    rel = {n: precision_status(summarise(res.kpis[res.kpis["replication"] < n]), 1.0, KPI)["kpis"][KPI[0]]
           ["rel_half_width"] for n in (5, 6, 7)}
    return res, rel


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = ["replication", "kpi"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True))


def test_precision_stops_when_reached_with_the_fixed_runs_replications(fixed) -> None:
    res, rel = fixed
    target = min(rel[6], rel[7]) * 1.0001
    assert rel[5] > target, "the scenario no longer tightens from 5 to 7 replications: pick another KPI"
    stop = 6 if rel[6] < target else 7
    p = run_scenario(build(small()), precision=Precision(target, 20, KPI))
    assert p.provenance["replications"] == stop and p.precision["reached"] is True
    assert p.precision["kpis"][KPI[0]]["rel_half_width"] < target
    same(p.kpis, res.kpis[res.kpis["replication"] < stop])


def test_precision_stops_at_the_cap_and_says_it_was_not_reached(fixed) -> None:
    res, _ = fixed
    p = run_scenario(build(small()), precision=Precision(1e-6, 6, KPI))
    assert p.provenance["replications"] == 6 and p.precision["reached"] is False
    same(p.kpis, res.kpis[res.kpis["replication"] < 6])


def test_compare_with_precision_keeps_common_random_numbers(fixed) -> None:
    res, _ = fixed
    c = compare([build(small()), build(small())], precision=Precision(1e-6, 6, KPI))
    assert [r.provenance["replications"] for r in c.runs] == [6, 6]
    assert all(r.precision["reached"] is False for r in c.runs)
    diffs = c.table[c.table["layout"] == c.names[1]].dropna(subset=["diff_mean"])
    assert (diffs["diff_mean"] == 0).all()
    same(c.runs[1].kpis, res.kpis[res.kpis["replication"] < 6])


def test_precision_on_the_command_line(tmp_path, capsys) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small() | {"catalogue": str(SCENARIOS.parent / "equipment")}, sort_keys=False))
    (tmp_path / "out").mkdir()
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--precision", "1e-6", "--max-replications",
                 "5"]) == 0
    printed = capsys.readouterr().out
    assert "precision: NOT reached" in printed and "cap of 5 replications" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["precision"]["replications"] == 5 and summary["precision"]["reached"] is False
    assert summary["precision"]["rel"] == 1e-6


def test_fractions_divide_by_the_resolved_patients(fixed) -> None:
    res, _ = fixed
    k = res.kpis.pivot(index="replication", columns="kpi", values="value")
    assert (k["in_progress"] > 0).all()  # patients in progress at the horizon
    resolved = k["referred"] - k["in_progress"]
    pd.testing.assert_series_equal(k["resolved"], resolved, check_names=False)
    for outcome in ("infused", "dropped_out", "failed", "lost"):
        pd.testing.assert_series_equal(k[f"{outcome}_fraction_of_resolved"], k[outcome] / resolved, check_names=False)
    assert "dropped_out_fraction" not in k and "failed_fraction" not in k
