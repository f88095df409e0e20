"""The orchestration KPIs (issue 17 item 6) are read off the event log as documented: per patient
the wait for apheresis, the turnaround and release-to-infusion add up to referral-to-infusion; the
medians are of the cohort; re-manufactured patients and re-bookings are counted from their rows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build, centralised_data

from twin.core.units import HOURS_PER_DAY
from twin.model import simulate
from twin.results.collect import replication_tables


def _tables(**changes):
    data = centralised_data()
    data.update(horizon_days=150, warmup_days=0, **changes)
    return replication_tables(simulate(build(data), 0))


def test_the_three_legs_of_a_journey_add_up_to_referral_to_infusion() -> None:
    t = _tables()
    b = t.batches[t.batches["outcome"] == "infused"]
    assert len(b) >= 20
    legs = ((b["apheresis_start_h"] - b["referral_h"]) + (b["released_h"] - b["last_apheresis_start_h"])
            + (b["infusion_start_h"] - b["released_h"]))
    np.testing.assert_allclose(legs, b["infusion_start_h"] - b["referral_h"])
    assert (b["released_h"] > b["qc_end_h"] - 1e-9).all()  # the release ends after the QC panel
    cohort = t.batches[t.batches["in_window"]]
    infused = cohort[cohort["outcome"] == "infused"]
    assert t.kpis["turnaround_median_days"] == pytest.approx(np.median(
        (cohort["released_h"] - cohort["last_apheresis_start_h"]).dropna()) / HOURS_PER_DAY, rel=1e-12)
    assert t.kpis["release_to_infusion_p90_days"] == pytest.approx(np.quantile(
        infused["infusion_start_h"] - infused["released_h"], 0.9) / HOURS_PER_DAY, rel=1e-12)
    assert t.kpis["slots_booked"] == 0 and t.kpis["remanufactured"] == 0  # first come, failures final


def test_remanufacture_and_rebooking_are_counted_per_patient() -> None:
    t = _tables(scheduling={"policy": "slot_booking"},
                remanufacture={"new_apheresis": True, "max_attempts": 2})
    ev = t.events
    remade = set(ev.loc[ev["kind"] == "remanufacture", "patient"])
    assert remade, "the scenario's failures give some re-manufacture"
    b = t.batches.set_index("patient")
    assert (b.loc[sorted(remade), "attempts"] == 2).all()
    assert t.kpis["remanufactured"] == len(remade & set(t.batches.loc[t.batches["in_window"], "patient"]))
    moved = ev[ev["kind"].isin(["rebooked", "infusion_rebooked"])].groupby("patient").size()
    assert t.kpis["schedule_changes"] == float(moved.sum())
    assert t.kpis["slots_booked"] == float(ev.loc[ev["kind"] == "booked", "patient"].nunique())
    key = "slot_utilisation.central_factory.clinimacs_prodigy"
    booked = ev[ev["kind"] == "booked"]
    run_h = booked["detail"].str.extract(r"run_h=([0-9.]+)", expand=False).astype(float)
    assert (run_h > 0).all()
    assert 0 < t.kpis[key] <= run_h.sum() / (14 * 150 * 24) + 1e-12  # the book's hours over the units' hours
    assert key not in _tables().kpis  # no book without slot booking
