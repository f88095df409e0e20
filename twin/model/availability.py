"""The facility as it runs and fails: shifts, absence and turnover of staff; changeover,
breakdowns and maintenance of devices; utility, IT, device and staff outages with their backups.

Every mechanism is a SimPy process that changes the availability of units (see
:mod:`twin.model.pools`) or a site condition (see :mod:`twin.model.conditions`); the journeys
feel it through those, and every change is in the event log:

=============  ==========================  ===========================================================
kind           resource                    meaning
=============  ==========================  ===========================================================
outage_start   power, co2, ..., pool, role  an outage begins (detail: its label); patient = -1
outage_end     same                        ... and ends
backup_start   ups, generator, co2_backup,  a backup carries the load (detail: the outage's label)
               o2_backup, ..., ln2_tank
backup_end     same                        ... and stops (exhausted, or not needed any more)
down / up      a site condition (power,     the condition is lost / back (detail: the root cause's
               co2, ..., it, grade), unit   label); for a unit of a pool: why it is out of service
               = -1; or a pool, unit >= 0   (broken, maintenance, changeover, off_shift, absent,
                                            vacant, training, outage:LABEL)
=============  ==========================  ===========================================================

Backups (all times in hours):

* power: grid down for D. The UPS carries the load for ``ups_minutes``; a generator starts after
  ``start_delay_min`` unless it fails to start (drawn per outage), and runs ``fuel_h``. Power is
  lost where neither carries it.
* co2, o2, compressed_air: the backup lasts ``backup_h`` (for CO2 and O2, ``backup_l`` litres over
  the draw, ``co2_l_per_h`` or ``o2_l_per_h``, of the site's installed units); lost from then to
  the end of the outage.
* ln2: deliveries every ``delivery_every_days``; those due during the outage are missed; LN2 is
  lost when the tank (full at the last delivery) runs dry, until the next delivery after it.
* hvac (air handling): lost when power is lost or in an ``hvac`` outage; the cleanroom leaves
  grade after ``grade_loss_after_h`` without air and needs ``requalification_h`` after air is
  back.
* it: down for D plus ``restore_h``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR
from twin.model import streams
from twin.model.eventlog import LogRow
from twin.model.pools import INF, Unit, UnitPool
from twin.scenario.calendars import shift_intervals

if TYPE_CHECKING:
    from twin.model.world import World
    from twin.scenario.outages import Outage
    from twin.scenario.staffing import StaffRole

Proc = Generator[simpy.Event, Any, Any]


def start_availability(world: World) -> None:
    """Start every availability process of ``world`` (staff, devices, site air/grade, outages)."""
    for sname, site in world.sc.sites.items():
        for role, spec in site.staff.items():
            _start_staff(world, sname, role, spec)
        for tname in site.devices:
            _start_devices(world, sname, tname)
        _start_air_and_grade(world, sname)
    for i, o in enumerate(world.sc.outages):
        for at, duration in outage_times(world, o, o.label(i)):
            for site in _outage_sites(world, o):
                world.env.process(_outage(world, o, o.label(i), site, at, duration))


# -- staff ---------------------------------------------------------------------------------------


def _start_staff(world: World, site: str, role: str, spec: StaffRole) -> None:
    desk = world.desk[site]
    people = [u for u in desk.units if u.name == role]
    if not people:
        return
    # One absence stream per person, so that a headcount change keeps everyone else's absences
    # (common random numbers when comparing 4 operators with 5).
    rngs = [world.streams.get(streams.absence(site, role, u.index)) for u in people]
    if spec.shift is not None:
        intervals = shift_intervals(world.sc.shifts[spec.shift], world.first_weekday, world.sc.horizon_h)
        world.env.process(_shifts(world, desk, people, intervals, spec.absence_per_day, rngs))
    elif spec.absence_per_day > 0:
        world.env.process(_daily_absence(world, desk, people, spec.absence_per_day, rngs))
    if spec.turnover is not None and spec.turnover.leavers_per_year > 0:
        world.env.process(_turnover(world, desk, people, spec, world.streams.get(streams.turnover(site, role))))


def _shifts(world: World, desk: UnitPool, people: list[Unit], intervals: list[tuple[float, float]],
            absence: float, rngs: list[np.random.Generator]) -> Proc:
    """People come on duty at each interval's start and go off at its end; each is absent from a
    whole interval with probability ``absence`` (one draw per person and interval, from the
    person's own stream: person i's k-th interval always gets the k-th number)."""
    env = world.env
    for u in people:
        u.shift_end = 0.0
        desk.set_down(u, "off_shift")
    draws_by_person = np.stack([r.random(len(intervals)) for r in rngs], axis=1) if intervals else None
    for k, (a, b) in enumerate(intervals):
        if a > env.now:
            yield env.timeout(a - env.now)
        assert draws_by_person is not None
        for u, x in zip(people, draws_by_person[k].tolist()):
            u.shift_end = b
            if x < absence:
                desk.set_down(u, "absent", duration=b - env.now)
            desk.set_up(u, "off_shift", dispatch=False)
        desk.dispatch()
        yield env.timeout(b - env.now)
        for u in people:
            u.shift_end = env.now
            desk.set_down(u, "off_shift")


def _daily_absence(world: World, desk: UnitPool, people: list[Unit], absence: float,
                   rngs: list[np.random.Generator]) -> Proc:
    """Around-the-clock staff: each person is absent for a day with probability ``absence``
    (drawn at 00:00 from the person's own stream; someone busy then leaves when the task in hand
    is done)."""
    env = world.env
    days = int(math.ceil(world.sc.horizon_h / 24.0)) + 1
    draws_by_person = np.stack([r.random(days) for r in rngs], axis=1)
    for day in range(days):
        for u, x in zip(people, draws_by_person[day].tolist()):
            if x < absence:
                desk.set_down(u, "absent", duration=24.0)
        yield env.timeout(24.0)


def _turnover(world: World, desk: UnitPool, people: list[Unit], spec: StaffRole, rng: np.random.Generator) -> Proc:
    """Leavers at a Poisson rate; each place is vacant for the hiring lead time, then held by a
    trainee (no qualified work) for the training weeks."""
    env, t = world.env, spec.turnover
    assert t is not None
    mean_gap = HOURS_PER_YEAR / t.leavers_per_year
    while True:
        yield env.timeout(rng.exponential(mean_gap))
        staffed = [u for u in people if "vacant" not in u.down and "training" not in u.down
                   and all(r not in ("vacant", "training") for r, _ in u.pending)]
        pick = int(rng.integers(len(people)))  # drawn even when nobody can leave (stable stream)
        if not staffed:
            continue
        u = staffed[pick % len(staffed)]
        env.process(_replace(world, desk, u, t.hiring_lead_days * HOURS_PER_DAY, t.training_weeks * HOURS_PER_WEEK))


def _replace(world: World, desk: UnitPool, u: Unit, lead_h: float, training_h: float) -> Proc:
    desk.set_down(u, "vacant")
    yield world.env.timeout(lead_h)
    desk.set_up(u, "vacant")
    if training_h > 0:
        desk.set_down(u, "training", duration=training_h)


# -- devices -------------------------------------------------------------------------------------


def _start_devices(world: World, site: str, tname: str) -> None:
    pool = world.pools[(site, tname)]
    dtype = world.loaded.device_types[(site, tname)]
    if dtype.changeover_h:
        hours = dtype.changeover_h
        pool.on_empty = lambda u: pool.set_down(u, "changeover", duration=hours)
    n = len(pool.units)
    for u in pool.units:
        if dtype.failure is not None:
            world.env.process(_breakdowns(world, site, tname, pool, u))
        if dtype.maintenance is not None and n:
            every = dtype.maintenance.every_days * 24.0
            world.env.process(_maintenance(world, pool, u, every * (u.index + 0.5) / n, every,
                                           dtype.maintenance.duration_h))


def _breakdowns(world: World, site: str, tname: str, pool: UnitPool, u: Unit) -> Proc:
    """Unit ``u`` breaks after each time between failures; the repair takes the repair time,
    worked only while a qualified person is on shift if the catalogue names a repair role."""
    env = world.env
    f = world.loaded.device_types[(site, tname)].failure
    assert f is not None
    tbf = world.streams.get(streams.failure(site, tname, u.index))
    rep = world.streams.get(streams.repair(site, tname, u.index))
    step = f"repair:{tname}"
    while True:
        yield env.timeout(f.time_between_h.ppf(float(tbf.random())))
        pool.set_down(u, "broken", hard=True)
        hours = f.repair_h.ppf(float(rep.random()))
        if f.repair_role is None:
            yield env.timeout(hours)
        else:
            yield from _repair_work(world, site, tname, step, hours)
        pool.set_up(u, "broken", hard=True)


def _repair_work(world: World, site: str, tname: str, step: str, hours: float) -> Proc:
    """``hours`` of repair by qualified people on shift: each works until the repair is done or
    their shift ends, and the next one on duty carries on."""
    env, desk, log = world.env, world.desk[site], world.log
    remaining = hours
    while remaining > 1e-9:
        req = desk.request(step, min(remaining, 0.25))
        log.add(LogRow(env.now, site, "queue", step=step, detail=tname))
        person = yield req
        log.add(LogRow(env.now, site, "seize", step=step, resource=person.name, unit=person.index, detail=tname))
        chunk = min(remaining, person.shift_end - env.now)
        yield env.timeout(chunk)
        remaining -= chunk
        if world.closed:
            return
        desk.release(req)
        log.add(LogRow(env.now, site, "release", step=step, resource=person.name, unit=person.index, detail=tname))


def _maintenance(world: World, pool: UnitPool, u: Unit, first_h: float, every_h: float, hours: float) -> Proc:
    """Preventive maintenance of ``u`` at ``first_h`` and every ``every_h`` after (soft: it
    waits for the batches inside to leave)."""
    env = world.env
    yield env.timeout(first_h)
    while True:
        pool.set_down(u, "maintenance", duration=hours)
        yield env.timeout(every_h)


# -- site air handling and grade -----------------------------------------------------------------


def _start_air_and_grade(world: World, site: str) -> None:
    """Power feeds air handling; air lost for ``grade_loss_after_h`` takes the cleanroom out of
    grade until ``requalification_h`` after air is back."""
    env = world.env
    power, air, grade = (world.cond[(site, w)] for w in ("power", "air", "grade"))
    hvac = world.sc.sites[site].utilities.hvac
    state = {"episode": 0, "lost": ""}

    def on_power(is_up: bool) -> None:
        if is_up:
            air.clear("power")
        else:
            air.down("power")

    def on_air(is_up: bool) -> None:
        state["episode"] += 1
        episode = state["episode"]
        if not is_up:
            env.process(_grade_loss(episode))
        elif state["lost"]:
            env.process(_requalify(episode))

    def root_cause() -> str:
        cause = air.cause()
        return power.cause() if cause == "power" else cause

    def _grade_loss(episode: int) -> Proc:
        cause = root_cause()
        yield env.timeout(hvac.grade_loss_after_h)
        if state["episode"] == episode and not air.up and not state["lost"]:
            state["lost"] = cause
            site_down(world, site, "grade", cause)

    def _requalify(episode: int) -> Proc:
        yield env.timeout(hvac.requalification_h)
        if state["episode"] == episode and air.up and state["lost"]:
            site_up(world, site, "grade", state["lost"])
            state["lost"] = ""

    power.on_change.append(on_power)
    air.on_change.append(on_air)


def site_down(world: World, site: str, what: str, cause: str) -> None:
    """Site condition ``what`` is lost for ``cause`` (logged)."""
    if not world.closed:
        world.log.add(LogRow(world.env.now, site, "down", resource=what, detail=cause))
    world.cond[(site, what)].down(cause)


def site_up(world: World, site: str, what: str, cause: str) -> None:
    """Site condition ``what`` is back from ``cause`` (logged)."""
    if not world.closed:
        world.log.add(LogRow(world.env.now, site, "up", resource=what, detail=cause))
    world.cond[(site, what)].clear(cause)


# -- outages -------------------------------------------------------------------------------------


def outage_times(world: World, o: Outage, label: str) -> list[tuple[float, float]]:
    """(start, duration) hours of each occurrence of outage ``o`` within the horizon: the
    scripted one, or a Poisson stream at ``rate_per_year`` (streams ``outage:LABEL`` and
    ``outage_h:LABEL``)."""
    horizon = world.sc.horizon_h
    dur_rng = world.streams.get(streams.outage_h(label))
    if o.at_h is not None:
        starts = [o.at_h] if o.at_h < horizon else []
    else:
        assert o.rate_per_year is not None
        rng = world.streams.get(streams.outage(label))
        mean_gap = HOURS_PER_YEAR / o.rate_per_year
        starts, t = [], 0.0
        while True:
            t += float(rng.exponential(mean_gap))
            if t >= horizon:
                break
            starts.append(t)
    return [(s, o.duration_h.ppf(float(dur_rng.random()))) for s in starts]


def _outage_sites(world: World, o: Outage) -> list[str]:
    sites = [o.site] if o.site is not None else list(world.sc.sites)
    if o.what == "device":
        return [s for s in sites if (s, o.pool) in world.pools]
    if o.what == "staff":
        return [s for s in sites if world.sc.sites[s].headcount(o.role or "") > 0]
    if o.what == "ln2":
        return [s for s in sites if world.sc.sites[s].utilities.ln2 is not None]
    return sites


def _outage(world: World, o: Outage, label: str, site: str, at: float, duration: float) -> Proc:
    env = world.env
    if at > env.now:
        yield env.timeout(at - env.now)
    if duration <= 0:
        return
    what = o.what
    resource = o.pool if what == "device" else o.role if what == "staff" else what
    log = world.log
    log.add(LogRow(env.now, site, "outage_start", resource=resource, detail=label))
    util = world.sc.sites[site].utilities
    if what in ("device", "staff"):
        pool = world.pools[(site, o.pool)] if what == "device" else world.desk[site]
        units = [u for u in pool.units if what == "device" or u.name == o.role]
        for u in units[: o.units or len(units)]:
            pool.set_down(u, f"outage:{label}", hard=what == "device", duration=duration)
        yield env.timeout(duration)
    elif what == "power":
        env.process(_power(world, site, label, duration, util.power))
        yield env.timeout(duration)
    elif what in ("co2", "o2", "compressed_air"):
        env.process(_gas(world, site, what, label, duration, _gas_backup_h(world, site, what)))
        yield env.timeout(duration)
    elif what == "ln2":  # the loss may last past the supply outage, until the next delivery
        env.process(_ln2(world, site, label, at, duration))
        yield env.timeout(duration)
    elif what == "hvac":
        world.cond[(site, "air")].down(label)
        yield env.timeout(duration)
        world.cond[(site, "air")].clear(label)
    elif what == "it":
        site_down(world, site, "it", label)
        yield env.timeout(duration)
        log.add(LogRow(env.now, site, "outage_end", resource="it", detail=label))
        if util.it.restore_h > 0:
            log.add(LogRow(env.now, site, "backup_start", resource="it_restore", detail=label))
            yield env.timeout(util.it.restore_h)
            log.add(LogRow(env.now, site, "backup_end", resource="it_restore", detail=label))
        site_up(world, site, "it", label)
        return
    if not world.closed:
        log.add(LogRow(env.now, site, "outage_end", resource=resource, detail=label))


def _segments(world: World, site: str, what: str, label: str, plan: list[tuple[float, float, str]],
              duration: float) -> Proc:
    """Play a plan of (start, end, carrier) over [0, duration) relative to now: carrier "" is
    a loss of ``what``, otherwise a backup carrying it (logged as backup_start/_end)."""
    env, t0 = world.env, world.env.now
    for a, b, carrier in sorted(plan):
        if b <= a:
            continue
        if t0 + a > env.now:
            yield env.timeout(t0 + a - env.now)
        if carrier:
            world.log.add(LogRow(env.now, site, "backup_start", resource=carrier, detail=label))
        else:
            site_down(world, site, what, label)
        yield env.timeout(t0 + b - env.now)
        if carrier:
            if not world.closed:
                world.log.add(LogRow(env.now, site, "backup_end", resource=carrier, detail=label))
        else:
            site_up(world, site, what, label)
    if t0 + duration > env.now:
        yield env.timeout(t0 + duration - env.now)


def power_plan(duration: float, ups_h: float, gen_start_h: float | None, fuel_h: float | None
               ) -> list[tuple[float, float, str]]:
    """(start, end, carrier) over a grid outage of ``duration`` hours: the UPS, the generator
    (``gen_start_h`` None when there is none or it failed to start) and "" where power is lost."""
    plan: list[tuple[float, float, str]] = []
    d = duration
    if gen_start_h is None:
        plan.append((0.0, min(ups_h, d), "ups"))
        plan.append((min(ups_h, d), d, ""))
        return plan
    g = min(gen_start_h, d)
    plan.append((0.0, min(ups_h, g), "ups"))
    plan.append((min(ups_h, g), g, ""))
    end_gen = d if fuel_h is None else min(d, g + fuel_h)
    plan.append((g, end_gen, "generator"))
    plan.append((end_gen, d, ""))
    return plan


def _power(world: World, site: str, label: str, duration: float, power) -> Proc:
    gen = power.generator
    start = None
    if gen is not None:
        fails = world.streams.get(streams.generator(label, site)).random() < gen.fail_to_start_probability
        if fails:
            world.log.add(LogRow(world.env.now, site, "backup_failed", resource="generator", detail=label))
        else:
            start = gen.start_delay_min / 60.0
    plan = power_plan(duration, power.ups_minutes / 60.0, start, None if gen is None else gen.fuel_h)
    yield from _segments(world, site, "power", label, plan, duration)


def _gas_backup_h(world: World, site: str, what: str) -> float:
    supply = getattr(world.sc.sites[site].utilities, what)
    if what in ("co2", "o2") and supply.backup_l is not None:
        draw = sum(len(p.units) * (getattr(world.loaded.device_types[(site, t)], f"{what}_l_per_h") or 0.0)
                   for (s, t), p in world.pools.items() if s == site and p.units and (site, t) in world.loaded.device_types)
        return INF if draw <= 0 else supply.backup_l / draw
    return supply.backup_h


def _gas(world: World, site: str, what: str, label: str, duration: float, backup_h: float) -> Proc:
    b = min(backup_h, duration)
    plan = [(0.0, b, f"{what}_backup"), (b, duration, "")]
    yield from _segments(world, site, what, label, plan, duration)


def ln2_plan(at: float, duration: float, tank_l: float, every_h: float, per_h: float) -> list[tuple[float, float, str]]:
    """(start, end, carrier) relative to ``at`` for an LN2 supply outage over [at, at+duration):
    the tank carries the site from the last delivery before ``at`` until it is empty; LN2 is
    lost from then until the first delivery at or after the end of the outage."""
    last = math.floor(at / every_h) * every_h
    if last >= at:  # a delivery exactly at the start is missed
        last -= every_h
    last = max(last, 0.0)
    next_ok = math.ceil((at + duration) / every_h) * every_h
    dry = INF if per_h <= 0 else last + tank_l / per_h
    if dry >= next_ok:
        return [(0.0, next_ok - at, "ln2_tank")]
    dry = max(dry, at)
    return [(0.0, dry - at, "ln2_tank"), (dry - at, next_ok - at, "")]


def _ln2(world: World, site: str, label: str, at: float, duration: float) -> Proc:
    ln2 = world.sc.sites[site].utilities.ln2
    assert ln2 is not None
    per_h = sum(len(p.units) * (world.loaded.device_types[(site, t)].ln2_l_per_day or 0.0)
                for (s, t), p in world.pools.items() if s == site and (site, t) in world.loaded.device_types) / 24.0
    plan = ln2_plan(at, duration, ln2.tank_l, ln2.delivery_every_days * 24.0, per_h)
    yield from _segments(world, site, "ln2", label, plan, max(duration, max(b for _, b, _ in plan)))
