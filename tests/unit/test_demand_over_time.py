"""Demand over time (issue 21 item 1): rate tables, growth, hospitals that join, drawn by thinning
with today's common random numbers; and KPIs per period (item 3)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from conftest import build, centralised_data, multisite_data

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.experiments.sweep.spec import kpi_names
from twin.model import simulate
from twin.model.world import World
from twin.results.collect import replication_tables
from twin.scenario.locate import ScenarioError

D = dt.date.fromisoformat  # YAML reads a date as a date
START = dt.date(2027, 1, 4)  # the centralised scenario's start_date


def _times(d: dict, reps: range) -> list[np.ndarray]:
    """Referral times (h) of replications ``reps``: only the arrivals, no facility simulated."""
    loaded = build(d)
    return [World(loaded, r).referral_times() for r in reps]


def _hours(d: dt.date) -> float:
    return (d - START).days * HOURS_PER_DAY


def test_a_constant_rate_table_gives_todays_referrals_exactly() -> None:
    today = _times(centralised_data(), range(3))
    d = centralised_data()
    d["referrals"] = {"rates": [{"date": D("2027-06-01"), "per_week": 6}], "interpolation": "step"}
    assert all(np.array_equal(a, b) for a, b in zip(today, _times(d, range(3))))
    d["referrals"] = {"rate_per_week": 6, "growth_per_year": 0}
    assert all(np.array_equal(a, b) for a, b in zip(today, _times(d, range(3))))


@pytest.mark.parametrize("referrals", [
    {"rates": [{"date": D("2027-01-04"), "per_week": 2}, {"date": D("2027-12-27"), "per_week": 20}]},
    {"rates": [{"date": D("2027-01-04"), "per_week": 2}, {"date": D("2027-07-05"), "per_week": 12}], "interpolation": "step"},
    {"rate_per_week": 3, "growth_per_year": 0.4},
])
def test_counts_per_period_match_the_integrated_rate(referrals: dict) -> None:
    d = centralised_data()
    d["horizon_days"], d["referrals"] = 364, referrals
    sc = build(d).scenario
    reps = 200
    times = np.concatenate(_times(d, range(reps)))
    for a in range(0, 364, 91):  # quarters of 13 weeks
        lo, hi = a * HOURS_PER_DAY, (a + 91) * HOURS_PER_DAY
        grid = np.linspace(lo, hi, 2001)
        expected = reps * np.trapezoid(sc.referrals.rate_per_week_at(START, grid), grid) / HOURS_PER_WEEK
        seen = int(((times >= lo) & (times < hi)).sum())
        assert abs(seen - expected) < 4 * math.sqrt(expected), (a, seen, expected)  # Poisson, 4 sd


def test_a_hospital_that_joins_gets_no_referral_before_its_date() -> None:
    d = multisite_data("nearest")
    d["horizon_days"] = 364
    d["referrals"]["joins"] = {"west": D("2027-07-05")}
    joined = _hospitals(d, range(20))
    before = [h for t, h in joined if t < _hours(dt.date(2027, 7, 5))]
    after = [h for t, h in joined if t >= _hours(dt.date(2027, 7, 5))]
    assert before and "west" not in before
    assert after.count("west") / len(after) == pytest.approx(1 / 6, abs=0.04)  # its share, 1 of 3 + 2 + 1


def test_a_share_table_moves_the_hospital_mix_over_time() -> None:
    d = multisite_data("nearest")
    d["horizon_days"] = 364
    d["referrals"]["hospitals"]["west"] = [{"date": D("2027-01-04"), "share": 0}, {"date": D("2027-12-27"), "share": 5}]
    mix = _hospitals(d, range(20))
    first = [h for t, h in mix if t < 13 * HOURS_PER_WEEK]
    last = [h for t, h in mix if t >= 39 * HOURS_PER_WEEK]
    assert first.count("west") / len(first) < 0.3 < last.count("west") / len(last)


def _hospitals(d: dict, reps: range) -> list[tuple[float, str]]:
    """(referral time, hospital) of every patient of replications ``reps``."""
    loaded = build(d)
    out = []
    for r in reps:
        w = World(loaded, r)
        t = w.referral_times()
        w.n_patients = len(t)
        out += [(float(x), w.hospital_of(i)) for i, x in enumerate(t)]
    return out


@pytest.mark.parametrize(("referrals", "says"), [
    ({"rate_per_week": 6, "rates": [{"date": D("2027-01-04"), "per_week": 6}]}, "exactly one"),
    ({"rates": [{"date": D("2027-01-04"), "per_week": 6}], "growth_per_year": 0.4}, "growth_per_year"),
    ({"rates": [{"date": D("2027-03-01"), "per_week": 6}, {"date": D("2027-01-04"), "per_week": 6}]}, "increase"),
    ({"rate_per_week": 6, "joins": {"nowhere": D("2027-03-01")}}, "unknown hospital"),
])
def test_bad_demand_is_refused_where_it_is(referrals: dict, says: str) -> None:
    d = centralised_data()
    d["referrals"] = referrals
    with pytest.raises(ScenarioError, match=says):
        build(d)


def test_periods_cut_the_calendar_to_the_window() -> None:
    d = centralised_data()
    d["horizon_days"], d["warmup_days"], d["periods"] = 400, 60, "quarter"
    bounds = build(d).scenario.period_bounds()
    assert [b[0] for b in bounds] == ["2027Q1", "2027Q2", "2027Q3", "2027Q4", "2028Q1"]
    assert bounds[0][1] == 60 * HOURS_PER_DAY and bounds[-1][2] == 400 * HOURS_PER_DAY
    assert all(a[2] == b[1] for a, b in zip(bounds, bounds[1:]))
    assert bounds[1][1] == _hours(dt.date(2027, 4, 1))


def test_period_kpis_add_up_to_the_window_and_are_of_each_periods_referrals() -> None:
    d = centralised_data()
    d["horizon_days"], d["warmup_days"], d["periods"] = 200, 30, "quarter"
    d["referrals"] = {"rate_per_week": 6, "growth_per_year": 0.4}
    raw = simulate(build(d), 0)
    tab = replication_tables(raw)
    k = tab.kpis
    labels = [p[0] for p in raw.periods]
    assert labels == ["2027Q1", "2027Q2", "2027Q3"]
    for name in ("referred", "infused", "dropped_out", "failed", "lost", "in_progress", "resolved"):
        assert sum(k[f"{name}@{p}"] for p in labels) == k[name], name
    for label, a, b in raw.periods:
        b_ = tab.batches
        cohort = b_[(b_["referral_h"] >= a) & (b_["referral_h"] < b)]
        v2v = cohort["vein_to_vein_days"].dropna()
        assert k[f"referred@{label}"] == len(cohort)
        if len(v2v):
            assert k[f"vein_to_vein_median_days@{label}"] == pytest.approx(float(np.median(v2v)))
        assert 0 <= k[f"utilisation.device.central_factory.clinimacs_prodigy@{label}"] <= 1


def test_a_sweep_may_target_a_per_period_kpi() -> None:
    d = centralised_data()
    d["horizon_days"], d["periods"] = 800, "year"
    names = kpi_names(build(d))
    assert {"vein_to_vein_p90_days@2028", "dropped_out_fraction_of_resolved@2029", "referred@2027",
            "utilisation.device.central_factory.clinimacs_prodigy@2028"} <= names
    assert not any("@" in n for n in kpi_names(build(centralised_data())))


def test_the_report_shows_over_time_only_with_periods() -> None:
    import pandas as pd

    from twin.reports.over_time import over_time_sections

    rows = [(r, f"{k}@{p}", v + r) for r in range(3) for p, v in (("2027", 1.0), ("2028", 2.0))
            for k in ("referral_rate_per_week", "vein_to_vein_p90_days", "dropped_out_fraction_of_resolved",
                      "utilisation.device.f.prodigy", "availability.device.f.prodigy")]
    kl = pd.DataFrame(rows, columns=["replication", "kpi", "value"])
    res = pd.DataFrame({"replication": [0], "site": ["f"], "name": ["prodigy"], "kind": ["device"], "units": [4]})
    secs = over_time_sections(kl, res)
    assert [s.heading.split(":")[0] for s in secs] == ["Over time"] * 3
    demand = secs[0].figure.data
    assert list(demand[0].x) == ["2027", "2028"] and list(demand[0].y) == [2.0, 3.0]  # means over replications
    assert list(demand[1].y) == [8.0, 12.0]  # 4 units x availability
    assert over_time_sections(kl[~kl["kpi"].str.contains("@")], res) == []
