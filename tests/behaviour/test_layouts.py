"""Multi-site layouts: patients belong to hospitals, routing picks the manufacturing site,
point-of-care cells make their own hospital's batches without couriers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build, centralised_data, multisite_data, no_leaks

from twin.core.errors import ScenarioError
from twin.experiments.run import run_scenario


def _batches(data: dict):
    return run_scenario(build(data), replications=1).batches


def test_patient_stream_is_the_same_in_every_layout() -> None:
    """Common random numbers across layouts: same referral times, same hospital per patient,
    same apheresis durations, whatever sites and routing the layout has."""
    fixed = multisite_data()
    fixed["routing"]["assign"] = {"north": "hub", "south": "hub", "west": "central_factory"}
    a = _batches(fixed)
    b = _batches(multisite_data("least_expected_v2v"))
    cols = ["referral_h", "hospital", "apheresis_start_h", "apheresis_end_h"]
    assert len(a) == len(b) > 200
    assert a[cols].equals(b[cols])
    shares = a["hospital"].value_counts(normalize=True)
    assert shares["north"] == pytest.approx(0.5, abs=0.07) and shares["west"] == pytest.approx(1 / 6, abs=0.05)


def test_fixed_routing_sends_each_hospital_where_assigned() -> None:
    d = multisite_data()
    d["routing"]["assign"] = {"north": "hub", "south": "central_factory", "west": "central_factory"}
    b = _batches(d).dropna(subset=["made_at"])
    expected = b["hospital"].map(d["routing"]["assign"])
    assert (b["made_at"] == expected).all()
    hub = b[b["made_at"] == "hub"]
    assert ((hub["ship_to_factory_end_h"] - hub["ship_to_factory_start_h"]) <= 6).all()


def test_nearest_with_capacity_overflows_to_the_next_site() -> None:
    """North and south go to the 2-Prodigy hub while it has a free unit, else to the central
    factory; west is not linked to the hub and always goes central."""
    b = _batches(multisite_data("nearest")).dropna(subset=["made_at"])
    west = b[b["hospital"] == "west"]
    assert set(west["made_at"]) == {"central_factory"}
    ns = b[b["hospital"].isin(["north", "south"])]
    counts = ns["made_at"].value_counts()
    assert counts["hub"] > 20 and counts["central_factory"] > 20


def test_least_expected_v2v_beats_a_fixed_overloaded_hub() -> None:
    """Sending north and south to the 2-Prodigy hub builds a queue there (about 5 referrals a
    week for 2 units of a 13-day process); routing by expected vein-to-vein spreads the load,
    infuses far more patients and shortens the tail (same patients: a paired comparison)."""
    overloaded = multisite_data()
    overloaded["routing"]["assign"] = {"north": "hub", "south": "hub", "west": "central_factory"}
    over = run_scenario(build(overloaded), replications=1)
    smart = run_scenario(build(multisite_data("least_expected_v2v")), replications=1)
    assert smart.kpi("infused") > 1.5 * over.kpi("infused")
    assert smart.kpi("vein_to_vein_p90_days") < over.kpi("vein_to_vein_p90_days")
    made = smart.batches.dropna(subset=["made_at"])
    assert set(made["made_at"]) == {"hub", "central_factory"}


def test_point_of_care_cell_makes_its_own_batches_without_couriers() -> None:
    d = centralised_data()
    factory = d["sites"].pop("central_factory")
    d["sites"]["city_hospital"]["devices"] = factory["devices"]
    d["sites"]["city_hospital"]["staff"].update(factory["staff"])
    # infusion nurses on duty around the clock (an idealisation): as bundled they work office
    # hours, and a product released in the evening would wait for them, not for a courier
    d["sites"]["city_hospital"]["staff"]["infusion_nurse"] = {"count": 2, "always_on_duty": True}
    d["couriers"] = []
    b = _batches(d)
    made = b.dropna(subset=["made_at"])
    assert len(made) > 100 and set(made["made_at"]) == {"city_hospital"}
    assert b["ship_to_factory_start_h"].isna().all() and b["ship_to_hospital_start_h"].isna().all()
    inf = made.dropna(subset=["infusion_start_h"])
    # Without couriers the product goes from release straight to infusion (unless both slots
    # are busy at that moment).
    gap = inf["infusion_start_h"] - inf["release_end_h"]
    assert (gap >= 0).all() and (np.isclose(gap, 0, atol=1e-9)).mean() > 0.9


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda d: d.update(routing={"policy": "fixed"}), ("several sites can make batches", "routing.assign")),
        (lambda d: d["routing"].update(assign={"north": "nowhere"}), ("unknown site 'nowhere'",)),
        (lambda d: d["routing"]["assign"].update(west="hub"), ("no courier lane", "'west'", "'hub'")),
        (lambda d: d["referrals"].update(hospitals={"east": 1}), ("unknown hospital 'east'",)),
    ],
)
def test_routing_errors_are_clear(change, words) -> None:
    d = multisite_data("fixed")
    d["routing"]["assign"] = {"north": "hub", "south": "hub", "west": "central_factory"}
    change(d)
    with pytest.raises(ScenarioError) as info:
        build(d)
    for w in words:
        assert w in str(info.value), str(info.value)


def _fixed_transit(d: dict, hours: float) -> dict:
    for lane in d["couriers"]:
        lane["transit_h"] = hours
    return d


def test_fresh_product_past_its_viability_clock_is_lost_and_counted() -> None:
    """The fresh-material clock runs from the end of apheresis to the start of processing
    (couriers, receipt and queues included): a 30-h courier outlasts a 24-h clock, so every shipped
    batch is lost at 24 h, in transit; with 48 h, no batch starts processing later than 48 h
    after collection (the old model checked the clock on arrival only)."""
    d = _fixed_transit(no_leaks(centralised_data()), 30)
    d["starting_material"] = {"form": "fresh", "viability_h": 24}
    res = run_scenario(build(d), replications=1)
    b = res.batches
    shipped = b[b["ship_to_factory_start_h"].notna() & (b["ship_to_factory_start_h"] < b["referral_h"].max() - 24)]
    assert len(shipped) > 100
    assert set(shipped["outcome"]) <= {"lost", "dropped_out"}
    lost = shipped[shipped["outcome"] == "lost"]
    assert (lost["cause"] == "hold:fresh_material").all() and len(lost) > 90
    np.testing.assert_allclose(lost["outcome_h"] - lost["apheresis_end_h"], 24.0, atol=1e-6)
    assert res.kpi("lost") > 0 and res.kpi("infused") == 0
    d["starting_material"]["viability_h"] = 48
    b = run_scenario(build(d), replications=1).batches
    start = b["transfer:selection_start_h"]
    assert ((start - b["apheresis_end_h"]).dropna() <= 48 + 1e-6).all()
    late = b[(b["outcome"] == "lost") & (b["cause"] == "hold:fresh_material")]
    assert late["transfer:selection_start_h"].isna().all()
    assert (b["outcome"] == "infused").sum() > 100


def test_pickups_leave_at_the_cut_off_on_pickup_days_only() -> None:
    d = _fixed_transit(centralised_data(), 10)
    d["couriers"][0].update(pickup_h=16, pickup_days=["mon", "tue", "wed", "thu", "fri"])
    b = run_scenario(build(d), replications=1).batches.dropna(subset=["ship_to_factory_end_h"])
    left = b["ship_to_factory_end_h"] - 10  # fixed transit
    assert np.allclose(left % 24, 16)
    weekday = (0 + (left // 24).astype(int)) % 7  # 2027-01-04 is a Monday
    assert weekday.max() <= 4
    waited = left - b["ship_to_factory_start_h"]
    assert (waited >= -1e-9).all() and waited.max() > 48  # Friday night to Monday afternoon


def test_lost_shipments_and_warm_shippers_lose_the_batch() -> None:
    d = no_leaks(centralised_data())
    d["couriers"][1]["loss_probability"] = 1.0  # every product shipped back is lost
    res = run_scenario(build(d), replications=1)
    lost = res.batches[res.batches["outcome"] == "lost"]
    assert len(lost) > 100 and set(lost["cause"]) == {"ship_to_hospital:shipment_lost"}
    assert res.kpi("infused") == 0

    d = _fixed_transit(no_leaks(centralised_data()), 30)
    d["starting_material"] = {"form": "cryopreserved",
                              "freezing": {"duration_h": 3, "role": "apheresis_nurse", "hands_on_h": 1}}
    d["shipper_hold_h"] = 24
    b = run_scenario(build(d), replications=1).batches
    assert np.allclose((b["freezing_end_h"] - b["freezing_start_h"]).dropna(), 3)
    lost = b[b["outcome"] == "lost"]
    assert len(lost) > 100 and set(lost["cause"]) == {"ship_to_factory:shipper_hold_exceeded"}
    assert np.allclose(lost["outcome_h"] - lost["ship_to_factory_start_h"], 24)


def test_central_qc_lab_and_remote_qp() -> None:
    """With a central QC lab, samples travel there by courier and the lab's analysts run the
    tests; a remote QP certifies from another site; the factory needs neither role."""
    d = multisite_data()
    d["routing"]["assign"] = {"north": "hub", "south": "hub", "west": "central_factory"}
    d["qc"]["lab"] = "central_factory"
    d["release"]["site"] = "central_factory"
    for role in ("qc_analyst", "qualified_person"):
        d["sites"]["hub"]["staff"].pop(role)
    d["couriers"].append({"from": "hub", "to": "central_factory", "transit_h": 10})
    res = run_scenario(build(d), replications=1)
    e = res.events
    hub_batches = set(res.batches.loc[res.batches["made_at"] == "hub", "patient"])
    tests = e[(e["kind"] == "step_start") & e["step"].astype(str).str.startswith("qc:")]
    assert set(tests["site"].astype(str)) == {"central_factory"}
    samples = res.batches.loc[res.batches["patient"].isin(hub_batches)].dropna(subset=["ship_samples_end_h"])
    assert len(samples) > 20
    assert np.allclose(samples["ship_samples_end_h"] - samples["ship_samples_start_h"], 10)
    started = samples.dropna(subset=["qc:sterility_start_h"])
    assert len(started) > 10 and (started["qc:sterility_start_h"] >= started["ship_samples_end_h"]).all()
    release = e[(e["kind"] == "step_start") & (e["step"] == "release")]
    assert set(release["site"].astype(str)) == {"central_factory"}
    # Without the hub -> lab lane, the scenario is refused with a clear message.
    d["couriers"].pop()
    with pytest.raises(ScenarioError, match="no courier lane from 'hub' to the QC lab"):
        build(d)
