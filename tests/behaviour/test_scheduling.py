"""Slot booking and failures that are not final (issue 17, items 1 and 4): what a planner checks
in the event log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import build, centralised_data, fixed_expansion, ideal_devices, no_leaks

from twin.core.vocab import OUTCOMES
from twin.model import simulate
from twin.results.collect import replication_tables

HOLD = {"name": "fresh_material", "from": "apheresis", "to": "transfer:selection", "limit_h": 72}


def _data(policy: str, days: float = 200, **scheduling) -> dict:
    d = no_leaks(centralised_data())
    d["horizon_days"] = days
    d["holds"] = [dict(HOLD)]
    d["scheduling"] = {"policy": policy, **scheduling}
    return d


def _run(d: dict, rep: int = 0):
    t = replication_tables(simulate(build(d), rep))
    return t.events, t.batches


def _first(e: pd.DataFrame, kind: str, step: str | None = None) -> pd.Series:
    rows = e[(e["kind"] == kind) & ((e["step"] == step) if step is not None else True)]
    return rows.drop_duplicates("patient").set_index("patient")["time_h"]


def test_slot_booking_loses_no_batch_to_the_fresh_hold_where_first_come_does():
    """The bundled centralised facility with its 72-h fresh-material hold on: first come, first
    served loses batches to it (material queued for a Prodigy); booking the slot first and
    collecting for it loses none, and no material waits past the hold for processing."""
    _, fc = _run(_data("first_come"))
    assert (fc["cause"] == "hold:fresh_material").sum() >= 5
    e, sb = _run(_data("slot_booking"))
    assert (sb["cause"] == "hold:fresh_material").sum() == 0
    held = (sb["transfer:selection_start_h"] - sb["apheresis_end_h"]).dropna()
    assert len(held) > 100 and held.max() <= HOLD["limit_h"]
    # Patients now wait before apheresis instead (referral -> first apheresis start).
    wait_fc = (fc["apheresis_start_h"] - fc["referral_h"]).median()
    wait_sb = (sb["apheresis_start_h"] - sb["referral_h"]).median()
    assert wait_sb > wait_fc + 24


def test_nobody_is_collected_without_a_booked_slot():
    """Every apheresis (the first, and a new one for a re-manufacture) follows a `booked` row of
    the same patient whose planned apheresis it is."""
    d = _data("slot_booking")
    d["qc"]["tests"][0]["fail_probability"] = 0.2
    d["remanufacture"] = {"new_apheresis": True}
    e, _ = _run(d)
    aph = e[(e["kind"] == "step_start") & (e["step"] == "apheresis")]
    booked = e[e["kind"] == "booked"]
    assert len(aph) > 100 and e["kind"].eq("remanufacture").any()
    for pid, t in zip(aph["patient"], aph["time_h"]):
        mine = booked[(booked["patient"] == pid) & (booked["time_h"] <= t)]
        assert len(mine), f"patient {pid} collected at {t} without a booking"
    # A booked row names the first device and the planned start (after the booking).
    assert (booked["resource"] == "clinimacs_prodigy").all() and (booked["value"] >= booked["time_h"]).all()
    n_aph, n_booked = aph.groupby("patient").size(), booked.groupby("patient").size()
    assert (n_aph <= n_booked[n_aph.index]).all()


def test_first_come_is_todays_run():
    """`scheduling: {policy: first_come}` (the default) is the run without the section, row for row."""
    d = _data("first_come", days=100)
    e1, _ = _run(d)
    d.pop("scheduling")
    e2, _ = _run(d)
    pd.testing.assert_frame_equal(e1, e2)
    assert not e1["kind"].isin(["booked", "rebooked"]).any()


def test_urgent_patients_are_collected_sooner_and_others_are_rebooked():
    """At a load the Prodigies cannot keep up with, urgent patients (20% of referrals) take the
    earliest slots ahead of standard bookings not yet collected: they wait less for apheresis,
    and the standard patients they displace are re-booked with cause `priority`."""
    d = ideal_devices(fixed_expansion(_data("slot_booking", days=120, urgency={"urgent": 0.2, "standard": 0.8})))
    d["referrals"]["rate_per_week"] = 8
    e, b = _run(d)
    booked = e[e["kind"] == "booked"].drop_duplicates("patient").set_index("patient")
    urgent = booked["detail"].str.contains("urgency=urgent")
    assert 0.1 < urgent.mean() < 0.3
    wait = (b.set_index("patient")["apheresis_start_h"] - b.set_index("patient")["referral_h"]).dropna()
    common = wait.index.intersection(booked.index)
    w_u = wait[common][urgent[common]].median()
    w_s = wait[common][~urgent[common]].median()
    assert w_u < w_s / 2
    re = e[e["kind"] == "rebooked"]
    assert (re["detail"] == "priority").sum() > 0
    assert not urgent[re.loc[re["detail"] == "priority", "patient"].unique()].any()


def test_a_broken_plan_is_rebooked_with_its_cause_and_knock_on():
    """Late material (a courier slower than planned) moves its booking; bookings of other patients
    not yet collected that no longer fit move too (`knock_on`), each after its own booking, and
    every re-booking names its cause."""
    d = ideal_devices(fixed_expansion(_data("slot_booking", days=120, transit_quantile=0.5, arrival_margin_h=0)))
    d["referrals"]["rate_per_week"] = 8
    e, _ = _run(d)
    re = e[e["kind"] == "rebooked"]
    causes = set(re["detail"])
    assert {"late_material", "knock_on"} <= causes
    assert causes <= {"late_material", "knock_on", "priority", "overrun", "breakdown", "maintenance"} | {
        c for c in causes if c.startswith("outage:")}
    first_booked = _first(e, "booked")
    assert (re["time_h"].to_numpy() >= first_booked[re["patient"]].to_numpy()).all()
    # A knock-on happens at the instant of another patient's re-booking.
    late_at = set(re.loc[re["detail"] == "late_material", "time_h"])
    assert set(re.loc[re["detail"] == "knock_on", "time_h"]) <= late_at


def test_dropout_goes_on_while_patients_wait_for_apheresis():
    """Under slot booking a patient who drops out before the booked day is never collected, and
    the slot is freed."""
    d = _data("slot_booking", days=150)
    d["dropout"]["hazard_per_day"] = 0.05
    e, b = _run(d)
    gone = b[(b["outcome"] == "dropped_out") & b["apheresis_start_h"].isna()]
    assert len(gone) >= 5
    assert set(gone["patient"]) <= set(e.loc[e["kind"] == "booked", "patient"])


# -- failures that are not final -----------------------------------------------------------------
def _remake(policy: str, **rm) -> dict:
    d = ideal_devices(fixed_expansion(_data(policy, days=200)))
    d["qc"]["tests"][0]["fail_probability"] = 0.3  # sterility fails often: many re-manufactures
    d["remanufacture"] = rm
    return d


@pytest.mark.parametrize("policy", ["first_come", "slot_booking"])
def test_a_remanufactured_patient_has_one_outcome_and_both_attempts(policy):
    """A batch failing QC is made again (from a kept aliquot, else a new apheresis): the patient
    has exactly one outcome row, a `remanufacture` row naming the failed attempt's cause, and both
    attempts' steps in the log; every patient is in exactly one outcome or in progress."""
    e, b = _run(_remake(policy, backup_aliquot_probability=0.5, new_apheresis=True, max_attempts=2))
    oc = e[e["kind"] == "outcome"]
    assert not oc["patient"].duplicated().any()
    rm = e[e["kind"] == "remanufacture"]
    assert set(rm["detail"]) == {"backup_aliquot", "new_apheresis"}
    assert "qc:sterility" in set(rm["step"])  # the failed attempt's cause
    infused = set(b.loc[b["outcome"] == "infused", "patient"])
    again = [p for p in rm.loc[rm["detail"] == "new_apheresis", "patient"].unique() if p in infused]
    aph = e[(e["kind"] == "step_start") & (e["step"] == "apheresis")].groupby("patient").size()
    assert len(again) > 3 and (aph[again] >= 2).all()
    after_qc = rm[(rm["detail"] == "backup_aliquot") & rm["step"].str.startswith("qc:")]
    kept = [p for p in after_qc["patient"].unique() if p in infused]  # (made twice: selection twice)
    sel = e[(e["kind"] == "step_start") & (e["step"] == "selection")].groupby("patient").size()
    assert len(kept) >= 2 and (sel[kept] >= 2).all() and (aph[kept] == 1).any()
    infused_again = b[b["patient"].isin(rm["patient"]) & (b["outcome"] == "infused")]
    assert len(infused_again) > 5
    # Conservation: one outcome (or in progress) per referred patient.
    assert len(b) == e["kind"].eq("referral").sum()
    assert b["outcome"].isin([*OUTCOMES, "in_progress"]).all()
    assert (b["outcome"] != "in_progress").sum() == len(oc)
    assert (rm.groupby("patient").size() <= 2).all()


def test_without_remanufacture_failures_are_final_and_same_seed_same_run():
    d = _remake("first_come", new_apheresis=True)
    e1, b1 = _run(d)
    e2, b2 = _run(d)
    pd.testing.assert_frame_equal(e1, e2)
    d.pop("remanufacture")
    e0, b0 = _run(d)
    assert not e0["kind"].eq("remanufacture").any()
    assert (b0["outcome"] == "failed").sum() > (b1["outcome"] == "failed").sum()
    assert (b1["outcome"] == "infused").sum() > (b0["outcome"] == "infused").sum()


def test_out_of_spec_product_infused_by_exception():
    """A product below the viability release spec goes on to infusion with the stated
    probability (outcome `infused_out_of_spec`); with probability 0 it is rejected as before."""
    d = no_leaks(centralised_data())
    d["horizon_days"] = 200
    for t in d["qc"]["tests"]:
        if t.get("measures") == "viability":
            t["spec"] = 0.95  # many harvests fall below it
    e0, b0 = _run(d)
    failed_viability = (b0["cause"] == "qc:viability").sum()
    assert failed_viability > 10
    d["remanufacture"] = {"out_of_spec_infusion_probability": 1.0}
    e1, b1 = _run(d)
    assert (b1["cause"] == "qc:viability").sum() == 0
    oos = b1[b1["outcome"] == "infused_out_of_spec"]
    assert len(oos) >= failed_viability // 2
    assert oos["vein_to_vein_days"].notna().all()
    marked = set(e1.loc[(e1["kind"] == "qc_result") & (e1["detail"] == "out_of_spec"), "patient"])
    assert set(oos["patient"]) <= marked
    kpis = replication_tables(simulate(build(d), 0)).kpis
    assert np.isclose(kpis["infused_out_of_spec"], oos["in_window"].sum())


def test_an_outage_of_the_first_device_rebooks_the_material_it_meets():
    """Every Prodigy out for 5 days: material arriving meanwhile finds no unit for its booked run
    and is re-booked with the outage as cause (only then); without the outage, no such rows."""
    d = ideal_devices(fixed_expansion(_data("slot_booking", days=120)))
    d["outages"] = [{"name": "prodigy_down", "what": "device", "site": "central_factory",
                     "pool": "clinimacs_prodigy", "units": 14, "at_h": 1500, "duration_h": 120}]
    e, _ = _run(d)
    re = e[(e["kind"] == "rebooked") & (e["detail"] == "outage:prodigy_down")]
    assert len(re) >= 2 and re["time_h"].between(1500, 1620).all()
    assert (re["value"] > re["time_h"]).all()
    d.pop("outages")
    e0, _ = _run(d)
    assert not e0["detail"].astype(str).str.startswith("outage:").any()
