"""Shift calendars as on-duty intervals, with no SimPy: the model turns them into people coming
on and off duty (:mod:`twin.model.availability`), the expected-load estimate into on-duty hours a
week (:mod:`twin.authoring.offered_load`).

Times are hours from the start of the simulation (day 0 at 00:00); ``first_weekday`` is the
weekday of day 0 (0 = Monday).

Local time (:class:`SiteClock`): the twin has one clock, the *twin clock*: hour 0 is 00:00 of
``start_date`` at UTC offset 0, and every event-log time is on it. A site's calendars (shifts and
office hours, courier pickups, clinic hours) are in its local time: its local hour is the twin
hour + ``utc_offset_h``, and its local day ``d`` is the date ``start_date + d`` there. A site's
``holidays`` are local dates with no shifts, no office hours and no pickups. Every calendar is
evaluated through :class:`SiteClock`, the one place the offset and the holidays are applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.scenario.fields import WEEKDAYS
from twin.scenario.staffing import ShiftBlock

if TYPE_CHECKING:
    from twin.scenario.document import Scenario


@dataclass(frozen=True)
class SiteClock:
    """A site's local time: ``offset_h`` (hours added to the twin clock to get local time),
    ``first_weekday`` (weekday of local day 0, the ``start_date``, 0 = Monday) and ``holidays``
    (local day numbers, days from ``start_date``, with no shifts and no pickups)."""

    offset_h: float = 0.0
    first_weekday: int = 0
    holidays: frozenset[int] = frozenset()

    @classmethod
    def of(cls, sc: Scenario, site: str) -> SiteClock:
        """The clock of ``site`` in scenario ``sc`` (its ``utc_offset_h`` and ``holidays``)."""
        s = sc.sites[site]
        return cls(s.utc_offset_h, sc.start_date.weekday(),
                   frozenset((d - sc.start_date).days for d in s.holidays))

    def local_h(self, twin_h: float) -> float:
        """The local hour (hours from local 00:00 of ``start_date``) at twin hour ``twin_h``."""
        return twin_h + self.offset_h

    def twin_h(self, local_h: float) -> float:
        """The twin hour at local hour ``local_h``."""
        return local_h - self.offset_h

    def hour_of_day(self, twin_h: float) -> float:
        """The local hour of the day (0 to below 24) at twin hour ``twin_h``."""
        return self.local_h(twin_h) % HOURS_PER_DAY

    def weekday(self, local_day: int) -> int:
        """The weekday (0 = Monday) of local day ``local_day``."""
        return (self.first_weekday + local_day) % 7

    def works(self, local_day: int) -> bool:
        """Whether local day ``local_day`` is a working day (not one of the site's holidays)."""
        return local_day not in self.holidays

    def local_days(self, horizon_h: float) -> range:
        """The local days that overlap the twin's ``[0, horizon_h)``, with a day either side (for
        a shift running over midnight into the horizon)."""
        first = math.floor(self.local_h(0.0) / HOURS_PER_DAY) - 1
        last = math.ceil(self.local_h(horizon_h) / HOURS_PER_DAY) + 1
        return range(first, last)


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
