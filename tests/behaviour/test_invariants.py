"""Invariants that hold for *any* valid scenario, checked on random small scenarios (hypothesis):
patients are conserved, no unit is ever over capacity, no staff role over its headcount, and
every batch's milestones happen in journey order."""

from __future__ import annotations

import numpy as np
from conftest import build, max_concurrent, tiny_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.model import simulate
from twin.results.collect import replication_tables
from twin.results.tables import held_intervals

JOURNEY_ORDER = [
    "referral_h", "apheresis_start_h", "apheresis_end_h", "ship_to_factory_start_h",
    "ship_to_factory_end_h", "receipt_start_h", "receipt_end_h", "expansion_start_h",
    "expansion_end_h", "cryopreservation_start_h", "cryopreservation_end_h", "storage_start_h",
    "qc_start_h", "qc_end_h", "release_start_h", "release_end_h", "storage_end_h",
    "ship_to_hospital_start_h", "ship_to_hospital_end_h", "infusion_start_h", "infusion_end_h",
]


@st.composite
def scenarios(draw) -> dict:
    d = tiny_data()
    d["horizon_days"] = 90
    d["seed"] = draw(st.integers(0, 2**32))
    d["referrals"] = {"rate_per_week": draw(st.floats(0.5, 6))}
    f = d["sites"]["f"]
    f["devices"]["clinimacs_prodigy"]["count"] = draw(st.integers(1, 3))
    f["devices"]["ln2_storage"] = {"count": 1, "override": {"batches_per_unit": draw(st.integers(1, 4))}}
    f["staff"] = {"op": draw(st.integers(1, 2)), "qc": draw(st.integers(1, 2)), "qp": 1}
    d["sites"]["h"]["apheresis_chairs"] = draw(st.integers(1, 2))
    d["recipe"][0]["duration_h"] = {"dist": "exponential", "mean": draw(st.floats(24, 200))}
    d["qc"]["tests"] = [
        {"name": "sterility", "duration_h": {"dist": "triangular", "low": 24, "mode": 48, "high": 96},
         "hands_on_h": 1, "fail_probability": draw(st.floats(0, 0.5))},
        {"name": "potency", "duration_h": {"dist": "lognormal", "mean": 24, "sd": 8},
         "hands_on_h": 2, "fail_probability": draw(st.floats(0, 0.5))},
    ]
    d["dropout"] = {"hazard_per_day": draw(st.floats(0, 0.05))}
    d["couriers"][0]["transit_h"] = {"dist": "empirical", "values": [4, 12, 30]}
    return d


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_hold_for_random_scenarios(data: dict) -> None:
    raw = simulate(build(data), 0)
    t = replication_tables(raw)
    e, b, res = t.events, t.batches, t.resources

    # Conservation: one row and at most one outcome per referred patient.
    assert len(b) == raw.n_patients == (e["kind"] == "referral").sum()
    assert e.loc[e["kind"] == "outcome", "patient"].is_unique
    assert b["outcome"].notna().all()

    # Capacity: at no instant does a unit hold more than its slots, or a pool more than capacity.
    held = held_intervals(e, raw.horizon_h)
    cap = {(r.site, r.name): (r.slots_per_unit, r.capacity) for r in res.itertuples()}
    for (site, resource), grp in held.groupby(["site", "resource"]):
        slots, capacity = cap[(site, resource)]
        assert max_concurrent(grp) <= capacity, (site, resource)
        for _, g in grp.groupby("unit"):
            assert max_concurrent(g) <= slots, (site, resource)

    # Every step the journey logs has its columns in the batch table, reached or not.
    logged = set(e.loc[e["kind"].isin(["step_start", "step_end"]), "step"].astype(str))
    assert logged <= set(raw.steps)
    assert {f"{s}_start_h" for s in raw.steps} <= set(b.columns)

    # Order: each batch's milestones never go back in time.
    times = b[JOURNEY_ORDER].to_numpy()
    for row in times:
        seen = row[~np.isnan(row)]
        assert (np.diff(seen) >= -1e-9).all()

    # Outcome semantics.
    infused = b[b["outcome"] == "infused"]
    assert infused["infusion_start_h"].notna().all() and (infused["vein_to_vein_days"] > 0).all()
    # A batch with a failing QC result is never released (it fails, unless the patient had
    # already dropped out).
    bad_qc = set(e.loc[(e["kind"] == "qc_result") & (e["detail"] == "fail"), "patient"])
    hit = b[b["patient"].isin(bad_qc)]
    assert set(hit["outcome"]) <= {"failed", "dropped_out"}
    assert hit["release_start_h"].isna().all()
    failed = b[b["outcome"] == "failed"]
    assert failed["cause"].str.startswith("qc:").all()
    assert failed["release_start_h"].isna().all()


@st.composite
def layouts(draw) -> dict:
    """Random multi-site layouts: routing policy, couriers with pickups, delays and losses,
    fresh or frozen starting material, a central QC lab or not."""
    from conftest import multisite_data

    d = multisite_data(draw(st.sampled_from(["nearest", "least_expected_v2v"])))
    d["horizon_days"] = 120
    d["warmup_days"] = 20
    d["seed"] = draw(st.integers(0, 2**32))
    d["sites"]["hub"]["devices"]["clinimacs_prodigy"]["count"] = draw(st.integers(1, 4))
    for lane in d["couriers"]:
        lane["loss_probability"] = draw(st.floats(0, 0.2))
        lane["delay_probability"] = draw(st.floats(0, 0.5))
        lane["delay_h"] = {"dist": "exponential", "mean": draw(st.floats(1, 48))}
        if draw(st.booleans()):
            lane["pickup_h"] = draw(st.floats(0, 23.9))
            lane["pickup_days"] = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                                                min_size=1, max_size=7, unique=True))
    if draw(st.booleans()):
        d["starting_material"] = {"form": "cryopreserved",
                                  "freezing": {"duration_h": 2, "role": "apheresis_nurse", "hands_on_h": 1}}
        d["shipper_hold_h"] = draw(st.floats(20, 200))
    else:
        d["starting_material"] = {"form": "fresh", "viability_h": draw(st.floats(10, 100))}
    if draw(st.booleans()):
        d["qc"]["lab"] = "central_factory"
        d["couriers"].append({"from": "hub", "to": "central_factory", "transit_h": 8})
    d["dropout"]["hazard_per_day"] = draw(st.floats(0, 0.03))
    return d


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_invariants_hold_for_random_layouts(data: dict) -> None:
    raw = simulate(build(data), 0)
    t = replication_tables(raw)
    e, b = t.events, t.batches
    # Conservation and one outcome each.
    assert len(b) == raw.n_patients and e.loc[e["kind"] == "outcome", "patient"].is_unique
    # Lost batches say why; infused ones were made somewhere that can make them.
    lost = b[b["outcome"] == "lost"]
    assert lost["cause"].str.contains("shipment_lost|shipper_hold_exceeded|hold:fresh_material|:leak").all()
    made = set(b["made_at"].dropna())
    assert made <= {"hub", "central_factory"}
    assert set(b.loc[b["hospital"] == "west", "made_at"].dropna()) <= {"central_factory"}
    # Shipments never arrive before they were handed over (pickup waits included).
    ship = b.dropna(subset=["ship_to_factory_start_h", "ship_to_factory_end_h"])
    assert (ship["ship_to_factory_end_h"] >= ship["ship_to_factory_start_h"]).all()
    # Milestones in journey order for every batch.
    order = ["referral_h", "apheresis_start_h", "apheresis_end_h", "freezing_start_h", "freezing_end_h",
             "ship_to_factory_start_h", "ship_to_factory_end_h", "receipt_start_h", "receipt_end_h",
             "expansion_end_h", "cryopreservation_end_h", "qc_start_h", "ship_samples_start_h",
             "ship_samples_end_h", "qc_end_h", "release_start_h", "release_end_h",
             "ship_to_hospital_start_h", "ship_to_hospital_end_h", "infusion_start_h", "infusion_end_h"]
    times = b[order].to_numpy()
    for row in times:
        seen = row[~np.isnan(row)]
        assert (np.diff(seen) >= -1e-9).all()
    # No unit over capacity anywhere.
    held = held_intervals(e, raw.horizon_h)
    cap = {(r.site, r.name): r.capacity for r in t.resources.itertuples()}
    for (site, resource), g in held.groupby(["site", "resource"]):
        assert max_concurrent(g) <= cap[(site, resource)]
