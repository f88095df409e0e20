"""Planning against calendars (issue 17): when a site's working or clinic hours are open, the
gate that keeps release work inside working hours, the planned harvest moment of a culture, and
the hospital's infusion plan (lymphodepletion days and the infusion start).

Calendars are the scenario's ``shifts``, read at each site in its local time and without its
holidays (:class:`twin.scenario.calendars.SiteClock`), as intervals in the twin clock (hours from
day 0 at 00:00, offset 0). No random numbers are drawn here: a plan
is made on expected values (the lane's mean transit), so it is the same for every layout.
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from twin.core.units import HOURS_PER_DAY
from twin.model.conditions import Condition
from twin.scenario.rota import role_calendar, shift_occurrences

if TYPE_CHECKING:
    from twin.model.world import World
    from twin.scenario.calendars import ShiftBlock
    from twin.scenario.clinic import InfusionScheduling

EPS = 1e-9
LOOKAHEAD_H = 400 * HOURS_PER_DAY
"""Hours past the horizon the calendars are unrolled for (a plan may fall after it)."""

_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, list[tuple[float, float]]]] = weakref.WeakKeyDictionary()


def open_intervals(world: World, calendar: str, site: str) -> list[tuple[float, float]]:
    """(start, end) twin hours of every open interval of the scenario calendar ``calendar`` at
    ``site``: in the site's local time, none on its holidays, merged."""
    cache = _CACHE.setdefault(world, {})
    key = (calendar, site)
    if key not in cache:
        cache[key] = _unrolled(world, world.sc.shifts[calendar], site)
    return cache[key]


def _unrolled(world: World, blocks: list[ShiftBlock], site: str) -> list[tuple[float, float]]:
    """A calendar's shifts at ``site`` over the horizon and the look-ahead (twin hours), merged
    where they touch or overlap (the site's clock: offset and holidays)."""
    merged: list[tuple[float, float]] = []
    for a, b in shift_occurrences(blocks, world.first_weekday, world.sc.horizon_h + LOOKAHEAD_H, world.clocks[site]):
        if merged and a <= merged[-1][1] + EPS:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def role_intervals(world: World, site: str, role: str) -> list[tuple[float, float]]:
    """Open intervals of the calendar ``role`` is rostered on at ``site`` (the whole span for a
    role always on duty)."""
    cache = _CACHE.setdefault(world, {})
    key = (site, role)
    if key not in cache:
        spec = world.sc.sites[site].staff[role]
        if spec.always_on_duty:
            cache[key] = [(0.0, math.inf)]
        else:
            cache[key] = _unrolled(world, role_calendar(spec, world.sc.shifts), site)
    return cache[key]


def next_open(intervals: list[tuple[float, float]], t: float, need_h: float = 0.0) -> float | None:
    """The first moment at or after ``t`` (hours) inside an interval that stays open ``need_h``
    more hours; None if there is none."""
    i = max(bisect.bisect_right(intervals, (t, math.inf)) - 1, 0)
    for a, b in intervals[i:]:
        start = max(a, t)
        if b - start >= need_h - EPS and b > start:
            return start
    return None


def is_open(intervals: list[tuple[float, float]], t: float) -> bool:
    """Whether ``t`` (hours) lies in an open interval (its end excluded)."""
    i = bisect.bisect_right(intervals, (t, math.inf)) - 1
    return i >= 0 and intervals[i][0] <= t + EPS and t < intervals[i][1] - EPS


# -- working hours as a condition -----------------------------------------------------------------
def hours_gate(world: World, site: str, calendar: str) -> str:
    """The name of the site condition that is up only in ``calendar``'s open hours, made (and its
    process started) on first use; work that lists it in ``extra`` progresses only then, and is
    logged as paused with cause ``closed:CALENDAR`` outside them."""
    name = f"hours:{calendar}"
    if (site, name) not in world.cond:
        cond = Condition(world.env, f"{site}/{name}")
        world.cond[(site, name)] = cond
        world.env.process(_play(world.env, cond, open_intervals(world, calendar, site), f"closed:{calendar}"))
    return name


def _play(env: simpy.Environment, cond: Condition, intervals: list[tuple[float, float]], reason: str) -> Generator:
    """Hold ``cond`` down outside ``intervals`` from now on."""
    down = False
    if not is_open(intervals, env.now):
        cond.down(reason)
        down = True
    for a, b in intervals:
        if b <= env.now:
            continue
        if a > env.now:
            yield env.timeout(a - env.now)
        if down:
            cond.clear(reason)
            down = False
        if math.isinf(b):
            return
        yield env.timeout(b - env.now)
        cond.down(reason)
        down = True


# -- planned harvest ------------------------------------------------------------------------------
def harvest_at(world: World, site: str, step_index: int, culture_start_h: float) -> float:
    """When the culture of recipe step ``step_index`` (started at ``culture_start_h``) is planned
    to be harvested: from now (its end point) but not before the window's ``earliest_h``, the first
    moment a role qualified for the next step is on shift for its hands-on hours (now if the next
    step needs nobody; the first moment past the calendars' span if no shift comes)."""
    sc = world.sc
    step = sc.recipe[step_index]
    assert step.harvest is not None
    t = max(world.env.now, culture_start_h + step.harvest.earliest_h)
    nxt = sc.recipe[step_index + 1] if step_index + 1 < len(sc.recipe) else None
    if nxt is None or nxt.role is None or nxt.hands_on_h <= 0:
        return t
    need = nxt.hands_on_h
    if nxt.transfer is not None:
        need = max(need, sc.connections[nxt.transfer].hands_on_h)
    starts = [next_open(role_intervals(world, site, r), t, need) for r in sc.qualified_roles(site, nxt.name, nxt.role)]
    found = [s for s in starts if s is not None]
    return min(found) if found else t


# -- the infusion plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class InfusionPlan:
    """Planned starts (hours): each lymphodepletion session, in time order, and the infusion."""

    sessions: tuple[float, ...]
    infusion_h: float


def clinic_intervals(world: World, hospital: str) -> list[tuple[float, float]]:
    """Open intervals of ``hospital``'s clinic calendar."""
    plan = world.sc.infusion_scheduling
    assert plan is not None
    return open_intervals(world, plan.calendar_of(hospital), hospital)


def infusion_need_h(world: World) -> float:
    """Clinic hours (h) an infusion needs left when its slot is taken: the thaw (its mean length
    or hands-on hours, the longer) and the infusion's hands-on hours."""
    sc = world.sc
    plan = sc.infusion_scheduling
    assert plan is not None
    thaw = plan.thaw
    return sc.infusion.hands_on_h + (max(thaw.duration_h.mean, thaw.hands_on_h) if thaw is not None else 0.0)


def expected_arrival_h(world: World, origin: str, destination: str) -> float:
    """When a product shipping now from ``origin`` is expected at ``destination`` (hours): the
    lane's next pickup plus its mean transit (now within a site); along a route, the first leg's
    next pickup plus the route's mean legs and hub steps (later pickups not counted)."""
    now = world.env.now
    if origin == destination:
        return now
    sc = world.sc
    r = sc.route(origin, destination)
    first = sc.lane(origin, destination) if r is None else sc.lane(*r.legs()[0])
    return now + world.hours_to_pickup(first, now) + sc.transit_mean_h(origin, destination)


def plan_infusion(world: World, hospital: str, arrive_h: float, not_before_h: float) -> InfusionPlan | None:
    """The earliest infusion day at ``hospital`` on which the infusion can be booked in clinic
    hours no sooner than ``arrive_h`` (the product's expected arrival plus the margin) and each
    lymphodepletion session of the days before can be booked on its day in its hours, no sooner
    than ``not_before_h``; the bookings are kept in the hospital's appointment book (each slot's
    next free hour per day: mean lengths, no overbooking). None when no such day comes within the
    plan's ``horizon_days``."""
    plan: InfusionScheduling | None = world.sc.infusion_scheduling
    assert plan is not None
    clinic = clinic_intervals(world, hospital)
    ld = plan.lymphodepletion
    ward = clinic if ld.calendar is None else open_intervals(world, ld.calendar, hospital)
    ld_hours = max(ld.duration_h.mean, ld.hands_on_h)
    inf_hours = max(world.sc.infusion.duration_h.mean, world.sc.infusion.hands_on_h) + infusion_need_h(world) \
        - world.sc.infusion.hands_on_h
    book = _Book(world, hospital)
    first_day = int(max(arrive_h, not_before_h) // HOURS_PER_DAY)
    for day in range(first_day, first_day + plan.horizon_days):
        infusion = book.first_start(day, inf_hours, clinic, max(arrive_h, not_before_h))
        if infusion is None:
            continue
        ld_days = [day - k for k in sorted(ld.days_before, reverse=True)]
        sessions = [book.first_start(d, ld_hours, ward, not_before_h) for d in ld_days]
        if all(st is not None for st in sessions):
            book.take(day, infusion, inf_hours)
            for d, st in zip(ld_days, sessions):
                assert st is not None
                book.take(d, st, ld_hours)
            return InfusionPlan(tuple(st[0] for st in sessions if st is not None), infusion[0])
    return None


class _Book:
    """A hospital's appointment book: per day, the hour each infusion slot is next free (h)."""

    def __init__(self, world: World, hospital: str) -> None:
        self.days: dict[int, list[float]] = _CACHE.setdefault(world, {}).setdefault(("book", hospital), {})  # type: ignore[arg-type]
        self.slots = world.sc.sites[hospital].infusion_slots

    def first_start(self, day: int, hours: float, hours_open: list[tuple[float, float]],
                    not_before_h: float) -> tuple[float, int] | None:
        """(start hour, slot) of the earliest booking of ``hours`` on ``day`` inside one open
        interval of ``hours_open`` and no sooner than ``not_before_h``; None if none fits."""
        lo, hi = day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY
        free = self.days.get(day, [lo] * self.slots)
        i = max(bisect.bisect_right(hours_open, (lo, math.inf)) - 1, 0)
        best: tuple[float, int] | None = None
        for a, b in hours_open[i:]:
            if a >= hi:
                break
            for k, f in enumerate(free):
                start = max(a, lo, f, not_before_h)
                if start + hours <= b + EPS and start < hi and (best is None or start < best[0]):
                    best = (start, k)
        return best

    def take(self, day: int, booking: tuple[float, int], hours: float) -> None:
        """Book slot ``booking[1]`` from ``booking[0]`` for ``hours`` on ``day``."""
        free = self.days.setdefault(day, [day * HOURS_PER_DAY] * self.slots)
        free[booking[1]] = booking[0] + hours
