"""Report figure builders on small fixed tables, and the rule that reports never import the model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("plotly")

from twin.reports.run_report import (
    NO_CULTURE,
    Downtime,
    GanttView,
    culture_sections,
    culture_specs,
    culture_table,
    down_group,
    fig_culture_harvest,
    fig_culture_viability,
    fig_gantt,
    fig_outage_timeline,
    fig_outcomes,
    fig_utilisation,
    fig_vein_to_vein,
    fig_wip,
    outage_segments,
    outage_table_html,
    outcome_table,
    run_report,
    site_loss_intervals,
    step_segments,
    wip_series,
)
from twin.reports.sweep_report import (
    answer_table_html,
    fig_frontier,
    fig_heatmap,
    fig_tornado,
    meets_all,
    outline_cells,
    tick,
    tornado_table,
)
from twin.results.tables import unit_down_intervals


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


def test_sweep_heatmap_writes_values_and_outlines_the_cells_meeting_every_target() -> None:
    s = pd.DataFrame({"a": [1.0, 1.0, 2.0, 2.0] * 2, "b": [3, 4, 3, 4] * 2, "kpi": ["k"] * 4 + ["j"] * 4,
                      "mean": [1.0, 2.0, 3.0, 4.0, 10, 10, 10, 0]})
    h = outline_cells(fig_heatmap(s, "a", "b", "k", ["a", "b"]),
                      meets_all(s, "a", "b", ["a", "b"], {"k": {"max": 3.5}, "j": {"min": 5}}))
    assert h.data[0].texttemplate and list(h.data[0].x) == ["1", "2"]  # integer ticks, not 1.0
    # cells meeting both: k <= 3.5 and j >= 5 -> (a=1, b=3), (a=1, b=4), (a=2, b=3); not (a=2, b=4)
    boxes = sorted((sh.x0 + 0.5, sh.y0 + 0.5) for sh in h.layout.shapes)
    assert boxes == [(0, 0), (0, 1), (1, 0)]
    assert tick(8.0) == "8" and tick(0.25) == "0.25" and tick("x") == "x"


def test_sweep_answer_table_and_frontier_read_plainly() -> None:
    ans = pd.DataFrame({"referrals.rate_per_week": [3, 6, 12], "met": [True, True, False],
                        "sites.f.devices.prodigy.count": [8.0, 12.0, np.nan], "cost": [123456.789, 150000.0, np.nan],
                        "vein_to_vein_p90_days": [36.24, 38.0, np.nan],
                        "missed": ["", "", "vein_to_vein_p90_days 84.83 > max 40 (by 44.8)"]})
    spec = {"answer": {"demand": "referrals.rate_per_week", "cost_kpi": "cost_per_dose"},
            "targets": {"vein_to_vein_p90_days": {"max": 40}}}
    t = answer_table_html(ans, spec, "EUR")
    assert "cost per dose (EUR)" in t and "123,456.8" in t and "<td>8</td>" in t and "<td>36.2</td>" in t
    assert "by 44.8" in t and "nan" not in t.lower()
    f = fig_frontier(ans, "referrals.rate_per_week", ["sites.f.devices.prodigy.count"])
    assert list(f.layout.xaxis.tickvals) == [3, 6, 12]  # only the demand levels the sweep ran


def test_reports_never_import_the_simulation() -> None:
    code = ("import sys, twin.reports, twin.reports.run_report, twin.reports.sweep_report, twin.reports.compare_report; "
            "bad = [m for m in sys.modules if m in ('simpy', 'numba') "
            "or m.startswith(('twin.model', 'twin.scenario', 'twin.kernel', 'twin.experiments'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_comparison_figures_show_means_and_relative_paired_differences() -> None:
    from twin.reports.compare_report import fig_differences, fig_side_by_side

    t = pd.DataFrame({
        "layout": ["a", "a", "b", "b"], "kpi": ["throughput_per_year", "mean_wip"] * 2,
        "mean": [200.0, 20.0, 220.0, 18.0], "ci_low": [190.0, 19.0, 210.0, 17.0], "ci_high": [210.0, 21.0, 230.0, 19.0],
        "diff_mean": [0.0, 0.0, 20.0, -2.0], "diff_ci_low": [0.0, 0.0, 18.0, -3.0], "diff_ci_high": [0.0, 0.0, 22.0, -1.0],
    })
    side = fig_side_by_side(t)
    assert len(side.data) == 2 and list(side.data[0].y) == [200.0, 220.0]
    diff = fig_differences(t)
    assert len(diff.data) == 1 and list(diff.data[0].x) == pytest.approx([10.0, -10.0])  # % of a's mean


LOG = ["replication", "time_h", "patient", "site", "step", "resource", "unit", "kind", "detail"]


def log(rows) -> pd.DataFrame:
    """An event log from (time_h, patient, site, resource, unit, kind, detail) rows."""
    return pd.DataFrame([(0, t, p, s, "", r, u, k, d) for t, p, s, r, u, k, d in rows], columns=LOG)


def test_down_reasons_are_grouped_for_the_gantt() -> None:
    assert [down_group(r) for r in ("off_shift", "absent", "vacant", "training")] == ["off duty"] * 4
    assert down_group("broken") == "breakdown"
    assert down_group("maintenance") == down_group("changeover") == "maintenance/changeover"
    assert down_group("outage:flu_wave") == "outage"


def test_gantt_draws_units_out_of_service_and_site_wide_losses() -> None:
    events = log([
        (0, -1, "f", "op", 0, "down", "off_shift"), (8, -1, "f", "op", 0, "up", "off_shift"),
        (10, -1, "f", "prodigy", 0, "down", "broken"), (20, -1, "f", "prodigy", 0, "up", "broken"),
        (12, -1, "f", "prodigy", 1, "down", "maintenance"), (14, -1, "f", "prodigy", 1, "up", "maintenance"),
        (30, -1, "f", "power", -1, "down", "blackout"), (40, -1, "f", "power", -1, "up", "blackout"),
        (30, -1, "f", "power", -1, "outage_start", "blackout"),  # not a loss: no band of its own
    ])
    down, losses = unit_down_intervals(events, 100), site_loss_intervals(events, 100)
    assert list(zip(losses["resource"], losses["start_h"], losses["end_h"])) == [("power", 30, 40)]
    held = pd.DataFrame({"patient": [0], "site": ["f"], "resource": ["prodigy"], "unit": [0],
                         "step": ["expansion"], "start_h": [0.0], "end_h": [48.0]})
    res = pd.DataFrame({"site": ["f", "f"], "name": ["prodigy", "op"], "kind": ["device", "staff"]})
    g = fig_gantt(held, res, "2027-01-04", Downtime(units=down, sites=losses))
    by_name = {t.name.split(" (")[0]: t for t in g.data}
    broken = by_name["breakdown"]
    assert list(broken.y) == ["prodigy #1 @ f"] and list(broken.x) == [10 * 3_600_000]
    assert pd.Timestamp(broken.base[0]) == pd.Timestamp("2027-01-04 10:00")
    assert list(by_name["maintenance/changeover"].y) == ["prodigy #2 @ f"]  # a row only because it was down
    assert g.data[0].name.startswith("off duty")  # drawn first: behind the holdings
    assert list(g.layout.yaxis.categoryarray) == ["prodigy #1 @ f", "prodigy #2 @ f", "op #1 @ f"]
    (band,) = g.layout.shapes
    assert pd.Timestamp(band.x0) == pd.Timestamp("2027-01-05 06:00") and pd.Timestamp(band.x1) == pd.Timestamp(
        "2027-01-05 16:00")
    assert band.yref == "y domain" and "power lost @ f" in g.layout.annotations[0].text
    plain = fig_gantt(held, res, "2027-01-04")
    assert len(plain.data) == 1 and not plain.layout.shapes


def test_gantt_caps_its_rows() -> None:
    held = pd.DataFrame({"patient": range(5), "site": "f", "resource": "prodigy", "unit": range(5),
                         "step": "expansion", "start_h": 0.0, "end_h": 1.0})
    g = fig_gantt(held, pd.DataFrame({"site": ["f"], "name": ["prodigy"], "kind": ["device"]}), "2027-01-04",
                  view=GanttView(max_rows=3))
    assert len(g.layout.yaxis.categoryarray) == 3 and sum(len(t.y) for t in g.data) == 3
    assert "3 of 5" in g.layout.title.text


def outage_fixture():
    """Two blackouts of the same label (UPS 0.25 h then power lost, grade knocked on) and a staff
    outage taking two operators: the events and the outages table results.py makes from them."""
    events = log([
        (100, -1, "f", "power", -1, "outage_start", "blackout"), (100, -1, "f", "ups", -1, "backup_start", "blackout"),
        (100.25, -1, "f", "ups", -1, "backup_end", "blackout"), (100.25, -1, "f", "power", -1, "down", "blackout"),
        (100.5, -1, "f", "grade", -1, "down", "blackout"), (110, -1, "f", "power", -1, "outage_end", "blackout"),
        (110, -1, "f", "power", -1, "up", "blackout"), (134.5, -1, "f", "grade", -1, "up", "blackout"),
        (200, -1, "f", "power", -1, "outage_start", "blackout"), (200, -1, "f", "ups", -1, "backup_start", "blackout"),
        (200.1, -1, "f", "power", -1, "outage_end", "blackout"), (200.1, -1, "f", "ups", -1, "backup_end", "blackout"),
        (150, -1, "f", "op", -1, "outage_start", "flu"), (150, -1, "f", "op", 0, "down", "outage:flu"),
        (150, -1, "f", "op", 1, "down", "outage:flu"), (160, -1, "f", "op", 0, "up", "outage:flu"),
        (165, -1, "f", "op", 1, "up", "outage:flu"), (165, -1, "f", "op", -1, "outage_end", "flu"),
    ])
    outages = pd.DataFrame({
        "replication": 0, "label": ["blackout", "flu", "blackout"], "site": "f", "what": ["power", "op", "power"],
        "start_h": [100.0, 150.0, 200.0], "end_h": [110.0, 165.0, 200.1], "backup": ["ups", "", "ups"],
        "backup_h": [0.25, 0.0, 0.1], "lost_h": [9.75, 25.0, 0.0], "knock_on": ["grade 34.0 h", "", ""],
        "batches_hit": [2, 0, 0], "patients": ["3,7", "", ""]})
    return events, outages


def test_outage_segments_add_up_to_the_outage_table() -> None:
    events, outages = outage_fixture()
    seg = outage_segments(outages, events, 1000).assign(h=lambda t: t["end_h"] - t["start_h"])
    hours = seg.groupby(["occurrence", "part"])["h"].sum()
    for i, row in outages.iterrows():
        assert hours.get((i, "backup"), 0.0) == pytest.approx(row["backup_h"])
        assert hours.get((i, "lost"), 0.0) == pytest.approx(row["lost_h"])
    assert hours[(0, "knock-on")] == pytest.approx(34.0)
    assert set(seg.loc[seg["occurrence"] == 1, "what"]) == {"op #1", "op #2"}


def test_outage_timeline_has_a_row_per_occurrence_with_backup_and_lost_segments() -> None:
    events, outages = outage_fixture()
    f = fig_outage_timeline(outages, events, "2027-01-04", 1000)
    rows = ["blackout @ f (1)", "flu @ f", "blackout @ f (2)"]  # by start
    whole = f.data[0]
    assert list(whole.y) == rows and list(f.layout.yaxis.categoryarray) == rows
    assert list(whole.x) == pytest.approx([10 * 3_600_000, 15 * 3_600_000, 0.1 * 3_600_000])
    by_name = {t.name.split(" (")[0]: t for t in f.data}
    table = outages.sort_values("start_h").set_index(pd.Index(rows))
    for name, col in (("backup carried it", "backup_h"), ("lost", "lost_h")):
        t = by_name[name]
        got = pd.Series(np.asarray(t.x, dtype=float) / 3_600_000, index=list(t.y)).groupby(level=0).sum()
        want = table[col][table[col] > 0]
        assert got.sort_index().to_dict() == pytest.approx(want.sort_index().to_dict())
    assert list(by_name["knock-on loss"].y) == ["blackout @ f (1)"]
    assert "patients: 3, 7" in whole.hovertext[0] and "backup: ups (0.25 h)" in whole.hovertext[0]
    assert "grade 34.0 h" in whole.hovertext[0] and "batches hit: 2" in whole.hovertext[0]
    assert [t.strip() for t in f.data[-1].text] == ["2 batches hit", "0 batches hit", "0 batches hit"]
    assert "date" in f.layout.xaxis.title.text and "label @ site" in f.layout.yaxis.title.text
    html = outage_table_html(outages)
    assert html.count("<tr>") == 4 and "<th>lost_h</th>" in html and "3, 7" in html  # wraps between ids


def test_run_report_shows_outages_or_says_there_were_none(tmp_path) -> None:
    import yaml
    from conftest import TINY

    from twin.cli import main

    data = yaml.safe_load(TINY)
    for name, outages in (("calm", []), ("blip", [{"name": "blip", "what": "power", "site": "f", "at_h": 20,
                                                    "duration_h": 5}])):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**data, "name": name, "outages": outages}))
        assert main(["run", str(path), "--out", str(tmp_path / name), "-q", "-r", "1"]) == 0
    calm, blip = run_report(tmp_path / "calm"), run_report(tmp_path / "blip")
    assert "No outages in this run." in calm and "Timeline of devices and staff" in calm
    assert NO_CULTURE in calm and "Cultures: viable cells at harvest" not in calm  # TINY has no end_point
    assert "No outages in this run." not in blip
    assert "Outages and the batches they hit" in blip and "Outage log" in blip and "blip" in blip


def culture_fixture():
    """Three batches of replication 0 (two cultured: one reached the target, one the maximum
    length; one without a culture) and one of replication 1, with their measure events and the
    scenario record's QC panel and recipe."""
    batches = pd.DataFrame({
        "replication": [0, 0, 0, 1], "patient": [0, 1, 2, 0],
        "culture_h": [150.0, 336.0, np.nan, 200.0], "harvest_cells": [1.6e9, 3e8, np.nan, 1.61e9],
        "harvest_viability": [0.97, 0.62, np.nan, 0.955], "harvest_contam_cfu": [0.0, 12.0, np.nan, 0.0],
        "contaminated": [False, True, False, False],
        "outcome": pd.Categorical(["infused", "failed", "lost", "in_progress"]),
        "cause": ["infusion", "qc:dose", "transfer:selection:leak", ""], "in_window": True})
    rows = []
    for rep, pat, t, end in ((0, 0, 170.0, "target"), (0, 1, 356.0, "max_length"), (1, 0, 220.0, "target")):
        b = batches[(batches["replication"] == rep) & (batches["patient"] == pat)].iloc[0]
        for res, col in (("cells", "harvest_cells"), ("viability", "harvest_viability"),
                         ("contam_cfu", "harvest_contam_cfu"), ("culture_h", "culture_h")):
            rows.append((rep, t, pat, "f", "expansion", res, -1, "measure", end, float(b[col])))
    rows.append((0, 5.0, 2, "f", "selection", "", -1, "step_start", "closed", np.nan))
    events = pd.DataFrame(rows, columns=LOG + ["value"])
    record = {"recipe": [{"name": "selection", "end_point": None},
                         {"name": "expansion", "end_point": {"target_cells": 1.6e9, "max_h": 336.0}}],
              "qc": {"tests": [{"name": "sterility", "measures": "contamination", "spec": None},
                               {"name": "dose", "measures": "dose", "spec": 5e8},
                               {"name": "viability", "measures": "viability", "spec": 0.7},
                               {"name": "endotoxin", "measures": None, "spec": None}]}}
    return batches, events, record


def test_culture_table_has_a_row_per_cultured_batch_with_how_it_ended() -> None:
    batches, events, _ = culture_fixture()
    c = culture_table(batches, events)
    assert list(zip(c["replication"], c["patient"], c["end"])) == [(0, 0, "target"), (0, 1, "max_length"),
                                                                   (1, 0, "target")]
    assert list(c["harvest_cells"]) == [1.6e9, 3e8, 1.61e9] and list(c["outcome"]) == ["infused", "failed",
                                                                                      "in_progress"]
    assert culture_table(batches.assign(culture_h=np.nan), events.iloc[:0]).empty


def test_culture_specs_come_from_the_qc_panel_and_the_end_points() -> None:
    _, _, record = culture_fixture()
    assert culture_specs(record) == {"dose": [("dose", 5e8)], "viability": [("viability", 0.7)],
                                     "target": [("expansion", 1.6e9)]}
    assert culture_specs({"recipe": [{"name": "x"}], "qc": {"tests": []}}) == {"dose": [], "viability": [],
                                                                              "target": []}


def test_culture_harvest_figure_has_markers_per_end_and_the_dose_and_target_lines() -> None:
    batches, events, record = culture_fixture()
    c, specs = culture_table(batches, events), culture_specs(record)
    f = fig_culture_harvest(c, specs["dose"], specs["target"])
    by_name = {t.name.split(" (")[0]: t for t in f.data}
    target, longest = by_name["target reached"], by_name["maximum length reached"]
    assert target.mode == "markers" and list(target.x) == [150.0, 200.0] and list(target.y) == [1.6e9, 1.61e9]
    assert list(longest.x) == [336.0] and list(longest.y) == [3e8]
    assert target.marker.color != longest.marker.color
    hover = longest.hovertext[0]
    assert "patient 1" in hover and "viability 0.620" in hover and "12 CFU (contaminated)" in hover
    assert "failed (qc:dose)" in hover and "max_length" in hover
    assert "still in process" in target.hovertext[1] and "contaminated" not in target.hovertext[0]
    dose, tgt = by_name["dose spec: dose"], by_name["target: expansion"]
    assert list(dose.y) == [5e8, 5e8] and list(tgt.y) == [1.6e9, 1.6e9]
    assert dose.line.dash == tgt.line.dash == "dash" and list(dose.x) == list(f.layout.xaxis.range)
    assert f.layout.yaxis.type == "log" and "viable cells at harvest" in f.layout.yaxis.title.text
    assert f.layout.xaxis.title.text == "culture length (h)"
    assert len(fig_culture_harvest(c).data) == 2  # no specs, no lines
    capped = fig_culture_harvest(c, max_points=2)  # whole replications only: replication 0
    assert sum(len(t.x) for t in capped.data) == 2 and "replications 0 of 2 shown" in capped.layout.title.text


def test_culture_viability_histogram_marks_the_spec() -> None:
    batches, events, record = culture_fixture()
    f = fig_culture_viability(culture_table(batches, events), culture_specs(record)["viability"])
    assert [len(t.x) for t in f.data] == [2, 1] and f.data[0].name.startswith("target reached")
    (line,) = f.layout.shapes
    assert line.x0 == line.x1 == 0.7 and line.line.dash == "dash"
    assert "spec 0.7" in f.layout.annotations[0].text
    assert f.layout.xaxis.title.text == "viability at harvest (fraction)" and f.layout.yaxis.title.text
    assert not fig_culture_viability(culture_table(batches, events)).layout.shapes


def test_culture_sections_draw_two_figures_or_say_there_is_no_culture_model() -> None:
    batches, events, record = culture_fixture()
    harvest, viability = culture_sections(batches, events, record)
    assert harvest.heading.startswith("Cultures") and viability.heading.startswith("Cultures")
    assert harvest.figure is not None and viability.figure is not None
    assert "3 batches of 2 replication(s)" in harvest.caption and "dose spec" in harvest.caption
    (none,) = culture_sections(batches.assign(culture_h=np.nan), events[events["kind"] != "measure"], record)
    assert none.heading == "Cultures" and none.figure is None and NO_CULTURE in none.html


def test_the_run_report_warns_when_replications_are_too_few_for_intervals() -> None:
    from twin.reports.run_report import few_replications_note

    assert "Too few replications" in few_replications_note(2) and "12.7" in few_replications_note(2)
    assert "no confidence interval" in few_replications_note(1)
    assert few_replications_note(5) == ""


def test_the_key_figures_say_too_few_replications_once() -> None:
    from twin.reports.run_report import kpi_table_html
    from twin.results.stats import few_replications_warning, summary_warnings

    summary = pd.DataFrame(columns=["kpi", "warning"])
    data = {"kpis": {}, "warnings": [*summary_warnings(summary, 2), "interval wider than the mean: x"]}
    page = kpi_table_html(data, noted=few_replications_warning(2))
    assert "only 2 replications" not in page and "interval wider than the mean" in page
    assert "only 2 replications" in kpi_table_html(data)  # the console and summary.json keep it


def test_report_tables_wrap_between_words_never_inside_one() -> None:
    from twin.reports.page import PAGE_CSS
    from twin.reports.run_report import outage_table_html

    o = pd.DataFrame({"replication": [0], "label": ["co2 supply failure"], "site": ["central_factory"],
                      "what": ["co2"], "start_h": [10.0], "end_h": [20.0], "backup": ["bottles"], "backup_h": [5.0],
                      "lost_h": [5.0], "knock_on": [""], "batches_hit": [3], "patients": ["12,13,14"]})
    t = outage_table_html(o)
    assert "break-word" not in t and "12, 13, 14" in t
    assert "white-space: nowrap" in PAGE_CSS


def test_the_outage_timeline_zooms_to_each_outage() -> None:
    from twin.reports.run_report import fig_outage_timeline

    o = pd.DataFrame({"replication": [0, 0], "label": ["dip", "blackout"], "site": ["f", "f"], "what": ["power"] * 2,
                      "start_h": [100.0, 5000.0], "end_h": [101.0, 5010.0], "backup": ["ups", "none"],
                      "backup_h": [1.0, 0.0], "lost_h": [0.0, 10.0], "knock_on": ["", ""], "batches_hit": [0, 2],
                      "patients": ["", "3,4"]})
    ev = pd.DataFrame(columns=["replication", "time_h", "patient", "site", "step", "resource", "unit", "kind",
                               "detail", "value"])
    fig = fig_outage_timeline(o, ev, "2027-01-04", 8760.0)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons][0] == "all outages" and len(buttons) == 3
    lo, hi = (pd.Timestamp(t) for t in buttons[2].args[0]["xaxis.range"])
    blackout = pd.Timestamp("2027-01-04") + pd.Timedelta(hours=5000)
    assert lo < blackout < hi and hi - lo < pd.Timedelta(days=3)  # zoomed to hours, not the year


def test_gantt_colours_steps_by_phase() -> None:
    from twin.reports.run_report import phase_colours, step_phase

    steps = ["apheresis", "receipt", "transfer:selection", "selection", "expansion", "cryopreservation",
             "qc:sterility", "qc:endotoxin", "release", "infusion"]
    assert [step_phase(s) for s in steps] == ["collection", "logistics", "logistics", "manufacture", "manufacture",
                                              "manufacture", "QC", "QC", "release", "infusion"]
    colours = phase_colours(steps)
    assert len(set(colours.values())) == len(steps)  # every step still told apart

    def rgb(c: str) -> tuple[int, ...]:
        return tuple(int(float(v)) for v in c[c.index("(") + 1:-1].split(","))

    blue = [rgb(colours[s]) for s in ("selection", "expansion", "cryopreservation")]
    green = [rgb(colours[s]) for s in ("qc:sterility", "qc:endotoxin")]
    assert all(b[2] > b[0] for b in blue) and all(g[1] > g[0] and g[1] > g[2] for g in green)
    held = pd.DataFrame({"replication": 0, "site": "f", "resource": "prodigy", "unit": 0, "patient": [1, 2],
                         "step": ["selection", "qc:sterility"], "start_h": [0.0, 10.0], "end_h": [5.0, 20.0]})
    g = fig_gantt(held, pd.DataFrame({"site": ["f"], "name": ["prodigy"], "kind": ["device"]}), "2027-01-04")
    assert {t.name: t.legendgroup for t in g.data} == {"selection": "manufacture", "qc:sterility": "QC"}


def test_gantt_staff_rows_show_on_duty_bands_under_the_hands_on_work() -> None:
    from twin.reports.run_report import Downtime, on_duty_bands

    off = pd.DataFrame({"row": ["op #1 @ f"] * 2, "start_h": [16.0, 40.0], "end_h": [32.0, 56.0]})
    bands = on_duty_bands(off, ["op #1 @ f", "op #2 @ f"], 64.0)
    assert bands.values.tolist() == [["op #1 @ f", 0.0, 16.0], ["op #1 @ f", 32.0, 40.0], ["op #1 @ f", 56.0, 64.0],
                                     ["op #2 @ f", 0.0, 64.0]]
    held = pd.DataFrame({"replication": 0, "site": "f", "resource": "op", "unit": 0, "patient": [1],
                         "step": ["selection"], "start_h": [2.0], "end_h": [4.0]})
    down = pd.DataFrame({"site": "f", "resource": "op", "unit": 0, "start_h": [16.0], "end_h": [32.0],
                         "detail": ["off_shift"]})
    res = pd.DataFrame({"site": ["f"], "name": ["op"], "kind": ["staff"]})
    g = fig_gantt(held, res, "2027-01-04", Downtime(units=down, horizon_h=48.0))
    names = [t.name for t in g.data]
    assert names[0] == "on duty (staff)" and "selection" in names  # the band is drawn first, under the work
    assert not any(n and n.startswith("off duty") for n in names)  # no grey smear on staff rows
    assert len(g.data[0].y) == 2  # on duty 0-16 h and 32-48 h
