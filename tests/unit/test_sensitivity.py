"""Honest sensitivity in sweeps (issue 18): SRC and PRCC recover a known linear response, a
one-at-a-time design moves one axis at a time, and on the bundled stress sweep the Prodigy count
comes first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SCENARIOS

from twin.results.sensitivity import oat_table, sensitivity


def test_src_and_prcc_recover_the_order_and_signs_of_a_linear_response() -> None:
    rng = np.random.default_rng(5)
    n = 40
    x = rng.random((n, 4))
    coefs = np.array([3.0, -2.0, 0.7, 0.0])
    y = x @ coefs + rng.normal(0, 0.1, n)
    pts = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(y=y)
    s = sensitivity(pts, ["a", "b", "c", "d"], "y")
    src = s[s["measure"] == "SRC"].set_index("axis")
    prcc = s[s["measure"] == "PRCC"].set_index("axis")
    assert list(src.index) == ["a", "b", "c", "d"]  # ordered by |SRC|, largest first
    assert np.sign(src.loc[["a", "b", "c"], "value"]).tolist() == [1, -1, 1]
    assert np.sign(prcc.loc[["a", "b", "c"], "value"]).tolist() == [1, -1, 1]
    assert src.loc["a", "ci_low"] > src.loc["c", "ci_high"]
    assert src.loc["d", "ci_low"] < 0 < src.loc["d", "ci_high"]  # no effect: its interval holds 0
    assert src["r2"].iloc[0] > 0.95


def test_the_one_at_a_time_design_moves_one_axis_at_a_time(tmp_path) -> None:
    from twin.experiments.sweep.spec import load_sweep

    f = tmp_path / "oat.yaml"
    f.write_text(yaml.safe_dump({
        "name": "oat", "base": str(SCENARIOS / "centralised.yaml"), "design": "oat",
        "axes": {"sites.central_factory.devices.clinimacs_prodigy.count": {"range": [9, 15, 1]},
                 "referrals.rate_per_week": [4, 5, 6]}}))
    plan = load_sweep(f)
    pts = pd.DataFrame(plan.points).rename(columns={"sites.central_factory.devices.clinimacs_prodigy.count": "n",
                                                    "referrals.rate_per_week": "rate"})[["n", "rate"]]
    assert len(pts) == 5 and {tuple(r) for r in pts.to_numpy()} == {(12, 5), (9, 5), (15, 5), (12, 4), (12, 6)}
    pts["y"] = 100 - 3 * pts["n"] + 10 * pts["rate"]
    t = oat_table(pts, ["n", "rate"], "y").set_index("axis")
    assert t.loc["n", "kpi_at_low"] - t.loc["n", "kpi_at_base"] == 9  # 3 fewer units, +9
    assert t.loc["n", "swing"] == 18 and t.loc["rate", "swing"] == 20
    assert list(t.index) == ["n", "rate"]  # smallest swing first: a tornado draws the largest on top


@pytest.mark.slow
@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_on_the_bundled_stress_sweep_the_device_count_ranks_first(tmp_path) -> None:
    from twin import api
    from twin.experiments.sweep.answer import sensitivity_table

    spec = yaml.safe_load((SCENARIOS / "sweeps" / "outage_stress.yaml").read_text())
    spec["base"] = str(SCENARIOS / "centralised.yaml")
    spec["set"].update({"horizon_days": 150, "warmup_days": 30})  # small: a shorter run, fewer points
    spec.update({"samples": 24, "replications": 1})
    f = tmp_path / "stress.yaml"
    f.write_text(yaml.safe_dump(spec))
    sw = api.sweep(f, workers=2, out=tmp_path / "out")
    sens = sensitivity_table(sw.plan, sw.summary, ["vein_to_vein_p90_days"])
    src = sens[(sens["measure"] == "SRC") & (sens["kpi"] == "vein_to_vein_p90_days")]
    assert src.iloc[0]["axis"] == "sites.central_factory.devices.clinimacs_prodigy.count"
    assert src.iloc[0]["value"] < 0 and src.iloc[0]["ci_high"] < 0  # more units, shorter p90
    assert (tmp_path / "out" / "sensitivity.csv").exists()
    from twin.reports import write_report

    html = write_report(tmp_path / "out").read_text()
    assert "standardised regression coefficient" in html and "at its lowest" not in html
