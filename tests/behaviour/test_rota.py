"""Staff as people with contracts and a rota, costed from the same event log (issue 16, item 1).

What a planner checks: nobody is rostered beyond the Working Time Directive's 48 h a week on
average; a role "around the clock" with one person is not on duty around the clock; labour cost
is paid hours x rate plus overtime, with a vacant place unpaid; ``twin explain`` says a 24/7 post
needs about 4.5 people; and turnover keeps common random numbers across headcounts.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import build, tiny_data

from twin.authoring.explain import describe
from twin.authoring.offered_load import StaffingNeed
from twin.core.units import HOURS_PER_WEEK
from twin.model import simulate
from twin.results.collect import replication_tables
from twin.results.tables import unit_down_intervals
from twin.scenario.rota import AROUND_THE_CLOCK, RotaRules, heads_needed, rota, shift_occurrences
from twin.scenario.staffing import ShiftBlock

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
RATE = {"op": 40.0, "qc": 50.0, "qp": 90.0, "nurse": 30.0}


def _facility(days: int = 120) -> dict:
    """TINY for ``days`` with a costs section, one patient, and a 1-person 24/7 role ``nurse``
    (a bare headcount, as bundled scenarios write it) besides the idealised op/qc/qp."""
    d = tiny_data()
    d["horizon_days"] = days
    d["referrals"] = {"times_h": [0.0]}
    d["sites"]["f"]["staff"]["nurse"] = 1
    d["costs"] = {"labour_per_h": dict(RATE)}
    return d


def _on_duty(events: pd.DataFrame, role: str, horizon_h: float) -> pd.DataFrame:
    """Each person's rostered intervals (not off shift): unit, start_h, end_h."""
    down = unit_down_intervals(events, horizon_h)
    off = down[(down["resource"] == role) & (down["detail"] == "off_shift")].sort_values(["unit", "start_h"])
    rows = []
    for unit, g in off.groupby("unit"):
        ends, starts = g["end_h"].to_numpy(), g["start_h"].to_numpy()
        for a, b in zip(ends[:-1], starts[1:]):  # on duty between one off-shift stretch and the next
            if b > a:
                rows.append((int(unit), float(a), float(b)))
    return pd.DataFrame(rows, columns=["unit", "start_h", "end_h"])


def test_nobody_is_on_duty_beyond_the_working_time_cap() -> None:
    """Three people on 24/7 with two posts (336 post-hours a week for 3 x 48 h) and an office
    role asked for every person on every 45-h week: over each 17-week reference period nobody's
    rostered hours exceed 48 x 17, nor ever run ahead of 48 h x the weeks begun, and shifts are
    at least 11 h apart. Today a bare headcount is on duty 168 h a week."""
    d = _facility(days=260)
    d["sites"]["f"]["staff"]["nurse"] = {"count": 3, "posts": 2}
    d["shifts"] = {"office": [{"days": WEEKDAYS, "start_h": 8, "end_h": 17}]}
    d["sites"]["f"]["staff"]["clerk"] = {"count": 2, "shift": "office"}
    d["costs"]["labour_per_h"]["clerk"] = 20.0
    raw = simulate(build(d), 0)
    events = replication_tables(raw).events
    period = 17 * HOURS_PER_WEEK
    for role in ("nurse", "clerk"):
        duty = _on_duty(events, role, raw.horizon_h)
        assert len(duty) and duty["unit"].nunique() == (3 if role == "nurse" else 2)
        for _, g in duty.groupby("unit"):
            gaps = g["start_h"].to_numpy()[1:] - g["end_h"].to_numpy()[:-1]
            assert (gaps >= 11.0 - 1e-9).all()
            p = (g["start_h"] // period).astype(int)
            for k, gp in g.groupby(p):
                hours = (gp["end_h"] - gp["start_h"]).cumsum().to_numpy()
                weeks_begun = ((gp["end_h"] - k * period) / HOURS_PER_WEEK - 1e-9).apply(lambda w: max(1, -(-w // 1)))
                assert (hours <= 48.0 * weeks_begun.to_numpy() + 1e-6).all()
                assert hours[-1] <= 48.0 * 17 + 1e-6


def test_one_person_around_the_clock_is_not_on_duty_around_the_clock() -> None:
    """``nurse: 1`` with no shift is one person on a 24/7 calendar: on duty at most 48 h of
    168 (29%), and off duty the rest; today the person is on duty 100% of the time."""
    t = replication_tables(simulate(build(_facility()), 0))
    avail = t.kpis["availability.staff.f.nurse"]
    assert 0.2 < avail <= 48 / 168 + 0.01


def test_labour_cost_is_paid_hours_times_rate_plus_overtime_and_a_vacancy_is_unpaid() -> None:
    """Over 20 weeks from a Monday: a clerk on a 45-h office calendar with a 37.5-h contract
    works 7.5 h overtime every week, paid at 1.5 x the rate; an operator (on duty around the
    clock on a 168-h contract) whose place falls vacant after turnover is unpaid while it is
    vacant, and paid again from the new hire's first (training) day; QC and QP, on duty 168 h a
    week on the default 37.5-h contract, are paid 130.5 h overtime a week. The labour cost is
    exactly rate x (contract hours while employed + 1.5 x overtime hours). Today it is headcount
    x 1,650 h x rate, vacancies and all."""
    d = _facility(days=140)
    d["warmup_days"] = 0
    del d["sites"]["f"]["staff"]["nurse"]
    d["shifts"] = {"office": [{"days": WEEKDAYS, "start_h": 8, "end_h": 17}]}
    d["sites"]["f"]["staff"]["clerk"] = {"count": 1, "shift": "office"}
    d["costs"]["labour_per_h"]["clerk"] = 20.0
    d["sites"]["f"]["staff"]["op"] = {"count": 1, "always_on_duty": True, "contract_h_per_week": 168,
                                      "max_h_per_week": 168,
                                      "turnover": {"per_person_per_year": 20, "hiring_lead_days": 10,
                                                   "training_weeks": 1}}
    raw = simulate(build(d), 0)
    t = replication_tables(raw)
    weeks = raw.horizon_h / HOURS_PER_WEEK
    assert weeks == 20
    down = unit_down_intervals(t.events, raw.horizon_h)
    vacant = down[(down["resource"] == "op") & (down["detail"] == "vacant")]
    vacant_h = float((vacant["end_h"].clip(upper=raw.horizon_h) - vacant["start_h"]).sum())
    assert vacant_h > 0
    op = RATE["op"] * 168 * (raw.horizon_h - vacant_h) / HOURS_PER_WEEK
    clerk = 20.0 * (37.5 + 1.5 * 7.5) * weeks
    qc_qp = (RATE["qc"] + RATE["qp"]) * (37.5 + 1.5 * (168 - 37.5)) * weeks
    assert t.kpis["cost.labour"] == pytest.approx(op + clerk + qc_qp)


def test_labour_cost_of_a_contract_within_its_calendar_is_exact() -> None:
    """One clerk, 37.5 h contract, a 37.5-h calendar (Mon-Fri 08:30-16:00), no absence: the
    labour cost over the window is exactly rate x 37.5 x weeks (no overtime)."""
    d = _facility(days=70)
    d["warmup_days"] = 7
    d["shifts"] = {"office": [{"days": WEEKDAYS, "start_h": 8.5, "end_h": 16}]}
    d["sites"]["f"]["staff"] = {r: {"count": 1, "shift": "office"} for r in ("op", "qc", "qp")}
    d["costs"]["labour_per_h"].pop("nurse")
    t = replication_tables(simulate(build(d), 0))
    weeks = (70 - 7) * 24 / HOURS_PER_WEEK
    assert t.kpis["cost.labour"] == pytest.approx((RATE["op"] + RATE["qc"] + RATE["qp"]) * 37.5 * weeks)


def test_explain_says_a_round_the_clock_post_needs_about_four_and_a_half_people() -> None:
    """At 37.5 h a week a 24/7 post needs 168 / 37.5 = 4.48 people (4.6 with 3% absence); with
    one person ``twin explain`` warns that most of the post-hours stay uncovered."""
    loaded = build(_facility())
    need = StaffingNeed.of(loaded.scenario, "f", "nurse")
    assert 4.4 <= need.heads <= 4.7 and need.post_h == pytest.approx(168)
    assert heads_needed(AROUND_THE_CLOCK, 1, 37.5, 0.03) == pytest.approx(4.62, abs=0.01)
    text = describe(loaded)
    assert "needs 4.5 heads" in text
    assert "warning: nurse at f: 1 person for 4.5 heads needed" in " ".join(text.split())


def test_a_fifth_operator_leaves_the_first_fours_leaving_times_unchanged() -> None:
    """Turnover draws from each person's place's own stream, at a per-person rate: with a fifth
    operator the first four's places fall vacant at exactly the same times (common random
    numbers), and the fifth has leavers of their own."""
    def vacancies(count: int) -> set[tuple[int, float]]:
        d = _facility(days=3 * 365)
        d["sites"]["f"]["staff"]["op"] = {"count": count, "always_on_duty": True,
                                          "turnover": {"per_person_per_year": 1.0, "hiring_lead_days": 30}}
        e = replication_tables(simulate(build(d), 0)).events
        v = e[(e["kind"] == "down") & (e["detail"] == "vacant") & (e["resource"] == "op")]
        return {(int(r.unit), round(float(r.time_h), 6)) for r in v.itertuples()}

    four, five = vacancies(4), vacancies(5)
    assert len(four) >= 4 and {v for v in five if v[0] < 4} == four
    assert any(v[0] == 4 for v in five)


def test_the_rota_spreads_a_shortfall_and_balances_hours() -> None:
    """Four people asked for on every shift of a 60-h week (240 post-hours for 4 x 48): every
    shift gets 3 or 4 people (never the whole week's gap on one day), everyone works the same
    hours to within one shift, and the rule is deterministic."""
    blocks = [ShiftBlock(days=WEEKDAYS, start_h=7, end_h=19)]
    shifts = shift_occurrences(blocks, 0, 52 * HOURS_PER_WEEK)
    rules = RotaRules(4, 37.5, 48.0, 17, 240.0)
    r = rota(shifts, 4, rules)
    assert r == rota(shifts, 4, rules)
    assert {len(x) for x in r} == {3, 4}
    hours = [sum(b - a for (a, b), x in zip(shifts, r) if i in x) for i in range(4)]
    assert max(hours) - min(hours) <= 12.0 + 1e-9
    assert max(hours) <= 48.0 * 52 + 1e-9
