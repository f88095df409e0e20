"""Behaviour of the culture model inside the simulation: end points, outages acting on the
biology, contamination reaching QC, and numba kept off the start-up path."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, build, centralised_data, ideal_devices, tiny_data
from scipy import stats

from twin.experiments.run import run_scenario
from twin.model import simulate
from twin.results.collect import replication_tables


def _tables(data: dict, rep: int = 0):
    return replication_tables(simulate(build(data), rep))


def _culture_tiny(**biology) -> dict:
    """One patient, one Prodigy, a single culture step with a biological end point."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["recipe"] = [{"name": "expansion", "device": "clinimacs_prodigy", "role": "op", "hands_on_h": 2,
                    "end_point": {"target_cells": 1.0e9, "max_h": 400}}]
    d["biology"] = {"starting_cells_millions": 50, "doubling_time_h": 40, "lag_h": 12,
                    "kernel": {"death_base_per_h": 0.0}, **biology}
    return d


def test_culture_ends_when_the_logistic_growth_reaches_the_target() -> None:
    """Theory: without death, N(t) = K / (1 + (K/N0 - 1) exp(-r (t - lag))) after the lag, with
    r = ln 2 / 40 h, N0 = 5e7, K = 4e9 (the Prodigy's capacity). The culture starts when the
    2-h hands-on ends (17 h) and ends at the first hourly tick after N reaches 1e9."""
    t = _tables(_culture_tiny())
    b = t.batches.iloc[0]
    r, n0, k, target = math.log(2) / 40, 5e7, 4e9, 1e9
    grow_h = math.log((target / (k - target)) / (n0 / (k - n0))) / r
    start = 17.0
    end = b["expansion_end_h"]
    assert start + 12 + grow_h < end <= start + 12 + grow_h + 1.0 + 1e-9
    assert b["harvest_cells"] >= target and b["culture_h"] == pytest.approx(end - start)
    assert b["harvest_viability"] == pytest.approx(1.0)  # no death at all in this test


def test_a_culture_that_cannot_reach_its_target_stops_at_max_length_and_fails_dose() -> None:
    """A device whose capacity (3e8) is below the target is harvested at max_h, and a dose test
    with a 5e8 spec fails it."""
    d = _culture_tiny()
    d["sites"]["f"]["devices"]["clinimacs_prodigy"]["override"]["culture_capacity_cells"] = 3.0e8
    d["qc"]["tests"] = [{"name": "dose", "duration_h": 24, "measures": "dose", "spec": 5.0e8}]
    b = _tables(d).batches.iloc[0]
    assert b["culture_h"] == pytest.approx(400) and b["harvest_cells"] < 3.0e8
    assert b["outcome"] == "failed" and b["cause"] == "qc:dose"


def test_co2_outage_during_expansion_lengthens_those_cultures_and_lowers_viability() -> None:
    """A 4-day CO2 loss (no backup) at the factory: every culture in progress during it takes
    longer and ends less viable than with the same seed without the outage; cultures that ended
    before it began are identical."""
    at, dur = 2400.0, 96.0
    base = ideal_devices(centralised_data())
    base["sites"]["central_factory"]["utilities"]["co2"] = {"backup_h": 0}
    hit = copy.deepcopy(base)
    hit["outages"] = [{"name": "co2", "what": "co2", "site": "central_factory", "at_h": at, "duration_h": dur}]
    a, b = _tables(base).batches.set_index("patient"), _tables(hit).batches.set_index("patient")
    inside = a.index[(a["expansion_start_h"] < at) & (a["expansion_end_h"] > at + dur)]
    assert len(inside) >= 5
    # longer, except where the culture already ran to the end point's max_h (336 h) without it
    longer = b.loc[inside, "culture_h"] > a.loc[inside, "culture_h"]
    capped = a.loc[inside, "culture_h"] >= 336 - 1e-9
    assert (longer | capped).all() and longer.sum() >= 5
    assert (b.loc[inside, "harvest_viability"] < a.loc[inside, "harvest_viability"]).all()
    before = a.index[a["expansion_end_h"] < at - 1]
    assert len(before) > 20
    np.testing.assert_allclose(b.loc[before, "culture_h"], a.loc[before, "culture_h"])
    np.testing.assert_allclose(b.loc[before, "harvest_cells"], a.loc[before, "harvest_cells"])


def test_contamination_probability_sets_the_rate_of_contamination_failures() -> None:
    """Theory: with a sterile weld that contaminates with p = 0.2 (and nothing else), the
    number of contaminated batches among n welded is Binomial(n, 0.2); organisms grow in culture
    far beyond the limits of detection, so an in-process check or the sterility test finds
    nearly all of them: contamination failures ~ Binomial(n, 0.2 x d) with d >= 0.97. With
    p = 0 nothing is contaminated and nothing fails for contamination."""
    def run(p: float):
        d = centralised_data()
        d["biology"]["intrinsic_contamination_probability"] = 0.0
        d["connections"] = {k: {"contamination_probability": 0.0, "leak_probability": 0.0}
                            for k in ("sterile_weld", "aseptic_connector", "open")}
        d["connections"]["sterile_weld"]["contamination_probability"] = p
        d["dropout"]["hazard_per_day"] = 0.0
        return run_scenario(build(d), replications=2).batches

    b = run(0.2)
    done = b[b["outcome"].isin(["infused", "failed"]) & b["transfer:selection_end_h"].notna()]
    n = len(done)
    contaminated = int(done["contaminated"].sum())
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.2)
    assert n > 300 and lo <= contaminated <= hi
    caught = done["cause"].isin(["expansion:contamination_detected", "qc:sterility"])
    assert (done.loc[caught, "contaminated"]).all()
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.2 * 0.97)
    assert caught.sum() >= lo and caught.sum() <= stats.binom.ppf(0.9995, n, 0.2)
    clean = run(0.0)
    assert not clean["contaminated"].any()
    assert not clean["cause"].isin(["expansion:contamination_detected", "qc:sterility"]).any()


def test_numba_stays_off_the_start_up_path() -> None:
    """`twin --help` and `twin validate` never import numba (it costs ~0.5 s to import); a run
    of a scenario with a culture step does."""
    code = ("import sys, twin.cli; rc = twin.cli.main(['validate', 'scenarios/centralised.yaml']); "
            "print(rc, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"]
