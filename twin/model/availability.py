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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR
from twin.model import streams
from twin.model.eventlog import LogRow
from twin.model.pools import INF, Unit, UnitPool
from twin.scenario.plans import added_units
from twin.scenario.rota import RotaRules, role_calendar, rota, shift_occurrences

if TYPE_CHECKING:
    from twin.model.world import World
    from twin.scenario.catalogue import Maintenance
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
                world.env.process(_outage(world, _Occurrence(o, o.label(i), site, at, duration)))


# -- staff ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Crew:
    """The people of one role at one site: the site's desk (the pool of all its people), the
    role's units in it, the probability (0-1) that one is absent from a shift, and one absence
    stream per person."""

    desk: UnitPool
    people: list[Unit]
    absence: float
    rngs: list[np.random.Generator]


def _start_staff(world: World, site: str, role: str, spec: StaffRole) -> None:
    desk = world.desk[site]
    people = [u for u in desk.units if u.name == role]
    if not people:
        return
    # One absence stream per person, so that a headcount change keeps everyone else's absences
    # (common random numbers when comparing 4 operators with 5).
    rngs = [world.streams.get(streams.absence(site, role, u.index)) for u in people]
    crew = _Crew(desk, people, spec.absence_per_day, rngs)
    if spec.always_on_duty:
        if spec.absence_per_day > 0:
            world.env.process(_daily_absence(world, crew))
    else:
        _start_rota(world, crew, spec, site)
    _start_turnover(world, site, role, spec, people)


def _start_rota(world: World, crew: _Crew, spec: StaffRole, site: str) -> None:
    hires = added_units(world.sc.capacity_plan, site, "staff", crew.people[0].name)
    if hires:  # each planned hire fills a new post of the rota (vacant until they join)
        spec = spec.model_copy(update={"posts": spec.on_duty_posts + hires})
    blocks = role_calendar(spec, world.sc.shifts)
    shifts = shift_occurrences(blocks, world.first_weekday, world.sc.horizon_h, world.clocks[site])
    world.env.process(_shifts(world, crew, shifts, rota(shifts, len(crew.people), RotaRules.of(spec, blocks))))


def _start_turnover(world: World, site: str, role: str, spec: StaffRole, people: list[Unit]) -> None:
    desk, t = world.desk[site], spec.turnover
    if t is not None and t.hazard_per_year(spec.count) > 0:
        mean_gap = HOURS_PER_YEAR / t.hazard_per_year(spec.count)
        for u in people:
            rng = world.streams.get(streams.turnover(site, role, u.index))
            world.env.process(_turnover(world, desk, u, (mean_gap, t.hiring_lead_days * HOURS_PER_DAY,
                                                         t.training_weeks * HOURS_PER_WEEK), rng))


def _duty_changes(shifts: list[tuple[float, float]], roster: list[list[int]]) -> list[tuple[float, int, int, int]]:
    """(time, 0 = off / 1 = on, person, shift k) for every person's rostered shifts, in time
    order, people going off before others come on at the same hour."""
    out = []
    for k, ((a, b), on) in enumerate(zip(shifts, roster)):
        for i in on:
            out.append((a, 1, i, k))
            out.append((b, 0, i, k))
    out.sort()
    return out


def _shifts(world: World, crew: _Crew, shifts: list[tuple[float, float]], roster: list[list[int]]) -> Proc:
    """Play the rota (:func:`twin.scenario.rota.rota`): each person comes on duty at the start of
    each shift they are rostered for and goes off at its end; a person is absent from a rostered
    shift with probability ``crew.absence`` (one draw per person and shift of the calendar, from
    the person's own stream: person i's draw for the calendar's k-th shift is always the k-th
    number, whoever else is rostered)."""
    env, desk, people, absence = world.env, crew.desk, crew.people, crew.absence
    for u in people:
        u.shift_end = 0.0
        desk.set_down(u, "off_shift")
    draws = [r.random(len(shifts)).tolist() for r in crew.rngs] if shifts else []
    changes = _duty_changes(shifts, roster)
    j = 0
    while j < len(changes):
        t = changes[j][0]
        if t > env.now:
            yield env.timeout(t - env.now)
        came_on = False
        while j < len(changes) and changes[j][0] == t:
            _, on, i, k = changes[j]
            u = people[i]
            if on:
                u.shift_end = shifts[k][1]
                if draws[i][k] < absence:
                    desk.set_down(u, "absent", duration=shifts[k][1] - env.now)
                desk.set_up(u, "off_shift", dispatch=False)
                came_on = True
            else:
                u.shift_end = env.now
                desk.set_down(u, "off_shift")
            j += 1
        if came_on:
            desk.dispatch()


def _daily_absence(world: World, crew: _Crew) -> Proc:
    """Staff ``always_on_duty``: each person is absent for a day with probability
    ``crew.absence`` (drawn at 00:00 from the person's own stream; someone busy then leaves when
    the task in hand is done)."""
    env, desk, people, absence, rngs = world.env, crew.desk, crew.people, crew.absence, crew.rngs
    days = int(math.ceil(world.sc.horizon_h / HOURS_PER_DAY)) + 1
    draws_by_person = np.stack([r.random(days) for r in rngs], axis=1)
    for day in range(days):
        for u, x in zip(people, draws_by_person[day].tolist()):
            if x < absence:
                desk.set_down(u, "absent", duration=HOURS_PER_DAY)
        yield env.timeout(HOURS_PER_DAY)


def _turnover(world: World, desk: UnitPool, u: Unit, times: tuple[float, float, float], rng: np.random.Generator
              ) -> Proc:
    """The place of person ``u``: its holder leaves after an exponential time (mean ``times[0]``
    hours, drawn from the place's own stream, so another person's place changes nothing here);
    the place is vacant for the hiring lead (``times[1]`` h), then held by a trainee (no
    qualified work) for the training (``times[2]`` h); the new hire's own time to leaving starts
    when they start."""
    env = world.env
    mean_gap, lead_h, training_h = times
    while True:
        yield env.timeout(float(rng.exponential(mean_gap)))
        desk.set_down(u, "vacant")
        yield env.timeout(lead_h)
        desk.set_up(u, "vacant")
        if training_h > 0:
            desk.set_down(u, "training", duration=training_h)


# -- devices -------------------------------------------------------------------------------------


def _start_devices(world: World, site: str, tname: str) -> None:
    pool = world.pools[(site, tname)]
    dtype = world.loaded.device_types[(site, tname)]
    if dtype.changeover_h and dtype.changeover_role is not None:
        hours = dtype.changeover_h
        pool.on_empty = lambda u: _staffed_changeover(world, site, pool, u, hours)
    elif dtype.changeover_h:
        hours = dtype.changeover_h
        pool.on_empty = lambda u: pool.set_down(u, "changeover", duration=hours)
    for u in pool.units:
        if dtype.failure is not None:
            world.env.process(_breakdowns(world, site, tname, pool, u))
        if dtype.maintenance is not None:
            world.env.process(_maintenance(world, pool, u, dtype.maintenance))


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
        if f.response_h > 0:  # the vendor (or the engineer on call) is on the way
            yield env.timeout(f.response_h)
        if f.repair_role is None:
            yield env.timeout(hours)
        else:
            yield from _repair_work(world, site, tname, step, hours)
        pool.set_up(u, "broken", hard=True)


def _staffed_changeover(world: World, site: str, pool: UnitPool, u: Unit, hours: float) -> None:
    """The changeover of ``u`` (empty now): out of service at once, until a person of the
    device's ``changeover_role`` has worked its ``hours`` on shift (handed over at shift ends)."""
    pool.set_down(u, "changeover")

    def work() -> Proc:
        yield from _repair_work(world, site, u.name, f"changeover:{u.name}", hours)
        if not world.closed:
            pool.set_up(u, "changeover")

    world.env.process(work())


def _repair_work(world: World, site: str, tname: str, step: str, hours: float) -> Proc:
    """``hours`` of work on device type ``tname`` (a repair, a changeover: step ``step``) by
    qualified people on shift: each works until the work is done or their shift ends, and the
    next one on duty carries on."""
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


def _maintenance(world: World, pool: UnitPool, u: Unit, m: Maintenance) -> Proc:
    """Preventive maintenance of ``u`` for ``m.duration_h`` hours every ``m.every_days`` days,
    the pool's units staggered over the interval (unit i first at (i + 0.5) / units of it); soft:
    it waits for the batches inside to leave."""
    env = world.env
    every_h = m.every_days * HOURS_PER_DAY
    yield env.timeout(every_h * (u.index + 0.5) / len(pool.units))
    while True:
        pool.set_down(u, "maintenance", duration=m.duration_h)
        yield env.timeout(every_h)


# -- site air handling and grade -----------------------------------------------------------------


def _start_air_and_grade(world: World, site: str) -> None:
    """Power feeds air handling; air lost for ``grade_loss_after_h`` takes the cleanroom out of
    grade until ``requalification_h`` after air is back (see :class:`_AirAndGrade`)."""
    _AirAndGrade(world, site)


class _AirAndGrade:
    """One site's air handling and cleanroom grade, kept by the callbacks it adds to the site's
    power and air conditions: air is down while power is; each change of air starts an episode,
    and only the latest episode's grade loss (after ``grade_loss_after_h`` hours without air) or
    requalification (``requalification_h`` hours after air is back) takes effect."""

    def __init__(self, world: World, site: str) -> None:
        self.world, self.site, self.env = world, site, world.env
        self.power, self.air = world.cond[(site, "power")], world.cond[(site, "air")]
        self.hvac = world.sc.sites[site].utilities.hvac
        self.episode = 0
        self.lost = ""  # the root cause of the grade loss in progress ("": in grade)
        self.power.on_change.append(self.on_power)
        self.air.on_change.append(self.on_air)

    def on_power(self, is_up: bool) -> None:
        if is_up:
            self.air.clear("power")
        else:
            self.air.down("power")

    def on_air(self, is_up: bool) -> None:
        self.episode += 1
        if not is_up:
            self.env.process(self._grade_loss(self.episode))
        elif self.lost:
            self.env.process(self._requalify(self.episode))

    def root_cause(self) -> str:
        cause = self.air.cause()
        return self.power.cause() if cause == "power" else cause

    def _grade_loss(self, episode: int) -> Proc:
        cause = self.root_cause()
        yield self.env.timeout(self.hvac.grade_loss_after_h)
        if self.episode == episode and not self.air.up and not self.lost:
            self.lost = cause
            site_down(self.world, self.site, "grade", cause)

    def _requalify(self, episode: int) -> Proc:
        yield self.env.timeout(self.hvac.requalification_h)
        if self.episode == episode and self.air.up and self.lost:
            site_up(self.world, self.site, "grade", self.lost)
            self.lost = ""


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


@dataclass(frozen=True)
class _Occurrence:
    """One occurrence of ``outage`` (named ``label``) at ``site``: from ``at_h`` for ``hours``."""

    outage: Outage
    label: str
    site: str
    at_h: float
    hours: float

    @property
    def what(self) -> str:
        """What is lost: a utility's supply, ``it``, ``hvac``, ``device`` or ``staff``."""
        return self.outage.what

    @property
    def resource(self) -> str:
        """What its outage_start/_end events name: the device pool, the staff role or the utility."""
        o = self.outage
        return o.pool if o.what == "device" else o.role if o.what == "staff" else o.what


def _outage(world: World, occ: _Occurrence) -> Proc:
    """Play one occurrence of an outage: logged from start to end, what it takes away in between
    (units out of service, a utility lost where its backup does not carry it, IT down until
    restored, air handling stopped)."""
    env, log = world.env, world.log
    if occ.at_h > env.now:
        yield env.timeout(occ.at_h - env.now)
    if occ.hours <= 0:
        return
    log.add(LogRow(env.now, occ.site, "outage_start", resource=occ.resource, detail=occ.label))
    if occ.what == "it":
        yield from _it_outage(world, occ)  # it logs its end itself, before the restore
        return
    if occ.what == "hvac":  # the air handling is lost (logged, so the outage log counts its hours)
        site_down(world, occ.site, "air", occ.label)
        yield env.timeout(occ.hours)
        site_up(world, occ.site, "air", occ.label)
    else:
        _begin_loss(world, occ)
        yield env.timeout(occ.hours)
    if not world.closed:
        log.add(LogRow(env.now, occ.site, "outage_end", resource=occ.resource, detail=occ.label))


def _begin_loss(world: World, occ: _Occurrence) -> None:
    """Take away what an outage of a device pool, a staff role, power, a gas or LN2 takes: the
    units out of service now (for the outage's hours), or the utility's loss and backups played
    by a process of their own."""
    what, site, env = occ.what, occ.site, world.env
    util = world.sc.sites[site].utilities
    if what in ("device", "staff"):
        o = occ.outage
        pool = world.pools[(site, o.pool)] if what == "device" else world.desk[site]
        units = [u for u in pool.units if what == "device" or u.name == o.role]
        for u in units[: o.units or len(units)]:
            pool.set_down(u, f"outage:{occ.label}", hard=what == "device", duration=occ.hours)
    elif what == "power":
        env.process(_power(world, occ, util.power))
    elif what in ("co2", "o2", "compressed_air"):
        env.process(_gas(world, occ, _gas_backup_h(world, site, what)))
    elif what == "ln2":  # the loss may last past the supply outage, until the next delivery
        env.process(_ln2(world, occ))


def _it_outage(world: World, occ: _Occurrence) -> Proc:
    """IT down for the outage's hours, then ``restore_h`` hours of restore before it is back."""
    env, log, site, label = world.env, world.log, occ.site, occ.label
    restore_h = world.sc.sites[site].utilities.it.restore_h
    site_down(world, site, "it", label)
    yield env.timeout(occ.hours)
    log.add(LogRow(env.now, site, "outage_end", resource="it", detail=label))
    if restore_h > 0:
        log.add(LogRow(env.now, site, "backup_start", resource="it_restore", detail=label))
        yield env.timeout(restore_h)
        log.add(LogRow(env.now, site, "backup_end", resource="it_restore", detail=label))
    site_up(world, site, "it", label)


def _segments(world: World, occ: _Occurrence, plan: list[tuple[float, float, str]], duration: float) -> Proc:
    """Play a plan of (start, end, carrier) over [0, duration) hours relative to now: carrier ""
    is a loss of what ``occ`` takes, otherwise a backup carrying it (logged as backup_start/_end)."""
    env, t0, site, what, label = world.env, world.env.now, occ.site, occ.what, occ.label
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


def _power(world: World, occ: _Occurrence, power) -> Proc:
    site, label, duration = occ.site, occ.label, occ.hours
    gen = power.generator
    start = None
    if gen is not None:
        fails = world.streams.get(streams.generator(label, site)).random() < gen.fail_to_start_probability
        if fails:
            world.log.add(LogRow(world.env.now, site, "backup_failed", resource="generator", detail=label))
        else:
            start = gen.start_delay_min / 60.0
    plan = power_plan(duration, power.ups_minutes / 60.0, start, None if gen is None else gen.fuel_h)
    yield from _segments(world, occ, plan, duration)


def _gas_backup_h(world: World, site: str, what: str) -> float:
    supply = getattr(world.sc.sites[site].utilities, what)
    if what in ("co2", "o2") and supply.backup_l is not None:
        draw = sum(len(p.units) * (getattr(world.loaded.device_types[(site, t)], f"{what}_l_per_h") or 0.0)
                   for (s, t), p in world.pools.items() if s == site and p.units and (site, t) in world.loaded.device_types)
        return INF if draw <= 0 else supply.backup_l / draw
    return supply.backup_h


def _gas(world: World, occ: _Occurrence, backup_h: float) -> Proc:
    duration = occ.hours
    b = min(backup_h, duration)
    plan = [(0.0, b, f"{occ.what}_backup"), (b, duration, "")]
    yield from _segments(world, occ, plan, duration)


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


def _ln2(world: World, occ: _Occurrence) -> Proc:
    site, at, duration = occ.site, occ.at_h, occ.hours
    ln2 = world.sc.sites[site].utilities.ln2
    assert ln2 is not None
    per_h = sum(len(p.units) * (world.loaded.device_types[(site, t)].ln2_l_per_day or 0.0)
                for (s, t), p in world.pools.items() if s == site and (site, t) in world.loaded.device_types) / HOURS_PER_DAY
    plan = ln2_plan(at, duration, ln2.tank_l, ln2.delivery_every_days * HOURS_PER_DAY, per_h)
    yield from _segments(world, occ, plan, max(duration, max(b for _, b, _ in plan)))
