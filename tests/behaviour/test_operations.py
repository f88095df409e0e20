"""Behaviour of the facility's failure mechanisms: outages, backups, breakdowns, shifts, skills,
connections. Each test compares against the same seed without the mechanism (common random
numbers), or checks the whole event log for something that must never happen."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import build, centralised_data, fixed_expansion, ideal_devices, tiny_data

from twin.experiments.run import run_scenario
from twin.model import simulate
from twin.results.collect import replication_tables
from twin.results.tables import held_intervals, intervals, unit_down_intervals

OFF_DUTY = ("off_shift", "absent", "vacant", "training")


def _tables(data: dict, rep: int = 0):
    return replication_tables(simulate(build(data), rep))


def _patient_events(e: pd.DataFrame, units: bool = True) -> pd.DataFrame:
    """The patients' events (which unit of a pool a batch lands in is left out with
    ``units=False``: an outage elsewhere may change which identical unit is free first)."""
    cols = ["patient", "site", "step", "resource", "unit", "kind", "detail", "time_h"]
    if not units:
        cols.remove("unit")
    p = e.loc[e["patient"] >= 0, cols].copy()
    for c in ("site", "step", "resource", "kind", "detail"):
        p[c] = p[c].astype(str)
    return p.reset_index(drop=True)


def ample(data: dict) -> dict:
    """Capacity that never binds, people on duty around the clock, ideal devices, no drop-out,
    a fixed expansion time: the only thing that can move a batch is the mechanism under test."""
    ideal_devices(data)
    fixed_expansion(data)
    for site in data["sites"].values():
        for pool in site.get("devices", {}).values():
            pool["count"] = 300
        site["staff"] = {r: {"count": 300, "always_on_duty": True} for r in site.get("staff", {})}
        if site["kind"] == "hospital":
            site["apheresis_chairs"] = site["infusion_slots"] = 300
        site.get("utilities", {}).pop("ln2", None)  # 300 units would drain any LN2 tank
    data["dropout"] = {"hazard_per_day": 0.0}
    data.pop("shifts", None)
    for st in data["recipe"]:
        st.pop("staff_wait_limit_h", None)
    return data


def _no_backups(data: dict, site: str = "central_factory") -> dict:
    data["sites"][site]["utilities"] = {"hvac": {"grade_loss_after_h": 0.25, "requalification_h": 24}}
    return data


# -- outages hit exactly the batches they should ---------------------------------------------------


def test_power_blackout_pauses_exactly_the_batches_in_powered_devices() -> None:
    """A 10-h blackout (no UPS, no generator) at the factory on day 100. Batches whose baseline
    timeline touched no powered device at the factory during the blackout and the cleanroom's
    grade loss (0.25 h after the cut, back 24 h after power) keep identical timelines; batches in
    a Prodigy mid-expansion are paused exactly 10 h; nothing at the hospital changes."""
    at, dur, requal = 2400.0, 10.0, 24.0
    base = _no_backups(ample(centralised_data()))
    hit = copy.deepcopy(base)
    hit["outages"] = [{"name": "blackout", "what": "power", "site": "central_factory", "at_h": at, "duration_h": dur}]
    a, b = _tables(base), _tables(hit)
    window_end = at + dur + requal + 1.0
    held = held_intervals(a.events, a.events["time_h"].max())
    factory = held[(held["site"] == "central_factory") & (held["resource"] != "ln2_storage")]
    touched = set(factory.loc[(factory["start_h"] < window_end) & (factory["end_h"] > at), "patient"])
    assert len(touched) >= 8, "the check has teeth: many batches were in the factory then"
    pa, pb = _patient_events(a.events, units=False), _patient_events(b.events, units=False)
    untouched = set(a.batches["patient"]) - touched
    sa = pa[pa["patient"].isin(untouched)].reset_index(drop=True)
    sb = pb[pb["patient"].isin(untouched)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sa, sb)
    # Mid-expansion batches (expansion spans the whole window, ends long after it): paused 10 h.
    ba, bb = a.batches.set_index("patient"), b.batches.set_index("patient")
    mid = ba.index[(ba["expansion_start_h"] < at) & (ba["expansion_end_h"] > window_end + 48)]
    assert len(mid) >= 5
    np.testing.assert_allclose(bb.loc[mid, "expansion_end_h"] - ba.loc[mid, "expansion_end_h"], dur, atol=1e-9)
    np.testing.assert_allclose(bb.loc[mid, "paused_h"], dur, atol=1e-9)
    # The hospital's own steps before shipping are untouched for everyone.
    np.testing.assert_allclose(bb["apheresis_end_h"], ba["apheresis_end_h"])
    # The outage log names the blackout, no backup, 10 h lost and the grade's knock-on loss.
    o = b.outages.set_index("label").loc["blackout"]
    assert o["what"] == "power" and o["backup"] == "" and o["lost_h"] == pytest.approx(dur)
    assert o["knock_on"] == f"grade {dur - 0.25 + requal:.1f} h"
    assert o["batches_hit"] >= len(mid)


def test_zero_length_and_fully_covered_outages_change_nothing() -> None:
    """An outage of zero hours, and a 30-minute grid cut carried by a 15-min UPS and a generator
    that starts in 30 s, leave every patient's events identical to the run without them; the
    covered cut still shows in the outage log with its backups."""
    base = centralised_data()
    zero = copy.deepcopy(base)
    zero["outages"] = [{"what": "power", "site": "central_factory", "at_h": 2000, "duration_h": 0},
                       {"what": "device", "site": "central_factory", "pool": "clinimacs_prodigy", "at_h": 2000,
                        "duration_h": 0}]
    covered = copy.deepcopy(base)
    covered["sites"]["central_factory"]["utilities"]["power"]["generator"]["fail_to_start_probability"] = 0.0
    covered["outages"] = [{"name": "cut", "what": "power", "site": "central_factory", "at_h": 2000, "duration_h": 0.5}]
    ref = _patient_events(_tables(base).events)
    pd.testing.assert_frame_equal(_patient_events(_tables(zero).events), ref)
    t = _tables(covered)
    pd.testing.assert_frame_equal(_patient_events(t.events), ref)
    row = t.outages.set_index("label").loc["cut"]
    assert row["backup"] == "ups+generator" and row["lost_h"] == 0.0 and row["batches_hit"] == 0
    assert row["backup_h"] == pytest.approx(0.5)


def test_device_outage_stops_only_the_named_units() -> None:
    """Two of the Prodigies out for 48 h: the batches inside units 0 and 1 at the time are paused
    48 h; batches in other units are untouched."""
    at, dur = 2400.0, 48.0
    base = ample(centralised_data())
    base["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] = 30
    hit = copy.deepcopy(base)
    hit["outages"] = [{"name": "recall", "what": "device", "site": "central_factory", "pool": "clinimacs_prodigy",
                       "units": 2, "at_h": at, "duration_h": dur}]
    a, b = _tables(base), _tables(hit)
    held = held_intervals(a.events, a.events["time_h"].max())
    prod = held[held["resource"] == "clinimacs_prodigy"]
    inside = prod[(prod["start_h"] < at) & (prod["end_h"] > at + dur)]
    in_named = set(inside.loc[inside["unit"] < 2, "patient"])
    others = set(a.batches["patient"]) - set(prod.loc[(prod["unit"] < 2) & (prod["end_h"] > at), "patient"])
    assert in_named and len(others) > 100
    ba, bb = a.batches.set_index("patient"), b.batches.set_index("patient")
    for p in in_named:
        assert bb.loc[p, "paused_h"] == pytest.approx(dur)
        assert bb.loc[p, "expansion_end_h"] - ba.loc[p, "expansion_end_h"] == pytest.approx(dur)
    pa, pb = _patient_events(a.events, units=False), _patient_events(b.events, units=False)
    pd.testing.assert_frame_equal(pa[pa["patient"].isin(others)].reset_index(drop=True),
                                  pb[pb["patient"].isin(others)].reset_index(drop=True))


def test_it_outage_holds_receipt_and_release_until_restored() -> None:
    """MES down 120 h plus a 12-h restore: no receipt and no release starts in those 132 h; the
    ones that fell due then waited (paused with the outage as cause) and start the moment it is
    back."""
    at, dur, restore = 2400.0, 120.0, 12.0
    d = ample(centralised_data())
    d["sites"]["central_factory"]["utilities"] = {"it": {"restore_h": restore}}
    d["outages"] = [{"name": "mes", "what": "it", "site": "central_factory", "at_h": at, "duration_h": dur}]
    t = _tables(d)
    e = t.events
    starts = e[(e["kind"] == "step_start") & e["step"].isin(["receipt", "release"])]
    assert not starts["time_h"].between(at + 1e-9, at + dur + restore - 1e-9).any()
    held = e[(e["kind"] == "pause") & (e["detail"] == "mes")]
    assert len(held) >= 2 and set(held["step"]) <= {"receipt", "release"}
    waited = starts.merge(held[["patient", "step"]], on=["patient", "step"])
    assert len(waited) == len(held)
    np.testing.assert_allclose(waited["time_h"], at + dur + restore)
    assert t.outages.set_index("label").loc["mes", "backup"] == "it_restore"


def test_co2_bottle_bank_lasts_its_litres_over_the_draw_then_blocks_new_starts() -> None:
    """CO2 supply out for 14 days with a 20,000 L bottle bank and 14 Prodigies drawing 6 L/h:
    the bank carries 20000 / 84 = 238.1 h; then no batch starts on a Prodigy until the supply is
    back."""
    at, dur = 2400.0, 336.0
    d = centralised_data()
    d["outages"] = [{"name": "co2", "what": "co2", "site": "central_factory", "at_h": at, "duration_h": dur}]
    t = _tables(d)
    row = t.outages.set_index("label").loc["co2"]
    assert row["backup_h"] == pytest.approx(20000 / 84)
    assert row["lost_h"] == pytest.approx(dur - 20000 / 84)
    e = t.events
    seized = e[(e["kind"] == "seize") & (e["resource"] == "clinimacs_prodigy")]["time_h"]
    assert not seized.between(at + 20000 / 84 + 1e-9, at + dur - 1e-9).any()


def test_o2_bottle_bank_lasts_its_litres_over_the_draw() -> None:
    """Prodigies that draw O2 (3 L/h each, an override) with a 4,200 L O2 bank: the bank carries
    4200 / (14 x 3) = 100 h of a 200-h O2 supply failure, then O2 is lost and no batch starts on
    a Prodigy until the supply is back."""
    at, dur = 2400.0, 200.0
    d = centralised_data()
    f = d["sites"]["central_factory"]
    f["devices"]["clinimacs_prodigy"]["override"] = {"utilities": ["power", "co2", "o2", "compressed_air"],
                                                      "o2_l_per_h": 3}
    f.setdefault("utilities", {})["o2"] = {"backup_l": 4200}
    d["outages"] = [{"name": "o2", "what": "o2", "site": "central_factory", "at_h": at, "duration_h": dur}]
    t = _tables(d)
    row = t.outages.set_index("label").loc["o2"]
    assert row["backup_h"] == pytest.approx(100.0)
    assert row["lost_h"] == pytest.approx(dur - 100.0)
    e = t.events
    seized = e[(e["kind"] == "seize") & (e["resource"] == "clinimacs_prodigy")]["time_h"]
    assert not seized.between(at + 100.0 + 1e-9, at + dur - 1e-9).any()
    assert seized.between(at, at + 100.0).any()  # the bank carried the site: starts went on


def test_ln2_supply_outage_thaws_stored_batches_after_the_tolerance() -> None:
    """LN2 deliveries stop for 30 days and the tank (3,000 L, 45 L/day here) runs dry after
    about 67 days from the last delivery... so make the tank small: 200 L lasts 4.4 days. The
    storage freezer tolerates 120 h without LN2; every batch in storage for longer than that
    while LN2 is gone is lost with cause storage:stopped_<label>."""
    d = centralised_data()
    d["sites"]["central_factory"]["utilities"]["ln2"] = {"tank_l": 200, "delivery_every_days": 2}
    d["outages"] = [{"name": "ln2_strike", "what": "ln2", "site": "central_factory", "at_h": 2400, "duration_h": 720}]
    t = _tables(d)
    b = t.batches
    thawed = b[b["cause"] == "storage:stopped_ln2_strike"]
    assert len(thawed) >= 3
    row = t.outages.set_index("label").loc["ln2_strike"]
    assert row["backup"] == "ln2_tank" and row["lost_h"] > 600


# -- a batch never runs where it cannot ------------------------------------------------------------


def _stressed() -> dict:
    """Frequent breakdowns, stochastic blackouts without backup, shifts, absence, turnover."""
    d = centralised_data()
    d["horizon_days"] = 200
    d["warmup_days"] = 0
    d["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["override"] = {
        "failure": {"time_between_h": {"dist": "exponential", "mean": 300},
                    "repair_h": {"dist": "lognormal", "mean": 20, "sd": 10}, "repair_role": "engineer"}}
    d["sites"]["central_factory"]["staff"]["engineer"] = {"count": 1, "shift": "day"}
    d["sites"]["central_factory"]["utilities"]["power"] = {"ups_minutes": 5}
    d["outages"] = [{"name": "grid", "what": "power", "site": "central_factory", "rate_per_year": 20,
                     "duration_h": {"dist": "exponential", "mean": 6}},
                    {"name": "sick", "what": "staff", "site": "central_factory", "role": "operator", "units": 1,
                     "rate_per_year": 6, "duration_h": 72}]
    return d


def _progress_intervals(e: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Per (patient, step): the intervals the step was progressing (start..end minus pauses)."""
    keys = ["patient", "step"]
    ev = e[e["patient"] >= 0]
    steps = intervals(ev, "step_start", "step_end", keys, horizon)
    pauses = intervals(ev, "pause", "resume", keys, horizon)
    rows = []
    for r in steps.itertuples(index=False):
        cur = r.start_h
        ps = pauses[(pauses["patient"] == r.patient) & (pauses["step"] == r.step)].sort_values("start_h")
        for p in ps.itertuples(index=False):
            if p.start_h > cur:
                rows.append((r.patient, r.step, cur, min(p.start_h, r.end_h)))
            cur = max(cur, p.end_h)
        if r.end_h > cur:
            rows.append((r.patient, r.step, cur, r.end_h))
    return pd.DataFrame(rows, columns=["patient", "step", "start_h", "end_h"])


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def test_no_batch_runs_on_a_broken_device_or_without_power_or_with_an_absent_operator() -> None:
    """Over the whole event log of a stressed run: no step progresses on a Prodigy unit while
    it is broken or the factory has no power, and no person holds a task while off shift,
    absent, vacant, in training or out, or for a step their role is not qualified for."""
    data = _stressed()
    loaded = build(data)
    raw = simulate(loaded, 0)
    t = replication_tables(raw)
    e, horizon = t.events, raw.horizon_h
    down = unit_down_intervals(e, horizon)
    prog = _progress_intervals(e, horizon)
    held = held_intervals(e, horizon)
    power_loss = intervals(e[(e["unit"] < 0) & (e["resource"] == "power")], "down", "up", ["site", "detail"], horizon)
    assert len(power_loss) >= 3 and (down["detail"] == "broken").sum() >= 10  # the check has teeth
    broken = down[(down["resource"] == "clinimacs_prodigy") & (down["detail"] == "broken")]
    checked = 0
    for h in held[held["resource"] == "clinimacs_prodigy"].itertuples(index=False):
        mine = prog[(prog["patient"] == h.patient)]
        for p in mine.itertuples(index=False):
            a0, a1 = max(p.start_h, h.start_h), min(p.end_h, h.end_h)
            if a1 <= a0:
                continue
            checked += 1
            for bk in broken[broken["unit"] == h.unit].itertuples(index=False):
                assert _overlap(a0, a1, bk.start_h, bk.end_h) < 1e-9, (h, p, bk)
            for pl in power_loss.itertuples(index=False):
                assert _overlap(a0, a1, pl.start_h, pl.end_h) < 1e-9, (h, p, pl)
    assert checked > 100
    # Utilisation is of on-duty time: never above 1, even for units that broke with a batch inside.
    util = {k: v for k, v in t.kpis.items() if k.startswith("utilisation.")}
    assert util and max(util.values()) <= 1 + 1e-9
    # People: every task inside an on-duty stretch, and only steps they are qualified for.
    sc = loaded.scenario
    roles = sc.step_roles(loaded.device_types)
    staff = {(s, r): spec for s, site in sc.sites.items() for r, spec in site.staff.items()}
    off = down[down["detail"].isin(OFF_DUTY) | down["detail"].str.startswith("outage:")]
    tasks = held[held.apply(lambda r: (r["site"], r["resource"]) in staff, axis=1)]
    assert len(tasks) > 500
    for task in tasks.itertuples(index=False):
        step = task.step
        skill = step.split(":", 1)[1] if step.startswith("transfer:") else step
        spec = staff[(task.site, task.resource)]
        assert roles.get(skill) == task.resource or skill in spec.skills, (task.resource, step)
        mine = off[(off["site"] == task.site) & (off["resource"] == task.resource) & (off["unit"] == task.unit)]
        for o in mine.itertuples(index=False):
            assert _overlap(task.start_h, task.end_h, o.start_h, o.end_h) < 1e-9, (task, o)


# -- shifts, skills and steps that cannot wait ---------------------------------------------------


def _shifted_tiny() -> dict:
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["shifts"] = {"office": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start_h": 9, "end_h": 17}]}
    d["sites"]["f"]["staff"] = {"op": {"count": 1, "shift": "office"}, "qc": 1, "qp": 1}
    return d


def test_hands_on_waits_for_the_next_shift() -> None:
    """2027-01-04 is a Monday. The product reaches the factory at 14 h (Monday 14:00) and
    receipt needs the office-hours operator for 1 h: done at once. The 100-h expansion then
    starts at 15 h with 2 h hands-on (fits before 17:00) and ends at 115 h (Friday 19:00);
    cryopreservation's hands-on waits for Monday 09:00 (177 h)."""
    t = _tables(_shifted_tiny())
    b = t.batches.iloc[0]
    assert b["receipt_start_h"] == 14.0
    assert b["expansion_start_h"] == 15.0 and b["expansion_end_h"] == 115.0
    assert b["cryopreservation_start_h"] == 7 * 24 + 9.0


def test_a_step_that_cannot_wait_fails_without_staff_and_an_on_call_crew_saves_it() -> None:
    """With office-hours staff only, a wash that may wait at most 14 h for an operator (due
    Friday 19:00 when the expansion ends) fails the batch with cause
    ``wash:no_qualified_staff``; a weekend on-call role qualified for it does it on Saturday at
    08:00 (13 h later)."""
    d = _shifted_tiny()
    d["recipe"].append({"name": "wash", "device": "clinimacs_prodigy", "duration_h": 1, "role": "op",
                        "hands_on_h": 1, "staff_wait_limit_h": 14})
    t = _tables(d)
    assert t.batches.iloc[0]["outcome"] == "failed"
    assert t.batches.iloc[0]["cause"] == "wash:no_qualified_staff"
    d["shifts"]["weekend"] = [{"days": ["sat", "sun"], "start_h": 8, "end_h": 16}]
    d["sites"]["f"]["staff"]["on_call"] = {"count": 1, "shift": "weekend", "skills": ["wash"]}
    t = _tables(d)
    b = t.batches.iloc[0]
    assert b["wash_start_h"] == 5 * 24 + 8.0  # Saturday 08:00
    seize = t.events[(t.events["kind"] == "seize") & (t.events["step"] == "wash") & (t.events["resource"] == "on_call")]
    assert len(seize) == 1


# -- breakdowns ----------------------------------------------------------------------------------


def _breaking_tiny(on_failure: str, units: int = 1) -> dict:
    """One batch, expansion 15-115 h; Prodigy times between failures exponential (mean 150 h),
    repairs 10 h. With the tiny scenario's seed, unit 0 first breaks at 90.4 h and next long
    after 130 h, and unit 1 not before 300 h (the test checks this on the log)."""
    d = tiny_data()
    d["referrals"] = {"times_h": [0.0]}
    d["sites"]["f"]["devices"]["clinimacs_prodigy"] = {"count": units, "override": {
        "changeover_h": None, "maintenance": None,
        "failure": {"time_between_h": {"dist": "exponential", "mean": 150}, "repair_h": 10,
                    "on_failure": on_failure, "rescue_delay_h": 2}}}
    return d


@pytest.mark.parametrize("policy, outcome, delay", [
    ("pause", "infused", 10.0),   # stopped for the 10-h repair, then resumes where it was
    ("abort", "lost", None),
    ("rescue", "infused", 2.0),   # moved to the second unit 2 h after the failure
])
def test_breakdown_pauses_aborts_or_rescues_the_batch_inside(policy, outcome, delay) -> None:
    """A breakdown during the expansion pauses the batch for the repair, loses it, or moves it
    to a working unit after the rescue delay, as the catalogue's on_failure says."""
    t = _tables(_breaking_tiny(policy, units=2 if policy == "rescue" else 1))
    e = t.events
    broken = e[(e["kind"] == "down") & (e["detail"] == "broken")]
    f0 = broken.loc[broken["unit"] == 0, "time_h"].tolist()
    assert 15 < f0[0] < 115 and all(x > 130 for x in f0[1:])  # preconditions of the hand derivation
    assert all(x > 130 for x in broken.loc[broken["unit"] == 1, "time_h"])
    b = t.batches.iloc[0]
    assert b["outcome"] == outcome
    if delay is None:
        assert b["cause"] == "expansion:breakdown" and b["outcome_h"] == pytest.approx(f0[0])
    else:
        assert b["expansion_end_h"] == pytest.approx(115.0 + delay)
    if policy == "rescue":
        seizes = e[(e["kind"] == "seize") & (e["resource"] == "clinimacs_prodigy")]
        assert list(seizes["unit"]) == [0, 1]
        assert seizes["time_h"].tolist() == pytest.approx([15.0, f0[0] + 2.0])


# -- connections ---------------------------------------------------------------------------------


def test_connections_contaminate_and_leak_at_their_probabilities() -> None:
    """A sterile weld that always contaminates marks every batch that got past it; one that
    always leaks (batch lost) loses every batch at the transfer."""
    d = centralised_data()
    d["horizon_days"] = 120
    d["connections"] = {"sterile_weld": {"contamination_probability": 1.0}}
    b = _tables(d).batches
    welded = b["transfer:selection_end_h"].notna()
    assert welded.sum() > 20 and b.loc[welded, "contaminated"].all()
    assert not b.loc[~welded, "contaminated"].any()
    d["connections"] = {"sterile_weld": {"leak_probability": 1.0, "leak_effect": "lost"}}
    b = _tables(d).batches
    reached = b["transfer:selection_start_h"].notna()
    assert reached.sum() > 20
    assert (b.loc[reached, "cause"] == "transfer:selection:leak").all()


def test_open_transfer_waits_for_the_cleanroom_grade() -> None:
    """A 48-h HVAC failure takes the room out of grade 0.25 h in and for 24 h after it ends: no open
    transfer or open step starts in that time."""
    at, dur = 2400.0, 48.0
    d = ample(centralised_data())
    d["outages"] = [{"name": "ahu", "what": "hvac", "site": "central_factory", "at_h": at, "duration_h": dur}]
    e = _tables(d).events
    opens = e[(e["kind"] == "step_start") & e["step"].isin(["transfer:formulation", "formulation"])]["time_h"]
    assert not opens.between(at + 0.25 + 1e-9, at + dur + 24 - 1e-9).any()
    assert opens.between(at + dur + 24 - 1e-9, at + dur + 24 + 1e-9).any()


def test_same_seed_same_outage_log() -> None:
    """Determinism: stochastic outages, breakdowns and absences repeat exactly with the seed."""
    a = run_scenario(build(_stressed()), replications=1)
    b = run_scenario(build(_stressed()), replications=1)
    pd.testing.assert_frame_equal(a.outages, b.outages)
    pd.testing.assert_frame_equal(a.events, b.events)


def test_devices_that_need_the_network_stop_while_it_is_down() -> None:
    """With the Prodigy's catalogue entry overridden to ``network: stop``, an MES outage pauses
    every batch in a Prodigy for exactly the outage plus its restore; with ``continue`` (the
    catalogue's value) none is paused."""
    at, dur, restore = 2400.0, 10.0, 2.0

    def run(network: str):
        d = ample(centralised_data())
        d["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["override"]["network"] = network
        d["sites"]["central_factory"]["utilities"] = {"it": {"restore_h": restore}}
        d["outages"] = [{"name": "mes", "what": "it", "site": "central_factory", "at_h": at, "duration_h": dur}]
        return _tables(d)

    stop, go = run("stop"), run("continue")
    held = held_intervals(stop.events, stop.events["time_h"].max())
    inside = set(held.loc[(held["resource"] == "clinimacs_prodigy") & (held["start_h"] < at)
                          & (held["end_h"] > at + dur + restore), "patient"])
    assert len(inside) >= 5
    p = stop.impacts[(stop.impacts["cause"] == "mes") & (stop.impacts["effect"] == "pause")]
    in_prodigy = p[p["step"].isin(["selection", "transduction", "expansion", "harvest"])]
    assert set(in_prodigy["patient"]) == inside
    np.testing.assert_allclose(in_prodigy["hours"], dur + restore)
    q = go.impacts[(go.impacts["cause"] == "mes") & (go.impacts["effect"] == "pause")]
    assert not q["step"].isin(["selection", "transduction", "expansion", "harvest"]).any()


def test_one_more_operator_keeps_everyone_elses_absences() -> None:
    """Common random numbers across headcounts: each person's absences come from their own
    stream, so with a fifth operator the first four are absent on exactly the same shifts, and
    the fifth has absences of their own. (Compared by day: someone busy when their absence
    begins leaves when the task in hand is done, and that time depends on the workload.)"""
    def absences(count: int) -> set[tuple[int, int]]:
        data = centralised_data()
        role = data["sites"]["central_factory"]["staff"]["operator"]
        # everyone rostered on every shift (posts = count on a calendar within the contract), so
        # that who is rostered does not depend on the headcount and the draws are what is compared
        role.update(count=count, posts=count, shift="office", absence_per_day=0.2)
        role.pop("turnover", None)
        data["horizon_days"] = 120
        e = _tables(data).events
        down = e[(e["kind"] == "down") & (e["detail"] == "absent") & (e["resource"] == "operator")]
        return {(int(r.unit), int(r.time_h // 24)) for r in down.itertuples()}

    four, five = absences(4), absences(5)
    assert four and {a for a in five if a[0] < 4} == four
    assert any(a[0] == 4 for a in five)
