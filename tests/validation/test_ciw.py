"""Statistical validation against an independent simulator, Ciw (a test-only dependency: the
``test`` extra in pyproject.toml), on the two bundled validation scenarios.

Theory checked: two correct simulations of the same queueing system estimate the same expected
values, so the difference of their replication means is zero up to sampling noise. Each model
runs its own independent replications over the same warm-up and horizon, and counts the same
customers (those joining a station's queue in the window and starting service before the
horizon, as celltwin's wait_h_mean KPI does).

Criterion: the Welch 95% confidence interval of (celltwin mean - Ciw mean) contains 0; nominal
false-failure probability 5% per compared measure (the seeds are fixed, so the outcome is the
same on every run). We do not assert that each mean lies inside the other's 95% interval: with
equal sample sizes and variances, two correct models fail that about 13% of the time for every
measure (the difference has sqrt(2) times the spread of one mean); both intervals are reported in
docs/validation.md instead. Ciw is about ten times faster, so it runs 20 replications to
celltwin's 10, which narrows the difference interval at little cost.

Before comparing, each test checks that the two are the same queue: arrivals counted and mean
service times agree with the scenario (3% on about 18,000 to 48,000 customers, at least four
standard errors) and station 2 of the tandem starts work only on shift.
"""

from __future__ import annotations

import pytest
from queue_models import (
    MEAN_SERVICE_H,
    MMC_WARMUP_DAYS,
    TANDEM_HORIZON_H,
    TANDEM_LAMBDA,
    TANDEM_MEANS_H,
    TANDEM_SHIFT,
    TANDEM_WARMUP_H,
    celltwin_mmc,
    celltwin_tandem,
    ci,
    ciw_mmc,
    ciw_tandem,
    erlang_wq,
    welch,
)

pytest.importorskip("ciw")  # installed by the test extra; skipped only where it is missing

TWIN_REPS, CIW_REPS = 10, 20
MMC_CASE = (3, 0.7, 1000)  # mmc.yaml as bundled (the same celltwin runs as test_queueing's M/M/3)


def _agree(name: str, twin, ciw_) -> None:
    d = welch(twin, ciw_)
    assert 0.0 in d, f"{name}: celltwin {ci(twin)} vs Ciw {ci(ciw_)}, difference {d} excludes 0"


@pytest.mark.slow
@pytest.mark.xdist_group("mmc3")  # with test_queueing's M/M/3: one worker simulates the replications once
def test_mmc_mean_wait_agrees_with_ciw() -> None:
    """M/M/3 of mmc.yaml (rho = 0.7): celltwin's wait_h_mean KPI and Ciw's mean wait agree."""
    c, rho, days = MMC_CASE
    twin, other = celltwin_mmc(c, rho, days, TWIN_REPS), ciw_mmc(c, rho, days, CIW_REPS)
    lam = rho * c / MEAN_SERVICE_H
    expected_n = lam * (days - MMC_WARMUP_DAYS) * 24
    for name, runs in (("celltwin", twin), ("Ciw", other)):
        assert runs["n"].mean() == pytest.approx(expected_n, rel=0.03), f"{name}: arrivals {runs['n'].mean()}"
    _agree("M/M/3 mean wait", twin["wq"], other["wq"])
    # and both against Erlang C, as a reference point for the report (celltwin's own check is in
    # test_queueing.py): Ciw's interval holds the analytic value too
    wq = erlang_wq(c, lam, MEAN_SERVICE_H)
    assert wq in ci(other["wq"]), f"Ciw's mean wait {ci(other['wq'])} misses Erlang C {wq:.3f} h"


@pytest.mark.slow
def test_tandem_with_shift_agrees_with_ciw() -> None:
    """tandem_shift.yaml: station 1 is an M/M/2 queue (rho = 0.4) open around the clock; station 2
    has two servers only from 08:00 to 16:00 without pre-emption, which no closed form covers.
    The mean waits at both stations agree with Ciw's, and so do two shift-sensitive measures: the
    mean wait at station 2 of batches arriving there off shift, and the fraction that wait there.
    Station 1 is also checked against Erlang C (by Burke's theorem its departures, station 2's
    arrivals, are Poisson too)."""
    twin, other = celltwin_tandem(TWIN_REPS), ciw_tandem(CIW_REPS)

    # the same queue: arrival rate, service means, and station 2 starting only on shift
    expected_n = TANDEM_LAMBDA * (TANDEM_HORIZON_H - TANDEM_WARMUP_H)
    for name, runs in (("celltwin", twin), ("Ciw", other)):
        assert runs["n1"].mean() == pytest.approx(expected_n, rel=0.03), f"{name}: arrivals {runs['n1'].mean()}"
        for i, mean in ((1, TANDEM_MEANS_H[0]), (2, TANDEM_MEANS_H[1])):
            assert runs[f"s{i}"].mean() == pytest.approx(mean, rel=0.03), f"{name}: station {i} service {ci(runs[f's{i}'])}"
        assert runs["start_hour_min"].min() >= TANDEM_SHIFT[0] and runs["start_hour_max"].max() < TANDEM_SHIFT[1], name

    wq1 = erlang_wq(2, TANDEM_LAMBDA, TANDEM_MEANS_H[0])
    assert wq1 in ci(twin["w1"]), f"station 1: Erlang C Wq = {wq1:.3f} h outside celltwin's 95% CI {ci(twin['w1'])}"
    _agree("station 1 mean wait", twin["w1"], other["w1"])
    _agree("station 2 mean wait", twin["w2"], other["w2"])
    _agree("station 2 mean wait of off-shift arrivals", twin["w2_off"], other["w2_off"])
    _agree("station 2 fraction that wait", twin["p2_wait"], other["p2_wait"])
