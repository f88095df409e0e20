"""Real networks (issue 17, item 5, the physical side): routes of several legs through hubs with
hub steps, a time zone and holidays per site, a fresh final product with a shelf life. Every
feature is off by default; the identity tests show that switching one on at its neutral value
changes nothing else in the event log."""

from __future__ import annotations

import copy
import datetime as dt

import pandas as pd
import pytest
import yaml
from conftest import build, centralised_data, fixed_expansion, ideal_devices, tiny_data

from twin.core.errors import ScenarioError
from twin.model import simulate
from twin.results.tables import events_table

TWO_ZONES = """
name: two_zones
start_date: 2027-01-04        # a Monday
horizon_days: 30
seed: 1
shifts:
  day: [{days: [mon, tue, wed, thu, fri, sat, sun], start_h: 8, end_h: 16}]
sites:
  h: {kind: hospital, apheresis_chairs: 1, infusion_slots: 1, utc_offset_h: 1}
  f:
    kind: factory
    utc_offset_h: -8
    devices: {clinimacs_prodigy: {count: 2}, controlled_rate_freezer: {count: 2}, ln2_storage: {count: 1}}
    staff:
      op: {count: 4, posts: 2, shift: day}
      qc: {count: 1, always_on_duty: true}
      qp: {count: 1, always_on_duty: true}
referrals: {times_h: [0, 1]}
apheresis: {duration_h: 4}
receipt: {duration_h: 1, role: op, hands_on_h: 1}
recipe:
  - {name: expansion, device: clinimacs_prodigy, duration_h: 100}
cryopreservation: {device: controlled_rate_freezer, duration_h: 3}
storage: {device: ln2_storage}
qc: {role: qc, tests: [{name: sterility, duration_h: 48, hands_on_h: 1}]}
release: {role: qp, duration_h: 2, hands_on_h: 1}
infusion: {duration_h: 1}
couriers:
  - {from: h, to: f, transit_h: 10, pickup_h: 18}
  - {from: f, to: h, transit_h: 10, pickup_h: 9}
"""
"""Two patients, a hospital at UTC+1 and a plant at UTC-8 (twin clock: UTC). Pickups and the
plant's day shift (08-16 local) are in local time."""

HUB = {"kind": "hub", "utc_offset_h": 1, "staff": {"tech": {"count": 1, "always_on_duty": True}}}
HUB_ROUTE = {"from": "h", "to": "f", "via": [{"site": "hub", "steps": [
    {"name": "hub_freezing", "duration_h": 3, "role": "tech", "hands_on_h": 1, "freezes": True}]}]}
HUB_LANES = [{"from": "h", "to": "hub", "transit_h": 2}, {"from": "hub", "to": "f", "transit_h": 10, "pickup_h": 18}]


def _events(data: dict) -> pd.DataFrame:
    return events_table(simulate(build(data), 0))


def _rows(e: pd.DataFrame) -> list[tuple]:
    """(patient, site, step, kind, time) of every step, leg and outcome row."""
    kinds = ("step_start", "step_end", "leg_start", "leg_end", "outcome")
    return sorted((int(r.patient), str(r.site), str(r.step), str(r.kind), float(r.time_h))
                  for r in e.itertuples() if r.kind in kinds)


def _two_zones(route: bool) -> dict:
    d = ideal_devices(yaml.safe_load(TWO_ZONES))
    if route:
        d["sites"]["hub"] = copy.deepcopy(HUB)
        d["couriers"] += copy.deepcopy(HUB_LANES)
        d["routes"] = [copy.deepcopy(HUB_ROUTE)]
    return d


@pytest.mark.parametrize("route", [False, True])
def test_two_patients_across_two_time_zones_hand_derived(route: bool) -> None:
    """Derived by hand from TWO_ZONES (times on the twin clock = UTC).

    Patient 0: apheresis 0-4; the h->f pickup is at 18:00 at h (UTC+1) = twin 17, so it arrives
    at 27 (f local 19:00, after the day shift); f's day shift 08-16 local is twin 16-24, 40-48,
    ...: receipt (an operator, 1 h) 40-41; expansion 41-141; cryopreservation 141-144; QC
    (sterility, 48 h) 144-192; release 192-194; the f->h pickup at 09:00 at f (UTC-8) after
    194 (f local 186 = day 7, 18:00) is day 8 09:00 = local 201 = twin 209; arrives 219;
    infusion 219-220.
    Patient 1: the chair is free at 4: apheresis 4-8; the same pickup (twin 17), arrival 27;
    the second operator on shift does its receipt 40-41, expansion on the second Prodigy 41-141,
    cryopreservation 141-144; the one QC analyst starts its test after patient 0's hands-on hour:
    sterility 145-193 (panel 144-193); release when the QP is free, 193-195; the same pickup,
    arrival 219; the one infusion slot is free at 220: infusion 220-221.
    With the route h -> hub (UTC+1, freezing, 1 technician) -> f: leg h->hub 2 h on demand, then
    the hub's freezing (3 h, 1 h hands-on), then the hub->f pickup at 18:00 hub time = twin 17:
    patient 0's leg 4-6, freezing 6-9; patient 1's leg 8-10, freezing 10-13 (the technician is
    free); both wait for the pickup at twin 17 and arrive at 27, so nothing after it changes."""
    got = _rows(_events(_two_zones(route)))
    plans = {
        0: [("h", "apheresis", 0, 4), ("f", "receipt", 40, 41), ("f", "expansion", 41, 141),
            ("f", "cryopreservation", 141, 144), ("f", "storage", 144, 194), ("f", "qc", 144, 192),
            ("f", "qc:sterility", 144, 192), ("f", "release", 192, 194), ("h", "infusion", 219, 220)],
        1: [("h", "apheresis", 4, 8), ("f", "receipt", 40, 41), ("f", "expansion", 41, 141),
            ("f", "cryopreservation", 141, 144), ("f", "storage", 144, 195), ("f", "qc", 144, 193),
            ("f", "qc:sterility", 145, 193), ("f", "release", 193, 195), ("h", "infusion", 220, 221)],
    }
    ships = {0: [("ship_to_factory", 4, 27), ("ship_to_hospital", 194, 219)],
             1: [("ship_to_factory", 8, 27), ("ship_to_hospital", 195, 219)]}
    hub = {0: (4, 6, 9), 1: (8, 10, 13)}
    expected = []
    for pid, plan in plans.items():
        for site, step, a, b in plan:
            expected += [(pid, site, step, "step_start", float(a)), (pid, site, step, "step_end", float(b))]
        (_, a, b), (_, c, d) = ships[pid]
        expected += [(pid, "h", "ship_to_factory", "step_start", float(a)), (pid, "f", "ship_to_factory", "step_end", float(b)),
                     (pid, "f", "ship_to_hospital", "step_start", float(c)), (pid, "h", "ship_to_hospital", "step_end", float(d))]
        expected.append((pid, "h", "infusion", "outcome", float(plan[-1][3])))
        if route:
            leave, at_hub, frozen = hub[pid]
            expected += [(pid, "h", "ship_to_factory", "leg_start", float(leave)),
                         (pid, "hub", "ship_to_factory", "leg_end", float(at_hub)),
                         (pid, "hub", "hub_freezing", "step_start", float(at_hub)),
                         (pid, "hub", "hub_freezing", "step_end", float(frozen)),
                         (pid, "hub", "ship_to_factory", "leg_start", float(frozen)),
                         (pid, "f", "ship_to_factory", "leg_end", 27.0)]
    assert got == sorted(expected)


def _zero_hub(d: dict, hospital: str, factory: str) -> dict:
    """``d`` with both shipments between ``hospital`` and ``factory`` routed through a hub each
    (an outbound hub with a zero-length first leg and a zero-length step, an importer with a
    zero-length last leg), every site at offset 0 and with no holidays, said explicitly."""
    lanes = {(lane["from"], lane["to"]): lane for lane in d["couriers"]}
    out, back = lanes[(hospital, factory)], lanes[(factory, hospital)]  # the legs with time take their numbers
    d["sites"]["hub_out"] = {"kind": "hub"}
    d["sites"]["importer"] = {"kind": "hub"}
    d["couriers"] += [
        {**copy.deepcopy(out), "from": hospital, "to": "hub_out"},
        {"from": "hub_out", "to": factory, "transit_h": 0},
        {"from": factory, "to": "importer", "transit_h": 0},
        {**copy.deepcopy(back), "from": "importer", "to": hospital},
    ]
    d["routes"] = [
        {"from": hospital, "to": factory, "via": [{"site": "hub_out", "steps": [{"name": "repack", "duration_h": 0}]}]},
        {"from": factory, "to": hospital, "via": [{"site": "importer"}]},
    ]
    for site in d["sites"].values():
        site["utc_offset_h"] = 0
        site["holidays"] = []
    return d


def test_zero_length_legs_and_zero_offsets_give_the_single_leg_event_log() -> None:
    """The bundled centralised scenario (shift rotas, pickups, breakdowns, cultures) with fixed
    transits: routing both shipments through hubs whose extra legs and steps take no time, with
    every site at offset 0, gives the direct lanes' event log row for row, once the route's own
    rows (its legs, the hub step) are set aside: the route's shipment is logged as the direct
    lane's (resource: the route's ends)."""
    base = fixed_expansion(centralised_data())
    base["horizon_days"], base["warmup_days"] = 120, 0
    for lane in base["couriers"]:
        lane["transit_h"] = 20  # fixed: a lane's draws are its own, so a random one would differ
        lane["pickup_h"] = 16
        lane["pickup_days"] = ["mon", "tue", "wed", "thu", "fri"]
    routed = _zero_hub(copy.deepcopy(base), "city_hospital", "central_factory")
    direct = _events(base)
    via = _events(routed)
    legs = via["kind"].isin(["leg_start", "leg_end"]) | (via["step"] == "repack")
    assert legs.sum() > 0 and (via["step"] == "repack").sum() > 0
    cols = ["time_h", "patient", "site", "step", "resource", "unit", "kind", "detail"]
    # (rows at one instant are compared as a set: a zero-length leg or step is a SimPy event of
    # its own, so rows logged at the same hour may come in another order)
    a = direct[cols].astype(str).sort_values(cols).reset_index(drop=True)
    b = via.loc[~legs, cols].astype(str).sort_values(cols).reset_index(drop=True)
    assert len(a) > 1000 and a.equals(b)


def test_a_legs_loss_and_delay_are_as_on_a_direct_lane() -> None:
    """A leg of a route loses and delays a shipment as its lane says: a leg that always loses
    loses every batch at the leg's origin (cause ``ship_to_factory:shipment_lost``), one that is
    always 5 h late makes every arrival 5 h later."""
    d = _two_zones(route=True)
    d["couriers"][-1].update(delay_probability=1.0, delay_h=5)  # hub -> f
    e = _events(d)
    arrivals = e[(e["step"] == "ship_to_factory") & (e["kind"] == "step_end")]["time_h"].tolist()
    assert arrivals == [32.0, 32.0]
    d["couriers"][-1].update(delay_probability=0.0, loss_probability=1.0)
    e = _events(d)
    out = e[e["kind"] == "outcome"]
    assert set(out["detail"].astype(str)) == {"lost"}
    assert set(out["step"].astype(str)) == {"ship_to_factory:shipment_lost"}
    assert set(out["site"].astype(str)) == {"hub"}


def test_freezing_at_a_hub_puts_the_later_legs_on_the_shipper_clock() -> None:
    """After a hub step that freezes, the material travels in a dry shipper: a leg longer than
    the shipper's hold time loses it; the same leg before the freezing does not."""
    d = _two_zones(route=True)
    d["shipper_hold_h"] = 8  # the hub->f leg takes 10 h
    out = _events(d).query("kind == 'outcome'")
    assert set(out["step"].astype(str)) == {"ship_to_factory:shipper_hold_exceeded"}
    d["routes"][0]["via"][0]["steps"][0]["freezes"] = False
    d["couriers"][0].update(transit_h=10)
    d["couriers"][1].update(transit_h=4)  # f->h: 10 h (the product ships frozen) -> 4 h
    out = _events(d).query("kind == 'outcome'")
    assert set(out["detail"].astype(str)) == {"infused"}


def test_fresh_material_clock_ends_at_the_hub_that_freezes_it() -> None:
    """Fresh starting material frozen at the hub: a ``fresh_material`` hold to the hub step
    stops the clock there (patient 0's freezing starts 2 h after apheresis ends, patient 1's 2 h
    too); a limit of 1.5 h loses both at 1.5 h; ``viability_h`` (to the start of processing) is
    refused with the holds entry to write instead."""
    d = _two_zones(route=True)
    d["holds"] = [{"name": "fresh_material", "from": "apheresis", "to": "hub_freezing", "limit_h": 5}]
    assert set(_events(d).query("kind == 'outcome'")["detail"].astype(str)) == {"infused"}
    d["holds"][0]["limit_h"] = 1.5
    out = _events(d).query("kind == 'outcome'")
    assert [(str(r.step), r.time_h) for r in out.itertuples()] == [("hold:fresh_material", 5.5),
                                                                  ("hold:fresh_material", 9.5)]
    d.pop("holds")
    d["starting_material"] = {"form": "fresh", "viability_h": 5}
    with pytest.raises(ScenarioError, match="to: hub_freezing, limit_h: 5"):
        build(d)


def test_nobody_works_a_shift_on_a_holiday() -> None:
    """A plant at UTC-8 with its day shift every day: on the listed local dates nobody comes on
    duty (the rota has no shift that starts on them), and on the days around them people do."""
    d = _two_zones(route=False)
    d["sites"]["f"]["holidays"] = [dt.date(2027, 1, 6), dt.date(2027, 1, 7)]  # local days 2 and 3 at f
    e = _events(d)
    ons = e[(e["kind"] == "up") & (e["detail"] == "off_shift") & (e["site"] == "f")]["time_h"]
    local_days = sorted({int((t - 8) // 24) for t in ons})
    assert 2 not in local_days and 3 not in local_days
    assert {0, 1, 4, 5} <= set(local_days)
    # The batches that arrive at 27 (f local day 0, 19:00) are received on local day 1 as
    # before: the holidays start after it.
    rec = e[(e["step"] == "receipt") & (e["kind"] == "step_start")]["time_h"].tolist()
    assert rec == [40.0, 40.0]
    d["sites"]["f"]["holidays"] = [dt.date(2027, 1, 5)]  # local day 1: received on day 2 at 08:00 local
    rec = _events(d).query("step == 'receipt' and kind == 'step_start'")["time_h"].tolist()
    assert rec == [64.0, 64.0]


def test_no_pickup_on_a_holiday_of_the_origin() -> None:
    """A holiday at the hospital moves its pickup to the next working day's cut-off."""
    d = _two_zones(route=False)
    d["sites"]["h"]["holidays"] = [dt.date(2027, 1, 4)]  # local day 0 at h: the 18:00 pickup is the next day's
    e = _events(d)
    arrivals = e[(e["step"] == "ship_to_factory") & (e["kind"] == "step_end")]["time_h"].tolist()
    assert arrivals == [27.0 + 24, 27.0 + 24]


def test_fresh_product_skips_cryopreservation_and_is_lost_past_its_shelf_life() -> None:
    """A fresh final product (72 h shelf life, parameters.md 1.10): no cryopreservation; in the
    tiny scenario the last recipe step ends at 115 h and infusion starts at 175 h (QC 48 h,
    release 2 h, courier 10 h): 60 h, inside 72 h; with a 25-h courier back (infusion at 190 h,
    75 h) it is lost at 115 + 72 = 187 h, on the way, cause ``hold:shelf_life``."""
    d = tiny_data()
    d["final_product"] = {"form": "fresh", "shelf_life_h": 72}
    e = _events(d)
    assert not (e["step"] == "cryopreservation").any()
    out = e[e["kind"] == "outcome"]
    assert out["detail"].astype(str).tolist() == ["infused", "infused"]
    p0 = e[(e["patient"] == 0) & (e["step"] == "infusion") & (e["kind"] == "step_start")]["time_h"].tolist()
    assert p0 == [175.0]
    d["couriers"][1]["transit_h"] = 25
    d["referrals"] = {"times_h": [0]}
    out = _events(d).query("kind == 'outcome'")
    assert [(str(r.detail), str(r.step), r.time_h) for r in out.itertuples()] == [("lost", "hold:shelf_life", 187.0)]


def test_route_and_network_input_errors_are_located() -> None:
    """A route whose leg has no courier lane, a hub step whose role has nobody at the hub, a
    hospital-only field on a hub, and a shelf life on a cryopreserved product each give a
    message that names the field."""
    d = _two_zones(route=True)
    d["couriers"] = [c for c in d["couriers"] if c["from"] != "hub"]
    with pytest.raises(ScenarioError, match="no courier lane from 'hub' to 'f'"):
        build(d)
    d = _two_zones(route=True)
    d["sites"]["hub"]["staff"] = {}
    with pytest.raises(ScenarioError, match="role 'tech' has no staff at 'hub'"):
        build(d)
    d = _two_zones(route=True)
    d["sites"]["hub"]["apheresis_chairs"] = 1
    with pytest.raises(ScenarioError, match="a hub has no apheresis_chairs"):
        build(d)
    d = _two_zones(route=True)
    d["sites"]["hub"]["staff"] = {"tech": {"count": 2, "shift": "day"}}
    d["routes"][0]["via"][0]["steps"][0].update(duration_h=10, hands_on_h=9)
    with pytest.raises(ScenarioError, match="9 hands-on hours do not fit in any shift of a role qualified for 'hub_freezing'"):
        build(d)
    d = tiny_data()
    d["final_product"] = {"shelf_life_h": 72}
    with pytest.raises(ScenarioError, match="shelf_life_h applies only to a fresh final product"):
        build(d)
    d = tiny_data()
    d["sites"]["f"]["utc_offset_h"] = 15
    with pytest.raises(ScenarioError, match="less than or equal to 14"):
        build(d)
