"""Behaviour of failure effects: each site condition does to a batch what it physically does
(issue 16, item 3), and every outage's effect on every batch it touches is in the impacts and
outages tables under that outage's label and site (item 5)."""

from __future__ import annotations

import copy

import pytest
from conftest import build, centralised_data, ideal_devices, multisite_data, tiny_data

from twin.model import simulate
from twin.results.collect import replication_tables

NO_BACKUP = {"power": {"ups_minutes": 0}, "co2": {"backup_h": 0}, "compressed_air": {"backup_h": 0},
             "hvac": {"grade_loss_after_h": 0.25, "requalification_h": 24}}


def _tables(data: dict, rep: int = 0):
    return replication_tables(simulate(build(data), rep))


def _culture_one(outage: dict | None, network: str = "continue") -> dict:
    """One patient, one Prodigy (power, CO2 and compressed air, no backups), a culture step
    without background death (viability stays exactly 1 unless the chamber leaves its
    setpoints), and ``outage`` at the factory 60 h into the run (the culture runs from 17 h for
    a few hundred hours)."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["sites"]["f"]["utilities"] = copy.deepcopy(NO_BACKUP) | {"it": {"restore_h": 0}}
    d["sites"]["f"]["devices"]["clinimacs_prodigy"]["override"]["network"] = network
    d["recipe"] = [{"name": "expansion", "device": "clinimacs_prodigy", "role": "op", "hands_on_h": 2,
                    "end_point": {"target_cells": 1.0e9, "max_h": 600}}]
    d["biology"] = {"starting_cells_millions": 50, "doubling_time_h": 40, "lag_h": 12,
                    "kernel": {"death_base_per_h": 0.0}}
    if outage is not None:
        d["outages"] = [{"name": "cut", "site": "f", "at_h": 60.0, "duration_h": 12.0, **outage}]
    return d


@pytest.mark.parametrize("outage, network", [
    ({"what": "compressed_air"}, "continue"),  # pneumatic valves and pumps stop: no feed
    ({"what": "it"}, "stop"),  # the process program pauses; chamber control goes on
])
def test_a_loss_that_stops_only_the_feed_keeps_the_chamber_at_its_setpoints(outage, network) -> None:
    """A 12-h compressed-air loss, or an MES stop of a device that stops without the network,
    pauses the culture step and slows growth (no feed), but the powered chamber holds 37 °C and
    5 % CO2: no excursion, so no stress death (viability stays exactly 1). Today every stop was
    a power cut: the chamber cooled and cells died."""
    base = _tables(_culture_one(None, network)).batches.iloc[0]
    t = _tables(_culture_one(outage, network))
    b = t.batches.iloc[0]
    assert base["harvest_viability"] == pytest.approx(1.0)
    assert b["paused_h"] == pytest.approx(12.0)
    assert b["culture_h"] > base["culture_h"]  # unfed for 12 h: growth halves meanwhile
    assert b["harvest_viability"] == pytest.approx(1.0, abs=1e-12)


def test_a_power_cut_still_cools_the_chamber() -> None:
    """The same 12-h loss of power (no UPS) stops heating and gas control: cells die."""
    b = _tables(_culture_one({"what": "power"})).batches.iloc[0]
    assert b["paused_h"] == pytest.approx(12.0)
    assert b["harvest_viability"] < 0.99


def _open_formulation(grade_loss_after_h: float) -> dict:
    """One patient whose open formulation (10 h in a biosafety cabinet) runs from 15 h; a 5-h
    blackout without UPS from 18 h; the cleanroom leaves grade ``grade_loss_after_h`` after the
    air handling stops."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    f = d["sites"]["f"]
    f["devices"]["biosafety_cabinet"] = {"count": 1, "override": {"changeover_h": None}}
    f["utilities"] = {"power": {"ups_minutes": 0},
                      "hvac": {"grade_loss_after_h": grade_loss_after_h, "requalification_h": 24}}
    d["recipe"] = [{"name": "formulation", "device": "biosafety_cabinet", "duration_h": 10, "role": "op",
                    "hands_on_h": 1, "processing": "open"}]
    d["outages"] = [{"name": "blackout", "what": "power", "site": "f", "at_h": 18.0, "duration_h": 5.0}]
    return d


def test_an_open_step_paused_by_a_blackout_is_lost_when_the_room_leaves_grade() -> None:
    """The blackout pauses the open formulation (the cabinet has no power); 1 h later the room
    leaves grade with the product open in the cabinet: the batch is lost then, under the
    blackout. Today only the first condition down (power) counted: the batch waited out the
    requalification and was infused. If the room keeps its grade through the cut (grade lost
    only after 10 h), the batch resumes after the 5 h and is infused."""
    t = _tables(_open_formulation(1.0))
    b = t.batches.iloc[0]
    assert b["outcome"] == "lost" and b["cause"] == "formulation:blackout"
    assert b["outcome_h"] == pytest.approx(19.0)
    kept = _tables(_open_formulation(10.0)).batches.iloc[0]
    assert kept["outcome"] == "infused" and kept["paused_h"] == pytest.approx(5.0)


def test_co2_outage_impacts_list_the_cultures_it_damaged() -> None:
    """A 4-day CO2 loss (no backup) at the factory: every culture in progress during it is a
    ``damage`` impact under the outage's label (and an event of the log), and the outage's row
    counts them among the batches it hit (today: 0)."""
    at, dur = 2400.0, 96.0
    d = ideal_devices(centralised_data())
    d["sites"]["central_factory"]["utilities"]["co2"] = {"backup_h": 0}
    d["outages"] = [{"name": "co2_out", "what": "co2", "site": "central_factory", "at_h": at, "duration_h": dur}]
    t = _tables(d)
    b = t.batches.set_index("patient")
    inside = set(b.index[(b["expansion_start_h"] < at) & (b["expansion_end_h"] > at + dur)])
    assert len(inside) >= 5
    dmg = t.impacts[(t.impacts["cause"] == "co2_out") & (t.impacts["effect"] == "damage")]
    assert inside <= set(dmg["patient"])
    assert (dmg["site"] == "central_factory").all() and (dmg["step"] == "expansion").all()
    assert dmg["time_h"].between(at, at + dur).all()
    row = t.outages.set_index("label").loc["co2_out"]
    assert row["batches_hit"] >= len(inside)
    assert inside <= {int(p) for p in row["patients"].split(",")}


def test_ln2_storage_losses_are_filed_under_the_outage() -> None:
    """Batches thawed in LN2 storage during an LN2 supply outage are ``lost`` impacts under the
    outage's label (today under ``stopped_LABEL``) and counted in its row."""
    d = centralised_data()
    d["sites"]["central_factory"]["utilities"]["ln2"] = {"tank_l": 200, "delivery_every_days": 2}
    d["outages"] = [{"name": "ln2_strike", "what": "ln2", "site": "central_factory", "at_h": 2400, "duration_h": 720}]
    t = _tables(d)
    thawed = set(t.batches.loc[t.batches["cause"] == "storage:stopped_ln2_strike", "patient"])
    assert len(thawed) >= 3
    lost = t.impacts[(t.impacts["cause"] == "ln2_strike") & (t.impacts["effect"] == "lost")]
    assert thawed <= set(lost["patient"])
    row = t.outages.set_index("label").loc["ln2_strike"]
    assert thawed <= {int(p) for p in row["patients"].split(",")}


def test_an_outage_of_every_site_counts_at_each_site_only_its_own_batches() -> None:
    """A 10-h blackout (no backups) at every site: the central factory's row and the hub's row
    each list only the batches paused or lost at that site (today each row claimed the other
    site's batches too)."""
    d = multisite_data("least_expected_v2v")
    for site in ("central_factory", "hub"):
        d["sites"][site]["utilities"] = {"hvac": {"grade_loss_after_h": 0.25, "requalification_h": 24}}
    d["outages"] = [{"name": "storm", "what": "power", "at_h": 2400.0, "duration_h": 10.0}]
    t = _tables(d)
    e = t.events
    hit = e[(e["patient"] >= 0) & e["kind"].isin(["pause", "outcome"])]
    hit = hit[hit["detail"].astype(str).str.contains("storm") | hit["step"].astype(str).str.contains("storm")]
    rows = t.outages[t.outages["label"] == "storm"].set_index("site")
    per_site = {}
    for site in ("central_factory", "hub"):
        own = set(hit.loc[hit["site"] == site, "patient"])
        assert len(own) >= 1
        listed = {int(p) for p in rows.loc[site, "patients"].split(",") if p}
        assert listed == own, site
        per_site[site] = own
    assert not per_site["central_factory"] & per_site["hub"]


def test_an_hvac_outage_reports_the_hours_the_air_handling_was_lost() -> None:
    """A 48-h HVAC failure: its row's lost_h is 48 h (today 0), and the grade loss (0.25 h in,
    back 24 h after the air) is its knock-on."""
    d = centralised_data()
    d["outages"] = [{"name": "ahu", "what": "hvac", "site": "central_factory", "at_h": 2400.0, "duration_h": 48.0}]
    row = _tables(d).outages.set_index("label").loc["ahu"]
    hv = d["sites"]["central_factory"].get("utilities", {}).get("hvac", {})
    after, requal = hv.get("grade_loss_after_h", 0.25), hv.get("requalification_h", 24)
    assert row["lost_h"] == pytest.approx(48.0)
    assert row["knock_on"] == f"grade {48.0 - after + requal:.1f} h"


# -- rescue -----------------------------------------------------------------------------------------


def _rescuing(patients: int, repair_h: float, culture: bool = False) -> dict:
    """``patients`` referred at 0, 1, 2 h into a tiny factory with two Prodigys whose breakdowns
    are rescued 2 h after the failure; with the tiny scenario's seed unit 0 first breaks at
    90.4 h (patient 0's expansion runs from 15 h) and unit 1 not before 300 h. ``culture``: the
    expansion is a culture with a biological end point instead of a fixed 100 h."""
    d = tiny_data()
    d["referrals"] = {"times_h": [float(i) for i in range(patients)]}
    d["sites"]["f"]["devices"]["clinimacs_prodigy"] = {"count": 2, "override": {
        "changeover_h": None, "maintenance": None,
        "failure": {"time_between_h": {"dist": "exponential", "mean": 150}, "repair_h": repair_h,
                    "on_failure": "rescue", "rescue_delay_h": 2}}}
    if culture:
        d["recipe"] = [{"name": "expansion", "device": "clinimacs_prodigy", "role": "op", "hands_on_h": 2,
                        "end_point": {"target_cells": 1.0e9, "max_h": 600}}]
        d["biology"] = {"starting_cells_millions": 50, "doubling_time_h": 40, "lag_h": 12}
    return d


def _prodigy_seizes(e):
    s = e[(e["kind"] == "seize") & (e["resource"] == "clinimacs_prodigy")]
    return s[["time_h", "patient", "unit", "detail"]].astype({"detail": str}).reset_index(drop=True)


def _first_break(e) -> float:
    broken = e[(e["kind"] == "down") & (e["detail"] == "broken")]
    f0 = broken.loc[broken["unit"] == 0, "time_h"].tolist()
    assert 20 < f0[0] < 100 and all(x > 300 for x in broken.loc[broken["unit"] == 1, "time_h"])
    return f0[0]


def test_a_rescue_during_a_culture_moves_the_culture_and_it_goes_on() -> None:
    """A culture in a unit that breaks is moved to the free unit after the rescue delay: the
    cells go with it and keep growing (one culture, paused 2 h, harvested from the second unit).
    Today a culture ignored the rescue and sat in the broken unit for the whole repair."""
    t = _tables(_rescuing(1, repair_h=40.0, culture=True))
    e = t.events
    f0 = _first_break(e)
    s = _prodigy_seizes(e)
    assert list(s["unit"]) == [0, 1] and s.loc[1, "detail"] == "rescue"
    assert s.loc[1, "time_h"] == pytest.approx(f0 + 2.0)
    b = t.batches.iloc[0]
    assert b["outcome"] == "infused" and b["paused_h"] == pytest.approx(2.0)
    assert b["harvest_cells"] >= 1.0e9
    released = e[(e["kind"] == "release") & (e["resource"] == "clinimacs_prodigy")]
    assert list(released["unit"]) == [0, 1]


def test_a_rescue_is_withdrawn_when_the_broken_unit_is_repaired_first() -> None:
    """Both units busy when unit 0 breaks: the rescue waits for a unit, and the 10-h repair
    comes first: the batch stays in unit 0 and resumes (paused 10 h). Today it went on waiting
    for the other unit to empty."""
    t = _tables(_rescuing(2, repair_h=10.0))
    e = t.events
    f0 = _first_break(e)
    s = _prodigy_seizes(e)
    assert not (s["detail"] == "rescue").any()
    b = t.batches.set_index("patient").loc[0]
    assert b["paused_h"] == pytest.approx(10.0)
    assert b["expansion_end_h"] == pytest.approx(115.0 + 10.0)
    assert f0 + 10.0 < b["expansion_end_h"]


def test_a_rescue_goes_ahead_of_the_batches_waiting_to_start() -> None:
    """Patient 2 waits for a Prodigy when unit 0 breaks under patient 0 (repair 200 h): when
    unit 1 empties, the rescued batch gets it before patient 2 (today first come, first
    served)."""
    t = _tables(_rescuing(3, repair_h=200.0))
    e = t.events
    _first_break(e)
    s = _prodigy_seizes(e)
    freed = s[s["unit"] == 1].iloc[1]
    assert freed["patient"] == 0 and freed["detail"] == "rescue"


# -- who does the device work, and when -------------------------------------------------------------


def test_a_vendor_repair_starts_after_the_response_time() -> None:
    """A breakdown during the expansion with a 10-h repair by the vendor, who arrives 30 h after
    the call: the batch is paused 40 h (today the repair started at once)."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["sites"]["f"]["devices"]["clinimacs_prodigy"] = {"count": 1, "override": {
        "changeover_h": None, "maintenance": None,
        "failure": {"time_between_h": {"dist": "exponential", "mean": 150}, "repair_h": 10, "response_h": 30}}}
    t = _tables(d)
    e = t.events
    broken = e[(e["resource"] == "clinimacs_prodigy") & (e["detail"] == "broken")]
    down, up = broken.loc[broken["kind"] == "down", "time_h"], broken.loc[broken["kind"] == "up", "time_h"]
    assert 15 < down.iloc[0] < 115 and up.iloc[0] - down.iloc[0] == pytest.approx(40.0)
    b = t.batches.iloc[0]
    assert b["paused_h"] == pytest.approx(40.0) and b["expansion_end_h"] == pytest.approx(155.0)


def test_a_changeover_by_a_role_waits_for_its_shift_and_is_handed_over() -> None:
    """The Prodigy's 10-h changeover is the hands-on work of a cleaner on office hours (Mon-Fri
    09:00-17:00; 2027-01-04 is a Monday). The expansion ends on Friday 19:00 (115 h): the unit
    stays in changeover until Monday 09:00-17:00 and Tuesday 09:00-11:00 are worked (203 h)."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["shifts"] = {"office": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start_h": 9, "end_h": 17}]}
    d["sites"]["f"]["staff"]["cleaner"] = {"count": 1, "shift": "office"}
    d["sites"]["f"]["devices"]["clinimacs_prodigy"]["override"].update(
        {"changeover_h": 10, "changeover_role": "cleaner"})
    e = _tables(d).events
    co = e[(e["resource"] == "clinimacs_prodigy") & (e["detail"] == "changeover")]
    assert co["kind"].astype(str).tolist()[:2] == ["down", "up"]
    assert co["time_h"].tolist()[:2] == pytest.approx([115.0, 8 * 24 + 11.0])
    work = e[(e["step"] == "changeover:clinimacs_prodigy") & (e["kind"] == "seize")]
    assert work["time_h"].tolist() == pytest.approx([7 * 24 + 9.0, 8 * 24 + 9.0])
