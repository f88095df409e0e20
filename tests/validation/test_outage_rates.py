"""Statistical validation of the stochastic failure mechanisms against theory, over a 100-year
run of a facility with one patient (so nothing but the mechanisms acts):

* outages at ``rate_per_year`` are a Poisson process: the count lies inside the exact 99.9%
  Poisson interval and the mean duration within 4 standard errors of the distribution's mean;
* breakdowns with exponential times between failures and fixed repairs form an alternating
  renewal process: failures per unit ~ T / (MTBF + MTTR) (variance T sd^2 / (MTBF+MTTR)^3) and
  availability MTBF / (MTBF + MTTR);
* daily absence with probability p: absent person-days are Binomial(person-days, p).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import build, tiny_data
from scipy import stats

from twin.model import simulate
from twin.results.collect import replication_tables

pytestmark = pytest.mark.slow

YEARS = 100


def _long_facility() -> dict:
    d = tiny_data()
    d["horizon_days"] = 365 * YEARS
    d["referrals"] = {"times_h": [0.0]}
    return d


def test_stochastic_outages_occur_at_their_rate_with_their_mean_duration() -> None:
    """Theory: Poisson process of rate 12/year over 100 years; lognormal durations mean 2 h, sd 1 h."""
    d = _long_facility()
    d["outages"] = [{"name": "grid", "what": "power", "site": "f", "rate_per_year": 12,
                     "duration_h": {"dist": "lognormal", "mean": 2, "sd": 1}}]
    t = replication_tables(simulate(build(d), 0))
    o = t.outages
    n, expected = len(o), 12 * 365 * YEARS * 24 / 8760
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], expected)
    assert lo <= n <= hi, (n, expected)
    dur = o["end_h"] - o["start_h"]
    print(f"outages: {n} vs {expected:.0f} expected, 99.9% interval [{lo:.0f}, {hi:.0f}]; "
          f"mean duration {dur.mean():.4f} h vs 2 (se {1 / math.sqrt(n):.4f})")
    assert abs(dur.mean() - 2.0) <= 4 * 1.0 / math.sqrt(n)
    # No backups in the tiny facility: every outage hour is a lost hour.
    assert o["lost_h"].sum() == pytest.approx(dur.sum())


def test_breakdowns_follow_the_alternating_renewal_process() -> None:
    """Theory: MTBF 200 h (exponential) and MTTR 20 h (fixed) give T/220 failures per unit with
    variance T 200^2 / 220^3, and availability 200/220 = 0.909."""
    d = _long_facility()
    d["sites"]["f"]["devices"]["clinimacs_prodigy"] = {"count": 2, "override": {
        "changeover_h": None, "maintenance": None,
        "failure": {"time_between_h": {"dist": "exponential", "mean": 200}, "repair_h": 20}}}
    raw = simulate(build(d), 0)
    t = replication_tables(raw)
    e = t.events
    horizon = raw.horizon_h
    mean, sd = horizon / 220, math.sqrt(horizon * 200**2 / 220**3)
    for unit in (0, 1):
        n = int(((e["kind"] == "down") & (e["detail"] == "broken") & (e["unit"] == unit)).sum())
        print(f"unit {unit}: {n} failures vs {mean:.1f} expected (sd {sd:.1f})")
        assert abs(n - mean) <= 4 * sd, (unit, n, mean, sd)
    avail = t.kpis["availability.device.f.clinimacs_prodigy"]
    print(f"availability {avail:.5f} vs {200 / 220:.5f}")
    # Availability over 2 units x 3,982 cycles: its sd is about 0.0011.
    assert avail == pytest.approx(200 / 220, abs=0.005)


def test_daily_absence_is_binomial() -> None:
    """Theory: each person-day absent with p = 0.05: the count of absent person-days is
    Binomial(days x people, 0.05); it lies inside the exact 99.9% interval.

    Absent person-days are the absent hours (from each person's down to up) / 24, not the
    number of "down" events: a person absent two days running is down once, for 48 h, so the
    events count runs of absence (an absent day after a present one), whose mean is
    n q with n = days x people and q = p (1 - p). Checked here too: the run count lies inside the
    99.9% Binomial(n, q) interval, which is conservative (adjacent days' run indicators are
    negatively correlated, so the exact variance is n q (1 - 3q) < n q (1 - q))."""
    d = _long_facility()
    d["sites"]["f"]["staff"]["op"] = {"count": 3, "absence_per_day": 0.05, "always_on_duty": True}
    raw = simulate(build(d), 0)
    e = replication_tables(raw).events
    a = e[(e["detail"] == "absent") & (e["resource"] == "op")]
    absent_h, runs = 0.0, 0
    for _, g in a.groupby("unit"):
        down = g.loc[g["kind"] == "down", "time_h"].to_numpy()
        up = g.loc[g["kind"] == "up", "time_h"].to_numpy()
        up = np.append(up, [raw.horizon_h] * (len(down) - len(up)))  # absent at the horizon
        absent_h += float((up - down).sum())
        runs += len(down)
    n = absent_h / 24
    days = 3 * int(raw.horizon_h // 24)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], days, 0.05)
    rlo, rhi = stats.binom.ppf([0.0005, 0.9995], days, 0.05 * 0.95)
    print(f"absent person-days {n:.0f} vs {days * 0.05:.1f} expected, 99.9% interval [{lo:.0f}, {hi:.0f}]; "
          f"absence runs {runs} vs {days * 0.05 * 0.95:.1f}, interval [{rlo:.0f}, {rhi:.0f}]")
    assert n == pytest.approx(round(n), abs=1e-6)  # whole days, midnight to midnight
    assert lo <= n <= hi, (n, days * 0.05)
    assert rlo <= runs <= rhi, (runs, days * 0.05 * 0.95)
