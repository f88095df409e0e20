"""Capacity plans as they happen (see :mod:`twin.scenario.plans`): planned units join, leave,
and sites open or close on their dates.

The world builds every pool at its final size (:func:`twin.scenario.plans.added_units`); a unit a
plan adds is out of service from the start: a device unit ``not_commissioned`` until a team has
installed and qualified it, a person ``vacant`` until the hiring lead has passed (then in
``training``). The installation teams are one first-come-first-served resource of
``commissioning.teams``: one team qualifies one line or site at a time, so a second line waits.

=================  ==========================  ==============================================
kind               resource, unit              meaning
=================  ==========================  ==============================================
commission_start   device type, unit; or       a team starts installing and qualifying it
                   ``site``, -1                (detail: the plan entry's label)
commission_end     same                        ... it is in service (``up not_commissioned``)
=================  ==========================  ==============================================
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.model import streams
from twin.model.eventlog import LogRow
from twin.model.pools import Unit, UnitPool
from twin.scenario.plans import PlanEntry, entry_label, opens_later

if TYPE_CHECKING:
    from twin.model.world import World

Proc = Generator[simpy.Event, Any, Any]
NOT_COMMISSIONED = "not_commissioned"
RETIRED = "retired"
VACANT = "vacant"


def start_plans(world: World) -> None:
    """Take every planned unit out of service now and start the plan's dated changes."""
    sc = world.sc
    if not sc.capacity_plan:
        return
    teams = simpy.Resource(world.env, capacity=sc.commissioning.teams)
    for sname in sc.sites:
        if opens_later(sc.capacity_plan, sname):
            _all_down(world, sname)
    nxt: dict[tuple[str, str], int] = {}  # next planned unit index per (site, pool or role)
    for k in sorted(range(len(sc.capacity_plan)), key=lambda k: sc.capacity_plan[k].date):
        e = sc.capacity_plan[k]
        label = entry_label(e, k)
        for tname, delta in e.devices.items():
            pool = world.pools[(e.site, tname)]
            units = _planned(pool, (nxt, (e.site, tname)), sc.sites[e.site].devices[tname].count, delta)
            world.env.process(_device_change(world, e, (tname, label, teams), units if delta > 0 else -delta))
        for role, delta in e.staff.items():
            units = _planned(world.desk[e.site], (nxt, (e.site, role)), sc.sites[e.site].staff[role].count, delta)
            world.env.process(_staff_change(world, e, role, units if delta > 0 else -delta))
        if e.open is not None:
            world.env.process(_site_change(world, e, label, teams))


def _all_down(world: World, site: str) -> None:
    """Every device unit of a site that opens later is ``not_commissioned`` from the start."""
    for tname in world.sc.sites[site].devices:
        pool = world.pools[(site, tname)]
        for u in pool.units:
            pool.set_down(u, NOT_COMMISSIONED)


def _planned(pool: UnitPool, at: tuple[dict[tuple[str, str], int], tuple[str, str]], start: int,
             delta: int) -> list[Unit]:
    """The units an addition of ``delta`` brings (the next of the pool, or of the role in a desk,
    after the initial ``start`` and earlier additions, ``at`` = (next index by key, key)), each
    taken out of service now (``not_commissioned`` devices, ``vacant`` places); none for a
    retirement."""
    if delta <= 0:
        return []
    nxt, key = at
    units = [u for u in pool.units if u.name == key[1]]
    i = nxt.get(key, start)
    nxt[key] = i + delta
    for u in units[i:i + delta]:
        pool.set_down(u, VACANT if u.skills is not None else NOT_COMMISSIONED)
    return units[i:i + delta]


def _wait_until(world: World, t: float) -> simpy.Event:
    return world.env.timeout(max(t - world.env.now, 0.0))


def _log(world: World, e: PlanEntry, kind: str, what: tuple[str, int, str]) -> None:
    if not world.closed:
        world.log.add(LogRow(world.env.now, e.site, kind, resource=what[0], unit=what[1], detail=what[2]))


def _qualify(world: World, e: PlanEntry, what: tuple[str, int, str], teams: simpy.Resource) -> Proc:
    """A team installs and qualifies one line (or the site) once free; the duration is drawn from
    the unit's own stream (so another line's plan changes nothing here)."""
    resource, unit, _ = what
    dist = world.sc.commissioning.site_days if resource == "site" else world.sc.commissioning.line_days
    rng = world.streams.get(streams.qualification(e.site, resource, unit))
    hours = float(dist.ppf(rng.random())) * HOURS_PER_DAY
    with teams.request() as req:
        yield req
        _log(world, e, "commission_start", what)
        yield world.env.timeout(hours)
        _log(world, e, "commission_end", what)


def _device_change(world: World, e: PlanEntry, how: tuple[str, str, simpy.Resource], units: list[Unit] | int
                   ) -> Proc:
    """On the entry's date: qualify each added unit in turn of the team queue, or retire ``units``
    (a count) of the highest-numbered units in service, each once empty."""
    tname, label, teams = how
    pool = world.pools[(e.site, tname)]
    yield _wait_until(world, e.at_h(world.sc.start_date))
    if isinstance(units, int):
        _retire(pool, units, RETIRED)
        return
    for u in units:
        world.env.process(_commission_unit(world, e, (pool, u, label), teams))


def _commission_unit(world: World, e: PlanEntry, what: tuple[UnitPool, Unit, str], teams: simpy.Resource) -> Proc:
    pool, u, label = what
    yield from _qualify(world, e, (u.name, u.index, label), teams)
    pool.set_up(u, NOT_COMMISSIONED)


def _retire(pool: UnitPool, n: int, reason: str, role: str | None = None) -> None:
    """Take the ``n`` highest-numbered units in service (of ``role`` in a desk) out for good,
    each once empty."""
    live = [u for u in pool.units if (role is None or u.name == role)
            and not ({NOT_COMMISSIONED, RETIRED, VACANT} & u.down.keys())]
    for u in live[::-1][:n]:
        pool.set_down(u, reason)


def _staff_change(world: World, e: PlanEntry, role: str, units: list[Unit] | int) -> Proc:
    """On the entry's date: the hires' places stay vacant for the hiring lead, then they train;
    or ``units`` (a count) of the role leave (their places vacant for good)."""
    desk = world.desk[e.site]
    yield _wait_until(world, e.at_h(world.sc.start_date))
    if isinstance(units, int):
        _retire(desk, units, VACANT, role)
        return
    spec, c = world.sc.sites[e.site].staff[role], world.sc.commissioning
    t = spec.turnover
    lead_h = (t.hiring_lead_days if t is not None else c.hiring_lead_days) * HOURS_PER_DAY
    training_h = (t.training_weeks if t is not None else c.training_weeks) * HOURS_PER_WEEK
    yield world.env.timeout(lead_h)
    for u in units:
        if training_h > 0:
            desk.set_down(u, "training", duration=training_h)
        desk.set_up(u, VACANT)


def _site_change(world: World, e: PlanEntry, label: str, teams: simpy.Resource) -> Proc:
    """On the entry's date: a site that opens is qualified by a team, then its units come into
    service and routing sends it batches; one that closes gets no new batch."""
    yield _wait_until(world, e.at_h(world.sc.start_date))
    if not e.open:
        world.site_open[e.site] = False
        return
    if world.site_open[e.site]:
        return
    yield from _qualify(world, e, ("site", -1, label), teams)
    world.site_open[e.site] = True
    for tname in world.sc.sites[e.site].devices:
        pool = world.pools[(e.site, tname)]
        for u in pool.units:
            pool.set_up(u, NOT_COMMISSIONED)
