"""Comparing layouts with common random numbers: paired differences a planner can trust."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS, build, centralised_data, fixed_expansion, no_leaks

from twin.cli import main
from twin.experiments.compare import compare
from twin.experiments.run import run_scenario


def test_a_layout_compared_with_itself_differs_by_exactly_zero() -> None:
    res = compare([build(centralised_data()), build(centralised_data())], replications=3)
    same = res.table[res.table["layout"] == res.names[1]].dropna(subset=["diff_mean"])
    assert res.names == ["centralised", "centralised-2"]
    assert len(same) > 10
    assert (same["diff_mean"] == 0).all()
    assert (same["diff_ci_low"] == 0).all() and (same["diff_ci_high"] == 0).all()


def test_zero_transit_removes_exactly_the_courier_time_from_each_patient() -> None:
    """With capacity that never binds and devices that never break (breakdowns happen at
    calendar times, so moving a batch in time changes what it meets), setting every transit to
    zero shortens each patient's vein-to-vein time by exactly that patient's two courier legs
    (common random numbers per patient make this an identity, not a statistical statement)."""
    def ample(transit_zero: bool) -> dict:
        d = centralised_data()
        site = d["sites"]["central_factory"]
        site["devices"] = {k: {"count": 200, "override": {"failure": None, "maintenance": None}}
                           for k in site["devices"]}
        site["utilities"].pop("ln2")  # 200 units would drain the tank
        no_leaks(d)
        fixed_expansion(d)  # the culture ends on the hourly tick, so moving it in time moves its end
        # people on duty around the clock with no rota (an idealisation): a rota's 8-h shifts would
        # make a hands-on task's wait depend on the hour it comes due
        ideal = {"count": 200, "always_on_duty": True}
        site["staff"] = {k: dict(ideal) for k in site["staff"]}
        h = d["sites"]["city_hospital"]
        h.update(apheresis_chairs=200, infusion_slots=200, staff={k: dict(ideal) for k in h["staff"]})
        d["dropout"]["hazard_per_day"] = 0.0
        if transit_zero:
            for lane in d["couriers"]:
                lane["transit_h"] = 0
        return d

    a = run_scenario(build(ample(False)), replications=1).batches.set_index("patient")
    b = run_scenario(build(ample(True)), replications=1).batches.set_index("patient")
    both = a.index[a["vein_to_vein_days"].notna() & b["vein_to_vein_days"].notna()]
    assert len(both) > 200
    courier_h = (a["ship_to_factory_end_h"] - a["ship_to_factory_start_h"]
                 + a["ship_to_hospital_end_h"] - a["ship_to_hospital_start_h"])[both]
    saved_h = (a["vein_to_vein_days"] - b["vein_to_vein_days"])[both] * 24
    assert courier_h.min() > 20  # the check has teeth: every patient had real transit
    np.testing.assert_allclose(saved_h, courier_h, atol=1e-6)


def test_paired_interval_is_narrower_than_the_independent_ones() -> None:
    """The point of common random numbers: the paired difference's interval is much narrower
    than either layout's own interval (under half: fresh material lost past its hold while it
    queues for a Prodigy makes the difference four more units make genuinely variable)."""
    more = centralised_data()
    more["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] = 18
    more["name"] = "more"
    res = compare([build(centralised_data()), build(more)], replications=4)
    row = res.table[(res.table["layout"] == "more") & (res.table["kpi"] == "throughput_per_year")].iloc[0]
    assert (row["diff_ci_high"] - row["diff_ci_low"]) < 0.5 * (row["ci_high"] - row["ci_low"])


def test_layouts_with_different_patients_are_refused(tmp_path, capsys) -> None:
    text = (SCENARIOS / "centralised.yaml").read_text()
    other = tmp_path / "other.yaml"
    other.write_text(text.replace("rate_per_week: 6", "rate_per_week: 7"))
    assert main(["compare", str(SCENARIOS / "centralised.yaml"), str(other), "-r", "2"]) == 2
    err = capsys.readouterr().err
    assert "'referrals' differs" in err and "common random numbers" in err


def test_compare_cli_writes_each_layout_and_the_table(tmp_path, capsys) -> None:
    import pandas as pd

    more = tmp_path / "more.yaml"
    more.write_text((SCENARIOS / "centralised.yaml").read_text()
                    .replace("name: centralised", "name: more").replace("count: 14}", "count: 18}")
                    .replace("horizon_days: 365", "horizon_days: 200"))
    base = tmp_path / "base.yaml"
    base.write_text((SCENARIOS / "centralised.yaml").read_text().replace("horizon_days: 365", "horizon_days: 200"))
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(more), "-r", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "change vs centralised" in captured.out
    assert "more: replication 2/2 done" in captured.err  # progress while it runs
    table = pd.read_parquet(out / "comparison.parquet")
    assert set(table["layout"]) == {"centralised", "more"}
    for name in ("centralised", "more"):
        assert (out / "layouts" / name / "summary.json").exists()
    util = table[(table["layout"] == "more") & (table["kpi"] == "utilisation.device.central_factory.clinimacs_prodigy")]
    assert util["diff_mean"].iloc[0] < -0.05  # 2 replications: the interval is flagged not usable
    assert pytest.approx(0) == table[(table["layout"] == "centralised")]["diff_mean"].dropna().abs().max()


LAYOUTS = [SCENARIOS / "layouts" / f"{n}.yaml" for n in ("centralised", "point_of_care", "hybrid")]


def test_costs_add_up_and_labour_is_paid_hours_times_rates() -> None:
    from twin.scenario.loading import load_scenario

    loaded = load_scenario(LAYOUTS[2])
    res = run_scenario(loaded, replications=2)
    sc = loaded.scenario
    years = (sc.horizon_days - sc.warmup_days) / 365
    # every person paid their contract hours over the window (no turnover here), overtime on top
    weeks = (sc.horizon_days - sc.warmup_days) / 7
    paid = sum(s.count * s.contract_h_per_week * weeks * sc.costs.labour_per_h[r]
               for site in sc.sites.values() for r, s in site.staff.items())
    for rep in (0, 1):
        k = res.kpis[res.kpis["replication"] == rep].set_index("kpi")["value"]
        parts = k[[f"cost.{c}" for c in ("capital", "cleanroom", "labour", "consumables", "qc", "courier", "overhead")]]
        assert parts.sum() == pytest.approx(k["cost.total"])
        assert paid - 1e-6 <= k["cost.labour"] <= 1.15 * paid
        assert k["cost_per_dose"] == pytest.approx(k["cost.total"] / (k["throughput_per_year"] * years))
        # courier: one shipment each way per batch that travelled in the window
        assert k["cost.courier"] % sc.costs.per_shipment == 0 and k["cost.courier"] > 0


def test_bundled_layouts_share_their_patients() -> None:
    from twin.scenario.loading import load_scenario

    res = compare([load_scenario(p) for p in LAYOUTS], replications=2)
    referred = res.table[res.table["kpi"] == "referred"]
    assert (referred["diff_mean"] == 0).all() and referred["mean"].nunique() == 1
    poc = res.table[(res.table["layout"] == "point_of_care") & (res.table["kpi"] == "cost.courier")]
    assert poc["mean"].iloc[0] == 0  # no couriers at the point of care
    hospitals = {tuple(sorted(r.batches["hospital"].unique())) for r in res.runs}
    assert hospitals == {("city_hospital", "coast_hospital", "north_hospital")}


def _synthetic_table(names: list[str]):
    """A comparison table as twin.experiments.compare makes it, with costs (capital fixed)."""
    import pandas as pd

    from twin.results.kpis import HEADLINE

    rows = []
    for i, n in enumerate(names):
        for k in [k for k, _, _ in HEADLINE] + ["cost_per_dose", "cost.total", "cost.capital", "cost.qc"]:
            m = 1_020_566.2 if k == "cost.capital" else 8_645_068.3 + i if k.startswith("cost") else 33.8 + i
            half = 0.0 if k == "cost.capital" else 0.1 * m
            rows.append({"layout": n, "kpi": k, "n": 5, "mean": m, "ci_low": m - half, "ci_high": m + half,
                         "diff_n": 5, "diff_mean": float(i), "diff_ci_low": i - 0.5, "diff_ci_high": i + 0.5})
    return pd.DataFrame(rows)


def test_the_compare_table_fits_100_columns_with_currency_and_fixed_costs_without_intervals() -> None:
    from twin.cli import comparison_text

    names = ["centralised", "point_of_care", "hybrid", "hybrid_with_more_hubs"]
    text = comparison_text(_synthetic_table(names), names, "EUR", width=100)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert all(n in text for n in names)  # layouts that do not fit go into a second block
    assert any(line.strip().startswith("cost per dose (EUR)") for line in lines)
    capital = next(line for line in lines if line.strip().startswith("capital"))
    assert "1,020,566" in capital and "±" not in capital and "[" not in capital
    assert any("change vs centralised" in line for line in lines)
    chosen = comparison_text(_synthetic_table(names[:2]), names[:2], "EUR", ["vein_to_vein_p90_days"], width=100)
    assert "vein-to-vein p90 (days)" in chosen and "infused" not in chosen


def test_compare_refuses_an_unknown_kpi_before_anything_runs(tmp_path, capsys, monkeypatch) -> None:
    import twin.experiments.run as run_module

    monkeypatch.setattr(run_module, "run_scenario", lambda *a, **k: pytest.fail("ran"))
    path = SCENARIOS / "centralised.yaml"
    assert main(["compare", str(path), str(path), "--kpis", "v2v_p90,infused", "--out", str(tmp_path / "c")]) == 2
    assert "no run reports a KPI named 'v2v_p90'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_comparison_report_has_a_numeric_table(tmp_path) -> None:
    from twin.reports.compare_report import comparison_table_html

    html = comparison_table_html(_synthetic_table(["a", "b"]), "EUR")
    assert "cost per dose (EUR)" in html and "<th>b − a</th>" in html
    assert "<td>1,020,566</td>" in html  # a fixed cost: no interval
    assert "33.80 [30.42, 37.18]" in html and "+1 [0.50, 1.50]" in html
