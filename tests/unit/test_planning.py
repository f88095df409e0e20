"""The calendar planning of issue 17 by hand: open moments, the appointment book's infusion
plans and the working-hours gate (twin.model.planning)."""

from __future__ import annotations

from conftest import build, tiny_data

from twin.model import planning
from twin.model.world import World

CLINIC = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start_h": 8, "end_h": 17}]
WARD = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start_h": 8, "end_h": 17}]


def _world() -> World:
    d = tiny_data()  # day 0 is Monday 2027-01-04; one infusion slot; infusion 1 h
    d["shifts"] = {"clinic": CLINIC, "ward": WARD}
    d["infusion_scheduling"] = {"clinic": "clinic", "lymphodepletion": {"calendar": "ward"}}  # 4 h sessions, 0.5 h thaw
    return World(build(d), 0)


def test_next_open_and_is_open():
    week = [(8.0, 17.0), (32.0, 41.0)]
    assert planning.next_open(week, 0.0) == 8.0
    assert planning.next_open(week, 10.0) == 10.0
    assert planning.next_open(week, 16.0, need_h=2.0) == 32.0  # one hour left is not enough
    assert planning.next_open(week, 41.0) is None
    assert planning.is_open(week, 8.0) and not planning.is_open(week, 17.0) and not planning.is_open(week, 20.0)


def test_two_plans_by_hand():
    """Product expected at hour 30 (Tuesday 06:00). Sessions need days -5, -4, -3 after hour 0,
    so the first infusion day with all of them is day 7 (Monday): sessions Wednesday to Friday at
    08:00 (hours 56, 80, 104), infusion Monday 08:00 (hour 176). The one slot is then booked, so
    a second patient gets each session 4 h later (60, 84, 108) and the infusion after the first's
    1.5 h (thaw 0.5 + infusion 1): hour 177.5."""
    w = _world()
    first = planning.plan_infusion(w, "h", 30.0, 0.0)
    second = planning.plan_infusion(w, "h", 30.0, 0.0)
    assert first == planning.InfusionPlan((56.0, 80.0, 104.0), 176.0)
    assert second == planning.InfusionPlan((60.0, 84.0, 108.0), 177.5)


def test_working_hours_gate_is_up_only_in_the_calendar():
    w = _world()
    name = planning.hours_gate(w, "f", "clinic")
    cond = w.cond[("f", name)]
    seen = []
    for t in (1.0, 9.0, 16.5, 18.0, 5 * 24 + 9.0, 7 * 24 + 9.0):
        w.env.run(until=t)
        seen.append(cond.up)
    assert seen == [False, True, True, False, False, True]  # Saturday (day 5) is closed
    assert cond.cause() == "" and planning.hours_gate(w, "f", "clinic") == name
