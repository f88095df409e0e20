"""Statistical validation: Little's law, L = lambda * W, on simulated runs.

Theory: for any stable system observed over a long window, the time-average number in the
system (L) equals the rate at which entities leave it (lambda) times their mean time in the
system (W), up to edge effects of order W / window. Here L is the ``mean_wip`` KPI (integrated
from referral and outcome times), lambda is outcomes per hour in the window, W is the mean
referral-to-outcome time of those outcomes. With a 4-year window and W of about 30 days the
edge effect is about 2%, so the stated tolerance is 4%.
"""

from __future__ import annotations

import pytest
from conftest import build, centralised_data

from twin.experiments.run import run_scenario


@pytest.mark.parametrize("hazard", [0.0, 0.01])
def test_littles_law_on_centralised(hazard: float) -> None:
    data = centralised_data()
    data["horizon_days"] = 5 * 365
    data["warmup_days"] = 365
    data["dropout"]["hazard_per_day"] = hazard
    res = run_scenario(build(data), replications=2)
    warm, horizon = data["warmup_days"] * 24, data["horizon_days"] * 24
    for rep in (0, 1):
        b = res.batches[res.batches["replication"] == rep]
        left = b[(b["outcome_h"] >= warm) & (b["outcome_h"] < horizon)]
        lam = len(left) / (horizon - warm)
        w = (left["outcome_h"] - left["referral_h"]).mean()
        k = res.kpis[(res.kpis["replication"] == rep)].set_index("kpi")["value"]
        print(f"hazard {hazard} rep {rep}: L = {k['mean_wip']:.3f}, lambda = {lam * 24:.4f}/d, "
              f"W = {w / 24:.3f} d, lambda W = {lam * w:.3f}, L / (lambda W) - 1 = {k['mean_wip'] / (lam * w) - 1:+.4f}")
        assert k["mean_wip"] == pytest.approx(lam * w, rel=0.04)
