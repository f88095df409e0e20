"""Report figure builders on small fixed tables, and the rule that reports never import the model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("plotly")

from twin.reports.run import (
    fig_gantt,
    fig_outcomes,
    fig_utilisation,
    fig_vein_to_vein,
    fig_wip,
    outcome_table,
    step_segments,
    wip_series,
)
from twin.reports.sweep import fig_frontier, fig_heatmap, fig_tornado, tornado_table


def ev(rows):
    return pd.DataFrame(rows, columns=["time_h", "patient", "step", "kind"])


def test_step_segments_split_a_device_holding_into_its_steps() -> None:
    held = pd.DataFrame({"patient": [0, 0], "site": ["f", "f"], "resource": ["prodigy", "op"],
                         "unit": [0, 0], "step": ["selection", "selection"],
                         "start_h": [10.0, 10.0], "end_h": [100.0, 12.0]})
    events = ev([(10, 0, "selection", "step_start"), (30, 0, "selection", "step_end"),
                 (30, 0, "expansion", "step_start"), (100, 0, "expansion", "step_end"),
                 (100, 0, "ship_to_hospital", "step_start"), (120, 0, "ship_to_hospital", "step_end")])
    seg = step_segments(held, events).sort_values(["resource", "start_h"])
    dev = seg[seg["resource"] == "prodigy"]
    assert list(zip(dev["step"], dev["start_h"], dev["end_h"])) == [("selection", 10, 30), ("expansion", 30, 100)]
    staff = seg[seg["resource"] == "op"]
    assert list(zip(staff["step"], staff["start_h"], staff["end_h"])) == [("selection", 10, 12)]


def test_wip_series_counts_patients_between_referral_and_outcome() -> None:
    b = pd.DataFrame({"replication": 0, "referral_h": [0.0, 5.0, 6.0], "outcome_h": [10.0, np.nan, 6.0]})
    w = wip_series(b, horizon_h=20)
    # Patient 2 is referred and leaves at 6 h; patient 1 never leaves before the horizon.
    assert w.groupby("time_h")["wip"].last().to_dict() == {0.0: 1, 5.0: 2, 6.0: 2, 10.0: 1}
    assert w["wip"].min() >= 0


def test_outcome_table_is_per_replication_and_window_only() -> None:
    b = pd.DataFrame({"replication": [0, 0, 1, 1, 1], "in_window": [True, True, True, True, False],
                      "outcome": ["infused", "failed", "infused", "infused", "infused"],
                      "cause": ["infusion", "qc:sterility", "infusion", "infusion", "infusion"]})
    t = outcome_table(b).set_index(["outcome", "cause"])["patients"]
    assert t[("infused", "infusion")] == 1.5 and t[("failed", "qc:sterility")] == 0.5


def test_tornado_ranks_axes_by_swing() -> None:
    rows = []
    for a in (1, 2):
        for b in (10, 20):
            rows.append({"a": a, "b": b, "kpi": "k", "mean": 100 * a + b})
    s = pd.DataFrame(rows)
    t = tornado_table(s, ["a", "b"], "k")
    assert list(t["axis"]) == ["b", "a"]  # ascending swing: b moves 10, a moves 100
    assert t.set_index("axis").loc["a", "swing"] == 100


def test_figures_have_titled_axes_and_the_right_data() -> None:
    held = pd.DataFrame({"patient": [0, 1], "site": ["f", "f"], "resource": ["prodigy", "prodigy"], "unit": [0, 1],
                         "step": ["expansion", "expansion"], "start_h": [0.0, 5.0], "end_h": [48.0, 60.0]})
    res = pd.DataFrame({"site": ["f"], "name": ["prodigy"], "kind": ["device"]})
    g = fig_gantt(held, res, "2027-01-04")
    assert sum(len(t.y) for t in g.data) == 2 and g.layout.xaxis.title.text and g.layout.yaxis.title.text
    kp = pd.DataFrame({"replication": [0, 1], "kpi": ["utilisation.device.f.prodigy"] * 2, "value": [0.5, 0.7]})
    u = fig_utilisation(kp)
    assert u.data[0].y[0] == pytest.approx(60.0) and "%" in u.layout.yaxis.title.text
    b = pd.DataFrame({"replication": 0, "referral_h": [0.0, 1.0], "outcome_h": [30.0, 40.0],
                      "in_window": True, "outcome": ["infused", "infused"], "cause": ["infusion"] * 2,
                      "vein_to_vein_days": [20.0, 30.0]})
    assert "days" in fig_vein_to_vein(b).layout.xaxis.title.text
    assert len(fig_wip(b, "2027-01-04", 100, 10).data) == 1
    assert len(fig_outcomes(b).data) == 1
    s = pd.DataFrame({"a": [1, 1, 2, 2], "b": [3, 4, 3, 4], "kpi": "k", "mean": [1.0, 2.0, 3.0, 4.0]})
    h = fig_heatmap(s, "a", "b", "k", ["a", "b"])
    assert np.array_equal(np.asarray(h.data[0].z), [[1.0, 3.0], [2.0, 4.0]])
    assert len(fig_tornado(s, ["a", "b"], "k").data) == 2
    ans = pd.DataFrame({"d": [1, 2, 3], "met": [True, True, False], "c": [2, 4, np.nan]})
    f = fig_frontier(ans, "d", ["c"])
    assert list(f.data[0].y) == [2, 4] and f.data[1].name.startswith("no point")


def test_reports_never_import_the_simulation() -> None:
    code = ("import sys, twin.reports, twin.reports.run, twin.reports.sweep; "
            "bad = [m for m in sys.modules if m == 'simpy' or m.startswith('twin.model') or m.startswith('twin.scenario')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_comparison_figures_show_means_and_relative_paired_differences() -> None:
    from twin.reports.compare import fig_differences, fig_side_by_side

    t = pd.DataFrame({
        "layout": ["a", "a", "b", "b"], "kpi": ["throughput_per_year", "mean_wip"] * 2,
        "mean": [200.0, 20.0, 220.0, 18.0], "ci_low": [190.0, 19.0, 210.0, 17.0], "ci_high": [210.0, 21.0, 230.0, 19.0],
        "diff_mean": [0.0, 0.0, 20.0, -2.0], "diff_ci_low": [0.0, 0.0, 18.0, -3.0], "diff_ci_high": [0.0, 0.0, 22.0, -1.0],
    })
    side = fig_side_by_side(t)
    assert len(side.data) == 2 and list(side.data[0].y) == [200.0, 220.0]
    diff = fig_differences(t)
    assert len(diff.data) == 1 and list(diff.data[0].x) == pytest.approx([10.0, -10.0])  # % of a's mean
