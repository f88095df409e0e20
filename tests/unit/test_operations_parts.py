"""Unit tests of the operations pieces: shift calendars, backup plans, conditions, pools, and the
scenario errors for shifts, skills, repairs, connections, utilities and outages."""

from __future__ import annotations

import pytest
import simpy
from conftest import build, centralised_data, tiny_data

from twin.core.errors import ScenarioError
from twin.model.availability import ln2_plan, power_plan
from twin.model.conditions import Condition
from twin.model.pools import Unit, UnitPool
from twin.scenario.calendars import SiteClock, shift_intervals
from twin.scenario.rota import shift_occurrences
from twin.scenario.staffing import ShiftBlock

# -- shift calendars -------------------------------------------------------------------------------


def test_weekday_day_shift_intervals() -> None:
    """Mon-Fri 07-19 from a Monday start: five 12-h intervals a week, none at the weekend."""
    block = ShiftBlock(days=["mon", "tue", "wed", "thu", "fri"], start_h=7, end_h=19)
    iv = shift_intervals([block], first_weekday=0, horizon_h=14 * 24)
    assert iv[:6] == [(7, 19), (31, 43), (55, 67), (79, 91), (103, 115), (175, 187)]
    assert len(iv) == 10


def test_overnight_blocks_merge_into_one_stretch() -> None:
    """A night block 19-07 next to a day block 07-19 every day gives one stretch around the clock."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    iv = shift_intervals([ShiftBlock(days=days, start_h=7, end_h=19), ShiftBlock(days=days, start_h=19, end_h=7)],
                         first_weekday=0, horizon_h=72)
    assert iv == [(0.0, 24 * 4 + 7)]


def test_shift_that_started_before_the_start_is_cut_at_zero() -> None:
    """A Sunday night block 22-06 seen from a Monday start: on duty from 0 to 6 h."""
    iv = shift_intervals([ShiftBlock(days=["sun"], start_h=22, end_h=6)], first_weekday=0, horizon_h=48)
    assert iv == [(0.0, 6.0)]


def test_local_shifts_are_shifted_onto_the_twin_clock_and_skip_holidays() -> None:
    """Mon-Fri 09-17 at a site at UTC+1 from a Monday start: Monday's shift is twin 08-16; at
    UTC-8 it is twin 17-01 (and Sunday's 09:00 local is not a workday); a holiday on local day 1
    (Tuesday) drops that day's shift only."""
    block = [ShiftBlock(days=["mon", "tue", "wed", "thu", "fri"], start_h=9, end_h=17)]
    assert shift_occurrences(block, 0, 48, SiteClock(offset_h=1))[:2] == [(8.0, 16.0), (32.0, 40.0)]
    assert shift_occurrences(block, 0, 48, SiteClock(offset_h=-8))[:2] == [(17.0, 25.0), (41.0, 49.0)]
    assert shift_occurrences(block, 0, 96, SiteClock(offset_h=1, holidays=frozenset({1}))) == [
        (8.0, 16.0), (56.0, 64.0), (80.0, 88.0)]
    # Offset 0 and no holidays: the calendar as without a clock.
    assert shift_occurrences(block, 3, 500, SiteClock(first_weekday=3)) == shift_occurrences(block, 3, 500)


def test_local_hour_at_a_site() -> None:
    """World.local_h and SiteClock: a site's local hour is the twin hour plus its offset, its
    hour of the day wraps at 24; pickups wait for the cut-off in the origin's local time."""
    from twin.model.world import World

    d = tiny_data()
    d["sites"]["f"]["utc_offset_h"] = -8
    d["couriers"][1]["pickup_h"] = 9
    w = World(build(d), 0)
    assert w.local_h("f", 3.0) == -5.0 and w.local_h("h", 3.0) == 3.0
    assert w.clocks["f"].hour_of_day(3.0) == 19.0
    lane = w.sc.lane("f", "h")
    assert w.hours_to_pickup(lane, 3.0) == 14.0  # f 19:00 (day -1) -> 09:00 on day 0 = twin 17
    assert w.hours_to_pickup(w.sc.lane("h", "f"), 3.0) == 0.0  # on demand


# -- backup plans ----------------------------------------------------------------------------------


def _loss(plan) -> float:
    return sum(b - a for a, b, c in plan if c == "" and b > a)


def _carried(plan, carrier) -> float:
    return sum(b - a for a, b, c in plan if c == carrier and b > a)


def test_power_plan_ups_only() -> None:
    plan = power_plan(2.0, ups_h=0.25, gen_start_h=None, fuel_h=None)
    assert _carried(plan, "ups") == 0.25 and _loss(plan) == pytest.approx(1.75)


def test_power_plan_generator_takes_over_before_the_ups_runs_out() -> None:
    plan = power_plan(10.0, ups_h=0.25, gen_start_h=0.01, fuel_h=None)
    assert _loss(plan) == 0.0
    assert _carried(plan, "ups") == pytest.approx(0.01) and _carried(plan, "generator") == pytest.approx(9.99)


def test_power_plan_gap_when_the_generator_starts_after_the_ups_and_runs_dry() -> None:
    plan = power_plan(10.0, ups_h=0.1, gen_start_h=0.5, fuel_h=4.0)
    assert _loss(plan) == pytest.approx(0.4 + 5.5)  # 0.1-0.5 h, then 4.5-10 h
    assert _carried(plan, "generator") == pytest.approx(4.0)


def test_power_plan_short_cut_inside_the_ups() -> None:
    plan = power_plan(0.1, ups_h=0.25, gen_start_h=None, fuel_h=None)
    assert _loss(plan) == 0.0 and _carried(plan, "ups") == pytest.approx(0.1)


def test_ln2_plan_tank_outlasts_the_missed_delivery() -> None:
    """Tank 1000 L, 10 L/h, deliveries every 48 h: an outage of 30 h from 50 h misses no
    delivery that matters (tank full at 48 h lasts until 148 h > next delivery at 96 h)."""
    plan = ln2_plan(50.0, 30.0, tank_l=1000, every_h=48, per_h=10)
    assert _loss(plan) == 0.0 and plan == [(0.0, 46.0, "ln2_tank")]


def test_ln2_plan_runs_dry_until_the_next_delivery_after_the_outage() -> None:
    """Tank 500 L at 10 L/h lasts 50 h: last delivery at 48 h, dry at 98 h, outage 50-150 h,
    next delivery at 192 h: 94 h without LN2."""
    plan = ln2_plan(50.0, 100.0, tank_l=500, every_h=48, per_h=10)
    assert _carried(plan, "ln2_tank") == pytest.approx(48.0)
    assert _loss(plan) == pytest.approx(192 - 98)


# -- conditions and pools --------------------------------------------------------------------------


def test_condition_counts_overlapping_reasons() -> None:
    env = simpy.Environment()
    c = Condition(env, "power")
    seen = []
    c.on_change.append(seen.append)
    c.down("a")
    c.down("b")
    c.clear("a")
    assert not c.up and seen == [False]
    c.clear("b")
    assert c.up and seen == [False, True]
    c.clear("b")  # clearing an absent reason is harmless
    assert c.up


def test_pool_soft_down_waits_for_the_holder_and_hard_down_stops_at_once() -> None:
    env = simpy.Environment()
    log = []
    units = [Unit("dev", 0, 1, Condition(env, "u0")), Unit("dev", 1, 1, Condition(env, "u1"))]
    pool = UnitPool(env, units, lambda u, k, r: log.append((u.index, k, r)))
    r0 = pool.request()
    assert r0.unit is units[0]
    pool.set_down(units[0], "maintenance", duration=5)  # soft: unit 0 is busy
    assert log == [] and not units[0].available()
    pool.set_down(units[1], "broken", hard=True)
    assert log == [(1, "down", "broken")] and not units[1].running.up
    r1 = pool.request()
    assert not r1.triggered  # nothing can take it
    pool.release(r0)
    assert log[-1] == (0, "down", "maintenance")
    pool.set_up(units[1], "broken", hard=True)
    assert r1.triggered and r1.unit is units[1] and units[1].running.up


def test_person_is_granted_only_for_a_task_that_fits_in_the_shift() -> None:
    env = simpy.Environment()
    person = Unit("op", 0, 1, None, frozenset({"harvest"}))
    person.shift_end = 3.0
    pool = UnitPool(env, [person], lambda *a: None)
    too_long = pool.request("harvest", need_h=4.0)
    assert not too_long.triggered
    other_skill = pool.request("formulation", need_h=1.0)
    assert not other_skill.triggered
    fits = pool.request("harvest", need_h=2.0)
    assert fits.triggered  # a later request that fits goes first (first fit)


# -- scenario errors ----------------------------------------------------------------------------------


def _error(data: dict) -> ScenarioError:
    with pytest.raises(ScenarioError) as exc:
        build(data)
    return exc.value


def test_unknown_shift_is_located() -> None:
    d = tiny_data()
    d["sites"]["f"]["staff"]["op"] = {"count": 1, "shift": "nights"}
    err = _error(d)
    assert err.field == "sites.f.staff.op.shift" and "unknown shift 'nights'" in err.message


def test_unknown_skill_lists_the_step_names() -> None:
    d = tiny_data()
    d["sites"]["f"]["staff"]["op"] = {"count": 1, "skills": ["harvest"]}
    err = _error(d)
    assert err.field == "sites.f.staff.op.skills[0]" and "'expansion'" in err.message


def test_hands_on_longer_than_every_shift_is_refused() -> None:
    d = tiny_data()
    d["shifts"] = {"short": [{"days": ["mon"], "start_h": 9, "end_h": 10}]}
    d["sites"]["f"]["staff"]["op"] = {"count": 1, "shift": "short"}
    err = _error(d)
    assert err.field == "receipt.hands_on_h" or err.field.endswith("hands_on_h")
    assert "do not fit in any shift" in err.message


def test_outage_fields_are_checked() -> None:
    d = tiny_data()
    d["outages"] = [{"what": "device", "site": "f", "at_h": 5, "duration_h": 1}]
    assert "names its pool" in _error(d).message
    d["outages"] = [{"what": "power", "site": "mars", "at_h": 5, "duration_h": 1}]
    assert _error(d).field == "outages[0].site"
    d["outages"] = [{"what": "power", "site": "f", "at_h": 5, "rate_per_year": 2, "duration_h": 1}]
    assert "exactly one of at_h" in _error(d).message
    d["outages"] = [{"what": "staff", "site": "f", "role": "chef", "at_h": 5, "duration_h": 1}]
    assert _error(d).field == "outages[0].role"


def test_repair_role_must_exist() -> None:
    d = tiny_data()
    d["sites"]["f"]["devices"]["clinimacs_prodigy"]["override"]["failure"] = {
        "time_between_h": 100, "repair_h": 5, "repair_role": "engineer"}
    err = _error(d)
    assert "needs a 'engineer' for repairs" in err.message


def test_ln2_tank_too_small_for_the_delivery_interval() -> None:
    d = centralised_data()
    d["sites"]["central_factory"]["utilities"]["ln2"] = {"tank_l": 100, "delivery_every_days": 7}
    err = _error(d)
    assert err.field == "sites.central_factory.utilities.ln2" and "runs dry between deliveries" in err.message


def test_open_transfer_needs_a_cabinet_at_the_factory() -> None:
    d = tiny_data()
    d["recipe"][0]["transfer"] = "open"
    err = _error(d)
    assert err.field == "recipe[0].transfer" and "biosafety_cabinet" in err.message


def test_connection_override_merges_over_the_default() -> None:
    """Setting one field of a connection type keeps the type's other defaults (the cabinet)."""
    d = centralised_data()
    d["connections"] = {"open": {"contamination_probability": 0.5}}
    c = build(d).scenario.connections["open"]
    assert c.contamination_probability == 0.5 and c.device == "biosafety_cabinet"
