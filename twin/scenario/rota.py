"""The rota: which people of a staff role are on duty in which shift, as a pure function (no
SimPy). :mod:`twin.model.availability` plays it (people come on and off duty), the cost and the
explanation read the same rules.

A role's calendar (``shifts``, or around the clock: three 8-hour shifts a day, 07-15, 15-23 and
23-07) is cut into shifts, one per block and day, in time order. The rule, deterministic:

* take the shifts in time order (start, then end); each needs ``posts`` people. Where the
  people cannot cover every post even at ``max_h_per_week`` (people x ``max_h_per_week`` is less
  than the calendar's post-hours a week), each shift gets only its share, ``posts`` x that
  ratio, rounded down with the remainder carried to the next shift, so that the gaps are spread
  over the calendar instead of falling where everyone reaches the cap at once;
* a person may take a shift when (a) it starts at least :data:`MIN_REST_H` hours after their
  previous shift ended (EU Working Time Directive 2003/88/EC, Art. 3: 11 h daily rest), and (b)
  their on-duty hours in the current reference period (``reference_weeks`` weeks from hour 0),
  this shift included, stay within ``max_h_per_week`` x the weeks of the period begun by the
  shift's end (never ahead of the average: at most 48 h in the period's first week, 96 by the end
  of its second, ...);
* of those, the shift goes to the ``posts`` people with the fewest hours so far in the period,
  ties to the lower index.

So nobody is rostered more than ``max_h_per_week`` on average over a reference period, the hours
are shared evenly (within the contract where the headcount allows, with overtime up to the cap
where it does not), and shifts that nobody may take stay uncovered. The rota is planned once for
the horizon: absence and vacancies after turnover do not re-plan it.

Times are hours from the start of the simulation (day 0 at 00:00).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.scenario.calendars import SiteClock
from twin.scenario.fields import WEEKDAYS
from twin.scenario.staffing import ShiftBlock, StaffRole

MIN_REST_H = 11.0
"""Hours of rest a person has between two shifts (EU Working Time Directive 2003/88/EC, Art. 3)."""

AROUND_THE_CLOCK: list[ShiftBlock] = [
    ShiftBlock(days=list(WEEKDAYS), start_h=7, end_h=15),
    ShiftBlock(days=list(WEEKDAYS), start_h=15, end_h=23),
    ShiftBlock(days=list(WEEKDAYS), start_h=23, end_h=7),
]
"""The calendar of a role with no shift: three 8-hour shifts a day, every day (assumption: a
common hospital three-shift pattern)."""


@dataclass(frozen=True)
class RotaRules:
    """How many people a shift needs, how long each may work (hours a week), and the post-hours
    a week the calendar asks for (``post_h_per_week``: posts x shift hours a week)."""

    posts: int
    contract_h_per_week: float
    max_h_per_week: float
    reference_weeks: int
    post_h_per_week: float

    @classmethod
    def of(cls, spec: StaffRole, blocks: list[ShiftBlock]) -> RotaRules:
        """The rules of a scenario's staff role on its calendar ``blocks`` (not for
        ``always_on_duty`` roles, which have no rota)."""
        return cls(spec.on_duty_posts, spec.contract_h_per_week, spec.max_h_per_week, spec.reference_weeks,
                   post_h_per_week(blocks, spec.on_duty_posts))


def role_calendar(spec: StaffRole, shifts: dict[str, list[ShiftBlock]]) -> list[ShiftBlock]:
    """The blocks of the calendar a role is needed on: its shift, or :data:`AROUND_THE_CLOCK`."""
    return AROUND_THE_CLOCK if spec.shift is None else shifts[spec.shift]


def shift_occurrences(blocks: list[ShiftBlock], first_weekday: int, horizon_h: float,
                      clock: SiteClock | None = None) -> list[tuple[float, float]]:
    """Every shift of a calendar over the horizon as (start, end) hours from the start (twin
    clock), one per block and day (not merged), in time order; a shift running into hour 0 starts
    at 0. With a site's ``clock`` the blocks are in its local time and none starts on one of its
    holidays (``first_weekday`` is then the clock's)."""
    clock = clock or SiteClock(first_weekday=first_weekday)
    out: list[tuple[float, float]] = []
    for day in clock.local_days(horizon_h):
        if not clock.works(day):
            continue
        weekday = WEEKDAYS[clock.weekday(day)]
        for b in blocks:
            if weekday in b.days:
                start = clock.twin_h(day * HOURS_PER_DAY + b.start_h)
                end = start + b.length_h
                if end > 0 and start < horizon_h:
                    out.append((max(start, 0.0), end))
    return sorted(out)


def rota(shifts: list[tuple[float, float]], people: int, rules: RotaRules) -> list[list[int]]:
    """For each shift (in the order given, which must be time order), the people (indices
    0..people-1) on duty in it, by the rule in the module docstring."""
    period_h = rules.reference_weeks * HOURS_PER_WEEK
    asked = rules.post_h_per_week
    ratio = min(1.0, people * rules.max_h_per_week / asked) if asked > 0 else 1.0
    target = given = 0.0
    hours = [0.0] * people
    last_end = [-math.inf] * people
    period = 0
    out: list[list[int]] = []
    for a, b in shifts:
        p = int(a // period_h)
        if p != period:
            period, hours = p, [0.0] * people
        weeks = max(1, math.ceil((b - p * period_h) / HOURS_PER_WEEK - 1e-9))
        bound = rules.max_h_per_week * weeks + 1e-9
        length = b - a
        free = [i for i in range(people) if a - last_end[i] >= MIN_REST_H - 1e-9 and hours[i] + length <= bound]
        free.sort(key=lambda i: (hours[i], i))
        target += rules.posts * ratio
        chosen = sorted(free[: min(rules.posts, int(target - given + 1e-9))])
        given += len(chosen)
        for i in chosen:
            hours[i] += length
            last_end[i] = b
        out.append(chosen)
    return out


def heads_needed(blocks: list[ShiftBlock], posts: int, contract_h_per_week: float, absence: float = 0.0) -> float:
    """People a calendar needs to cover ``posts`` in every shift within their contracts: post-hours
    a week (posts x each block's hours x its days) / contract hours a week, / (1 - ``absence``)
    for the shifts lost to absence (a 24/7 post at 37.5 h: 168 / 37.5 = 4.48)."""
    return post_h_per_week(blocks, posts) / contract_h_per_week / max(1e-9, 1.0 - absence)


def post_h_per_week(blocks: list[ShiftBlock], posts: int) -> float:
    """Post-hours a week a calendar asks for (h/week): posts x each block's hours x its days."""
    return posts * sum(b.length_h * len(set(b.days)) for b in blocks)
