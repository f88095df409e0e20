"""The bundled outage scenarios do what their comments say, against the centralised scenario
they are built on (same patients, same seed)."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from twin.experiments.run import run_scenario
from twin.scenario.loading import load_scenario


def _run(name: str):
    return run_scenario(load_scenario(SCENARIOS / f"{name}.yaml"), replications=1)


@pytest.fixture(scope="module")
def baseline():
    return _run("centralised")


def test_outage_power(baseline) -> None:
    """The 10-minute dip is carried by the UPS (nothing lost, nobody hit); the blackout with a
    generator that fails to start loses power for 9.75 h, takes the cleanroom out of grade for
    33.5 h, and every batch it hit was paused or lost, and finished later than in the baseline."""
    r = _run("outage_power")
    o = r.outages.set_index("label")
    assert o.loc["grid_dip_covered", "lost_h"] == 0 and o.loc["grid_dip_covered", "batches_hit"] == 0
    assert o.loc["grid_blackout", "lost_h"] == pytest.approx(9.75)
    assert o.loc["grid_blackout", "knock_on"] == "grade 33.5 h"
    hit = [int(p) for p in o.loc["grid_blackout", "patients"].split(",")]
    assert len(hit) >= 5
    a, b = baseline.batches.set_index("patient"), r.batches.set_index("patient")
    for p in hit:
        assert b.loc[p, "outcome"] == "lost" or b.loc[p, "outcome_h"] > a.loc[p, "outcome_h"] \
            or b.loc[p, "paused_h"] > 0
    assert r.kpi("lost") >= baseline.kpi("lost")


def test_outage_co2() -> None:
    """The bottle bank carries 20,000 L / (14 x 6 L/h) = 238.1 h of the 336-h supply failure;
    then no Prodigy run starts until the supply is back."""
    r = _run("outage_co2")
    row = r.outages.set_index("label").loc["co2_supply_failure"]
    assert row["backup_h"] == pytest.approx(20000 / 84) and row["lost_h"] == pytest.approx(336 - 20000 / 84)
    e = r.events
    starts = e[(e["kind"] == "seize") & (e["resource"] == "clinimacs_prodigy")]["time_h"]
    assert not starts.between(3600 + 20000 / 84 + 1e-6, 3936 - 1e-6).any()


def test_cyberattack(baseline) -> None:
    """No receipt and no QP release starts while the MES is down and being restored (120 h)."""
    r = _run("cyberattack")
    e = r.events
    st = e[(e["kind"] == "step_start") & e["step"].isin(["receipt", "release"])]["time_h"]
    assert not st.between(3600 + 1e-6, 3720 - 1e-6).any()
    assert r.outages.set_index("label").loc["ransomware", "batches_hit"] >= 1


def test_staff_shortage(baseline) -> None:
    """Operators are on duty fewer hours and batches wait longer than in the baseline."""
    r = _run("staff_shortage")
    key = "availability.staff.central_factory.operator"
    assert r.kpi(key) < baseline.kpi(key)
    assert r.kpi("vein_to_vein_median_days") > baseline.kpi("vein_to_vein_median_days")
    assert r.outages.set_index("label").loc["flu_wave", "lost_h"] == pytest.approx(2 * 1008)
