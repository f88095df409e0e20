"""Statistical validation of the engine against queueing theory (Erlang C), run from the bundled
scenario scenarios/validation/mmc.yaml.

mmc.yaml reduces the twin to one device type with ``c`` units, exponential service (mean 10 h),
Poisson referrals, no staff limits and zero-length other steps: an M/M/c queue in front of the
Prodigy pool. Each case here is that file with ``--set``-style overrides of the unit count, the
referral rate and the horizon. Theory (Erlang C), with offered load a = lambda / mu, rho = a / c:

    P(wait) = C(c, a) = [a^c / c! * c / (c - a)] / [sum_{k<c} a^k / k! + a^c / c! * c / (c - a)]
    Wq      = C(c, a) / (c * mu - lambda)      mean wait in queue (hours)
    W       = Wq + 1 / mu                      mean time in the device, queue to step end
    utilisation = rho

Criteria, each with its false-failure probability (the chance that a correct model fails it;
the seeds are fixed, so the outcome is the same on every run):

* Wq lies inside the 95% Student-t confidence interval over 10 replications of the simulated
  mean wait (the wait_h_mean KPI): 5% by construction, in every case.
* The utilisation point estimate (utilisation KPI) is within 3% of rho: below 1e-4 in every case.
* The mean time in the device is within 3% of W, in M/M/1 and M/M/8: about 0.8% in each.

Why the 3% point check is not applied to the mean wait itself. The mean of n correlated waits has
variance about K * Wq^2 / n for large n, where K is the relative asymptotic variance per customer.
For M/M/1, K = (2 + 5 rho - 4 rho^2 + rho^3) / (rho (1 - rho)^2) (Blomqvist 1967): at least 21
for any rho, 39 at rho = 0.6; for M/M/3 at rho = 0.7 it is about 100 (estimated from 200
replications of a reference simulation). A point estimate within 3% with a 1% false-failure
probability needs 2.576 * sqrt(K / n) <= 0.03, i.e. n >= 7,400 K customers: 160,000 for the best
M/M/1 and 750,000 for M/M/3, against about 130,000 for this file and test_ciw.py together (the
suite's budget for them is about 90 s, and celltwin simulates about 2,000 patients a second).
The time in the device adds the service time, which is much less variable relative to its size:
K is about 6 for M/M/1 at rho = 0.4 and 4 for M/M/8 at rho = 0.7, so 47,000 and 34,000 customers
give the 0.8% above. For the bundled M/M/3 (rho = 0.7) K is about 16: the 48,000 customers of 10
replications of 1000 days give a 10% false-failure probability and 1% would need 116,000 (about
80 s more), so there the time in the device is reported (docs/validation.md), not point-checked.
"""

from __future__ import annotations

import pytest
from queue_models import MEAN_SERVICE_H, celltwin_mmc, ci, erlang_wq

REPLICATIONS = 10

# (c, rho, horizon_days): the bundled case as it is, M/M/1 at a lighter load and a longer horizon
# (so that the time in the device carries the 3% check), and a case with c = 8.
CASES = {
    "M/M/1": (1, 0.4, 5000),
    "M/M/3": (3, 0.7, 1000),  # mmc.yaml as bundled: count 3, 35.28 referrals a week, 1000 days
    "M/M/8": (8, 0.7, 300),
}
POINT_CHECK_W = {"M/M/1", "M/M/8"}


# The M/M/3 case runs on the same xdist worker as test_ciw's M/M/3 comparison (group "mmc3"),
# so the suite simulates its 10 replications once (queue_models caches them per process).
@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xdist_group("mmc3")) if c == "M/M/3" else c
                                  for c in CASES])
def test_mmc_wait_and_utilisation_match_erlang_c(case: str) -> None:
    """Erlang C: Wq in the simulated 95% CI; utilisation (and, where the sample allows, the
    mean time in the device) within 3% of theory. See the module docstring for the arithmetic."""
    c, rho, days = CASES[case]
    runs = celltwin_mmc(c, rho, days, REPLICATIONS)
    lam = rho * c / MEAN_SERVICE_H
    wq = erlang_wq(c, lam, MEAN_SERVICE_H)

    wait = ci(runs["wq"])
    assert wq in wait, f"{case}: Erlang C Wq = {wq:.3f} h outside the simulated 95% CI {wait}"

    util = ci(runs["util"])
    assert util.mean == pytest.approx(rho, rel=0.03), f"{case}: utilisation {util} vs rho = {rho}"

    # the model's step is the exponential it was given (else the comparison means nothing)
    service = ci(runs["service"])
    assert service.mean == pytest.approx(MEAN_SERVICE_H, rel=0.03), f"{case}: mean service {service} h"

    if case in POINT_CHECK_W:
        w = ci(runs["w"])
        assert w.mean == pytest.approx(wq + MEAN_SERVICE_H, rel=0.03), (
            f"{case}: mean time in the device {w} vs W = {wq + MEAN_SERVICE_H:.3f} h")
