"""KPI intervals a planner can quote: they keep each KPI's bounds, a constant is a constant, and
too few replications say so (twin.results.stats, the console table, summary.json, the report)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from conftest import SCENARIOS, TINY
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.cli import kpi_table_text, main
from twin.results.kpis import _outcome_kpis
from twin.results.stats import MIN_REPLICATIONS, interval, summarise

values = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12)


def long(name: str, v) -> pd.DataFrame:
    return pd.DataFrame({"replication": range(len(v)), "kpi": name, "value": [float(x) for x in v]})


@settings(max_examples=300, deadline=None)
@given(values)
def test_no_interval_of_a_fraction_leaves_0_1(v) -> None:
    for name in ("utilisation.device.f.prodigy", "availability.staff.f.op", "dropped_out_fraction_of_resolved"):
        iv = interval(name, np.array(v))
        assert 0.0 <= iv.low <= iv.mean <= iv.high <= 1.0, (name, v, iv)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=2, max_size=12), st.lists(st.floats(0.0, 1e4), min_size=2, max_size=12))
def test_no_interval_of_a_count_or_a_duration_goes_below_0(counts, hours) -> None:
    for name, v in (("lost", counts), ("failed_by_cause.sterility", counts), ("delay_h.grid", hours),
                    ("vein_to_vein_p90_days", hours), ("cost_per_dose", hours)):
        iv = interval(name, np.array(v, dtype=float))
        assert 0.0 <= iv.low <= iv.mean <= iv.high, (name, v, iv)


def test_the_issues_examples_keep_their_bounds() -> None:
    """Two replications whose plain t interval was 84.7% [13.3, 156.1], and one loss in five
    replications (plain t: [0, 0.76] once clipped, under the exact Poisson bound 1.11)."""
    util = interval("utilisation.device.central_factory.clinimacs_prodigy", np.array([0.7906, 0.9030]))
    assert 0 < util.low < util.high < 1 and util.method == "logit-t"
    lost = interval("lost", np.array([0, 0, 0, 0, 1.0]))
    assert lost.low == 0 and 1.0 < lost.high < 1.5 and lost.method == "sqrt-t"
    assert lost.warning  # half-width over the mean


def test_a_constant_kpi_is_a_constant_and_prints_without_brackets() -> None:
    kl = pd.concat([long("cost.capital", [5e5] * 5), long("lost", [0] * 5), long("referred", [90, 95, 99, 93, 97])])
    s = summarise(kl).set_index("kpi")
    assert s.loc["cost.capital", "constant"] and s.loc["lost", "constant"] and not s.loc["referred", "constant"]
    assert s.loc["cost.capital", "ci_low"] == s.loc["cost.capital", "ci_high"] == 5e5
    text = kpi_table_text(s.reset_index(), 5)
    lost_line = next(line for line in text.splitlines() if "lost in process" in line)
    assert lost_line.split() == ["lost", "in", "process", "0"], lost_line
    referred = next(line for line in text.splitlines() if "patients referred" in line)
    assert "[" in referred and "same in every replication" in text


def test_too_few_replications_warn_in_the_table_summary_and_report(tmp_path, capsys) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("name: tiny", f"name: tiny\ncatalogue: {SCENARIOS.parent / 'equipment'}"))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "-r", "2", "--report"]) == 0
    printed = capsys.readouterr().out
    assert f"warning: only 2 replications: fewer than {MIN_REPLICATIONS}" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert any("only 2 replications" in w for w in summary["warnings"])
    assert summary["kpis"]["referred"]["constant"] is True  # a deterministic scenario
    page = (out / "report.html").read_text()
    assert page.count("Too few replications") == 1 and "only 2 replications" not in page  # said once, by the note
    assert summary["precision"] is None


def test_wide_intervals_are_flagged() -> None:
    s = summarise(long("delay_h.grid", [0, 0, 0, 0, 0, 40.0]))
    assert s["warning"].iloc[0].startswith("half-width exceeds the mean")
    text = kpi_table_text(summarise(long("lost", [0, 0, 0, 0, 0, 2.0])), 6)
    assert "lost in process" in text and " !" in text and "interval not usable" in text


def test_fractions_are_of_the_resolved_patients() -> None:
    """Six infused, two dropped out, two still in progress: a quarter of those resolved dropped
    out (not a fifth of all referred)."""
    cohort = pd.DataFrame({"outcome": ["infused"] * 6 + ["dropped_out"] * 2 + ["in_progress"] * 2,
                           "vein_to_vein_days": [30.0] * 6 + [math.nan] * 4})
    k = _outcome_kpis(cohort)
    assert k["resolved"] == 8
    assert k["dropped_out_fraction_of_resolved"] == 0.25 and k["infused_fraction_of_resolved"] == 0.75
    assert "dropped_out_fraction" not in k and "failed_fraction" not in k
