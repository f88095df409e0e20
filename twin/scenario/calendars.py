"""Shift calendars as on-duty intervals, with no SimPy: the model turns them into people coming
on and off duty (:mod:`twin.model.availability`), the expected-load estimate into on-duty hours a
week (:mod:`twin.authoring.offered_load`).

Times are hours from the start of the simulation (day 0 at 00:00); ``first_weekday`` is the
weekday of day 0 (0 = Monday).
"""

from __future__ import annotations

import math

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.scenario.fields import WEEKDAYS
from twin.scenario.staffing import ShiftBlock


def shift_intervals(blocks: list[ShiftBlock], first_weekday: int, horizon_h: float) -> list[tuple[float, float]]:
    """Absolute on-duty intervals (hours from the start) of a shift calendar over the horizon,
    merged where blocks touch or overlap. ``first_weekday``: weekday of day 0 (0 = Monday)."""
    raw: list[tuple[float, float]] = []
    for day in range(-1, int(math.ceil(horizon_h / HOURS_PER_DAY)) + 1):
        weekday = WEEKDAYS[(first_weekday + day) % 7]
        for b in blocks:
            if weekday in b.days:
                start = day * HOURS_PER_DAY + b.start_h
                raw.append((start, start + b.length_h))
    raw.sort()
    merged: list[tuple[float, float]] = []
    for a, b in raw:
        if merged and a <= merged[-1][1] + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(max(a, 0.0), b) for a, b in merged if b > 0 and a < horizon_h]


def on_duty_h_per_week(blocks: list[ShiftBlock] | None) -> float:
    """Hours a week (0-168) that people on this calendar are on duty; ``None``: around the clock.

    Overlapping blocks count once, and a block past midnight counts on the days it runs into
    (the week is a cycle, so the weekday of day 0 does not matter)."""
    if blocks is None:
        return HOURS_PER_WEEK
    week = shift_intervals(blocks, 0, HOURS_PER_WEEK)
    return sum(min(b, HOURS_PER_WEEK) - a for a, b in week)
