"""Step mechanics of a journey: seizing and releasing units, waiting for what a step needs
(device running, utilities, grade, IT), pausing, aborting or rescuing when it goes down, staff
for the hands-on hours, and the event log rows all of that writes.

A step holds its device unit for its whole duration and its role's staff only for the first
``hands_on_h`` hours; a step lasts ``max(duration, hands_on_h)``. Waiting in any queue ends at
once on drop-out; a step in progress finishes first.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from twin.model import streams
from twin.model.clocks import kept_fraction
from twin.model.conditions import Condition, all_down, first_down, forget, when_any_changes
from twin.model.pools import Request, Unit, UnitPool

if TYPE_CHECKING:
    from twin.model.patient import Patient
    from twin.model.world import World
    from twin.scenario.distributions import Distribution
    from twin.scenario.recipe import ClinicalStep

Proc = Generator[simpy.Event, Any, Any]

EPS = 1e-9
"""Hours below which two times are the same instant (float round-off)."""
NAN = float("nan")


class Held:
    """A unit held by a patient: which pool, which request, which unit; ``staff``: the person
    taken with a device unit for the work at its start (see :meth:`StepRunner.place`), until
    that work begins."""

    __slots__ = ("pool", "req", "staff", "unit")

    def __init__(self, pool: UnitPool, req: Request, unit: Unit) -> None:
        self.pool, self.req, self.unit = pool, req, unit
        self.staff: Request | None = req.staff


@dataclass(frozen=True, slots=True)
class Work:
    """What one step of a batch asks for, apart from the unit it holds and how long it lasts.

    Attributes:
        site: where the work happens.
        step: the step's name in the event log (``expansion``, ``transfer:harvest``, ``qc:sterility``).
        role: the staff role that does the hands-on part (None: unattended).
        hands_on_h: hours (h) a qualified person of ``role`` works at the start.
        skill: the step those people must be qualified for (None: ``step``).
        limit_h: hours (h) the batch may wait for that person before it fails (None: no limit).
        extra: site conditions the work needs besides its device's (``grade`` for open work, ``it``).
        renege: whether a patient who drops out stops waiting for staff.
        detail: the ``step_start`` event's detail (None: the work has started, log no ``step_start``).
        duration_h: the step's duration distribution (h), for :meth:`StepRunner.work` (None: the
            caller draws the hours itself and calls :meth:`StepRunner.progress`).
    """

    site: str
    step: str
    role: str | None = None
    hands_on_h: float = 0.0
    skill: str | None = None
    limit_h: float | None = None
    extra: tuple[str, ...] = ()
    renege: bool = True
    detail: str | None = ""
    duration_h: Distribution | None = None

    @classmethod
    def of(cls, site: str, step: str, spec: ClinicalStep, **how: Any) -> Work:
        """The work of ``spec`` (a clinical or recipe step: its role, hands-on hours and
        duration) as step ``step`` at ``site``; ``how``: the other fields."""
        return cls(site, step, spec.role, spec.hands_on_h, duration_h=spec.duration_h, **how)


@dataclass(frozen=True, slots=True)
class Ask:
    """The terms of a request: for people, the step they must be qualified for (``skill``) and
    the hours their shift must still cover (``need_h``); for a device taken with its operator,
    ``crew`` = (desk, skill, hours) (see :meth:`StepRunner.place`)."""

    skill: str | None = None
    need_h: float = 0.0
    crew: tuple[UnitPool, str, float] | None = None


NO_TERMS = Ask()


class StepRunner:
    """The mechanics every step of one patient's journey in ``world`` uses."""

    def __init__(self, world: World, patient: Patient) -> None:
        self.w = world
        self.p = patient
        self.hospital = patient.hospital
        self.factory = ""  # the manufacturing site, chosen when the apheresis product ships

    # -- logging -------------------------------------------------------------------------
    # One event of this patient now (columns: :mod:`twin.model.eventlog`), appended straight to
    # the log's rows (the hot path); nothing once the horizon is reached (a suspended journey
    # being garbage-collected). One method per shape of row, so every call names what it logs.
    def log(self, site: str, step: str, kind: str, detail: str = "", value: float = NAN) -> None:
        """An event about no resource (``value``: a measured quantity, else NaN)."""
        w = self.w
        if not w.closed:
            w.rows.append((w.env.now, self.p.pid, site, step, "", -1, kind, detail, value))

    def log_resource(self, site: str, step: str, kind: str, resource: str, detail: str = "") -> None:
        """An event about a pool, role or courier lane as a whole (no unit)."""
        w = self.w
        if not w.closed:
            w.rows.append((w.env.now, self.p.pid, site, step, resource, -1, kind, detail, NAN))

    def log_unit(self, site: str, step: str, kind: str, unit: Unit, detail: str = "") -> None:
        """An event about one unit (device, chair, slot, person) of a pool."""
        w = self.w
        if not w.closed:
            w.rows.append((w.env.now, self.p.pid, site, step, unit.name, unit.index, kind, detail, NAN))

    def measure(self, site: str, step: str, quantity: str, value: float, reason: str) -> None:
        """A ``measure`` event: ``quantity`` (the resource column) is ``value``; ``reason``: why
        it was measured (a culture's end: ``target``, ``max_length``)."""
        w = self.w
        if not w.closed:
            w.rows.append((w.env.now, self.p.pid, site, step, quantity, -1, "measure", reason, value))

    def finish(self, outcome: str, cause: str, site: str) -> None:
        """Record the patient's single final outcome; the batch's processes stop at once (nothing
        starts or is seized for it afterwards; what it holds is let go)."""
        if not self.p.done:
            self.stop_attempt()
            self.log(site, cause, "outcome", detail=outcome)
        if not self.p.stop_ev.triggered:
            self.p.stop_ev.succeed()

    def stop_attempt(self) -> None:
        """This attempt at the batch stops at once: nothing starts or is seized for it afterwards;
        what it holds is let go."""
        p = self.p
        p.done = True
        p.holds = []
        if p.culture is not None:  # a finished culture still in its device: discarded
            self.w.ticker.remove(p.culture[2])
            p.culture = None
        if not p.stop_ev.triggered:
            p.stop_ev.succeed()

    # -- hold clocks ---------------------------------------------------------------------
    def passed(self, site: str, step: str, edge: str) -> None:
        """The batch passes the start or the end (``edge``) of ``step`` at ``site``: the hold
        clocks (:mod:`twin.model.clocks`) that stop at a start, and open at an end; a finished
        culture still in its device is harvested when the next step starts."""
        p = self.p
        if p.culture is not None and edge == "start":
            self.end_culture()
        plan = self.w.holds
        if plan is None:
            return
        if edge == "start":
            if p.holds:
                running = []
                for entry in p.holds:
                    if plan.closes_at(entry[0], step):
                        self._close_hold(site, step, entry[0], self.w.env.now - entry[1])
                    else:
                        running.append(entry)  # the same entry: its watcher knows it by identity
                p.holds = running
            return
        for hold in plan.opens.get(step, ()):
            entry = (hold, self.w.env.now)
            p.holds.append(entry)
            if hold.on_exceed == "lost":
                self.w.env.process(self._expire(entry))

    def end_culture(self) -> None:
        """Take the finished culture ``p.culture`` out of its device (see :class:`Handling`)."""
        raise NotImplementedError

    def _close_hold(self, site: str, step: str, hold: Any, held_h: float) -> None:
        """The viable cells ``held_h`` hours on ``hold`` cost the material, logged as damage."""
        kept = kept_fraction(hold, held_h)
        if kept >= 1.0:
            return
        p = self.p
        if p.viable is None:  # before any culture: the fraction of the collected cells kept
            p.cells *= kept
        else:  # after a culture: the viable cells die, the dead stay
            p.viable *= kept
            p.viability = (p.viability or 0.0) * kept
        self.log(site, step, "damage", detail=f"hold:{hold.name}", value=1.0 - kept)

    def _expire(self, entry: tuple[Any, float]) -> Proc:
        """Lose the batch when ``entry``'s hold is still running at its limit."""
        yield self.w.env.timeout(entry[0].limit_h)
        p = self.p
        if not p.done and any(e is entry for e in p.holds):
            self.finish("lost", f"hold:{entry[0].name}", self.factory or self.hospital)

    # -- resources -----------------------------------------------------------------------
    def acquire(self, pool: UnitPool, work: Work, name: str, ask: Ask = NO_TERMS) -> Proc:
        """Wait for a unit of ``pool`` for ``work`` (its site and step, whether a drop-out stops
        the wait, how long it may last; ``name``: the pool or role, for the log; ``skill`` and
        ``need_h``: for people, the step they must be qualified for and the hours the shift must
        still cover). Returns a :class:`Held`, or None when the patient dropped out while waiting
        (the request is withdrawn) or no one came within ``work.limit_h`` (the batch fails)."""
        env, site, step = self.w.env, work.site, work.step
        skill, need_h, crew = ask.skill, ask.need_h, ask.crew
        if self.p.done:
            return None
        if env.peek() > env.now and crew is None:
            # Nothing else is due at this instant, so a request the pool grants at once needs no
            # trip through the event queue: the order of same-time events stays SimPy's exactly.
            now = pool.take_now(skill, need_h)
            if now is not None:
                self.log_resource(site, step, "queue", name)
                self.log_unit(site, step, "seize", now.unit)
                return Held(pool, now, now.unit)
        req = pool.request(skill, need_h) if crew is None else pool.request_with(crew)
        self.log_resource(site, step, "queue", name)
        waits: list[simpy.Event] = [req, self.p.stop_ev]
        if work.renege:
            waits.append(self.p.dropped_ev)
        if work.limit_h is not None:
            waits.append(env.timeout(work.limit_h))
        yield simpy.AnyOf(env, waits)
        if self.p.done:  # the batch stopped (perhaps at the instant the unit came): hand it back unlogged
            _withdraw(pool, req)
            return None
        if not req.triggered:
            pool.cancel(req)
            if not self.p.done:  # (after an outcome nothing more is logged of the batch)
                self.log_resource(site, step, "renege", name)
                if not self.p.dropped:
                    self.finish("failed", f"{step}:no_qualified_staff", site)
            return None
        unit = req.unit
        assert unit is not None
        self.log_unit(site, step, "seize", unit)
        return Held(pool, req, unit)

    def _staff(self, work: Work, place: Held | None, hours: float) -> Proc:
        """A person for the next ``hours`` of hands-on ``work``: the one taken with the unit, or
        whoever qualified comes first (None: the journey stops)."""
        staff = self._booked(work, place)
        if staff is None:
            staff = yield from self.acquire(self.w.desk[work.site], work, work.role or "",
                                            Ask(work.skill or work.step, hours))
        return staff

    def _booked(self, work: Work, place: Held | None) -> Held | None:
        """The person taken with ``place``'s unit for this work, now logged as queued and seized
        (the same instant the unit was), or None."""
        if place is None or place.staff is None:
            return None
        req, place.staff = place.staff, None
        assert req.unit is not None
        self.log_resource(work.site, work.step, "queue", work.role or "")
        self.log_unit(work.site, work.step, "seize", req.unit)
        return Held(self.w.desk[work.site], req, req.unit)

    def release(self, held: Held, step: str, site: str) -> None:
        """Let go of a held unit."""
        if self.w.closed:
            return
        held.pool.release(held.req)
        self.log_unit(site, step, "release", held.unit)

    def place(self, site: str, pool_name: str, step: str, first: Work | None = None) -> Proc:
        """Wait for a unit of the place or device pool ``pool_name`` at ``site``. With ``first``
        (the work that starts on the unit) and the scenario's ``staff_and_device: together``, the
        unit is taken only when a person qualified for that work's hands-on start is free too, so
        no device stands loaded while its batch waits for an operator."""
        pool = self.w.pool(site, pool_name)
        crew = self._crew(first)
        if crew is None:
            return (yield from self.acquire(pool, Work(site, step), pool_name))
        return (yield from self.acquire(pool, Work(site, step), pool_name, Ask(crew=crew)))

    def _crew(self, first: Work | None) -> tuple[UnitPool, str, float] | None:
        """(desk, skill, hours) of the person ``first`` needs at its start, when the unit is to
        be taken with them; None when it needs no one, waits with a limit, or the scenario keeps
        devices first."""
        if (first is None or first.role is None or first.hands_on_h <= EPS or first.limit_h is not None
                or self.w.sc.staff_and_device != "together"):
            return None
        return (self.w.desk[first.site], first.skill or first.step, first.hands_on_h)

    # -- running a step ------------------------------------------------------------------
    def gates(self, site: str, place: Held | None, extra: tuple[str, ...] = ()) -> list[Condition]:
        """What must be up for the step to progress: the held device unit running (not broken,
        no device outage), the site utilities it cannot run without, and ``extra`` site
        conditions (``grade`` for open work, ``it`` for batch records)."""
        out: list[Condition] = []
        gates = self.w.device_gates.get((site, place.unit.name)) if place is not None else None
        if gates is not None:  # a device (with a running condition unless it cannot stop)
            if place.unit.running is not None:
                out.append(place.unit.running)
            out += gates
        out += [self.w.cond[(site, x)] for x in extra]
        return out

    def stop_policy(self, site: str, down: Condition, place: Held | None) -> str:
        """What a stop of ``down`` does to this batch: pause, abort or rescue."""
        if down is self.w.cond[(site, "grade")]:
            return "abort"  # product exposed in a room out of grade
        if place is None or (site, place.unit.name) not in self.w.device_gates:
            return "pause"
        dtype = self.w.loaded.device_types[(site, place.unit.name)]
        if down is place.unit.running and "broken" in down.reasons and dtype.failure is not None:
            return dtype.failure.on_failure
        return dtype.on_stop

    def verdict(self, site: str, downs: list[Condition], place: Held | None) -> tuple[str, Condition]:
        """What the conditions ``downs`` (all down at once) do to this batch, each judged by
        :meth:`stop_policy`: ``abort`` if any one loses it, else ``rescue`` if the breakdown says
        so, else ``pause``; with the condition that decides it."""
        policies = [(self.stop_policy(site, d, place), d) for d in downs]
        for want in ("abort", "rescue"):
            for policy, d in policies:
                if policy == want:
                    return policy, d
        return "pause", downs[0]

    def hold_until_running(self, work: Work, place: Held | None, started: bool = True) -> Proc:
        """If something ``work`` needs is down: stop (pause), lose the batch (abort), or after
        the rescue delay move it to another unit (rescue); a step not yet started just waits.
        The decision is taken over every condition that is down, again whenever any of them
        changes (a cleanroom that leaves grade while a blackout pauses an open step loses the
        batch). Returns False if the batch is lost."""
        env, site, step, extra = self.w.env, work.site, work.step, work.extra
        down = all_down(self.gates(site, place, extra))
        if not down:
            return True
        cause = down[0].cause()
        if started and not self._survives(site, step, down, place):
            return False
        self.log(site, step, "pause", detail=cause)
        stop_end = self._stop_end(site, place)
        rescue_at = self._rescue_at(site, down, place) if started else None
        while down:
            yield from self._next_change(self.gates(site, place, extra), (stop_end, rescue_at))
            if self.p.done:
                return False
            down = all_down(self.gates(site, place, extra))
            if not down:
                break
            if not self._can_wait(work, down, place, started, (stop_end, cause)):
                return False
            if started and rescue_at is None:
                rescue_at = self._rescue_at(site, down, place)
            if rescue_at is not None and env.now >= rescue_at - EPS and place is not None and place.unit.running in down:
                yield from self.rescue(site, step, place)
                rescue_at = None
                down = [] if self.p.done else all_down(self.gates(site, place, extra))
        if self.p.done:
            return False
        self.log(site, step, "resume", detail=cause)
        return True

    def _can_wait(self, work: Work, down: list[Condition], place: Held | None, started: bool,
                  tolerance: tuple[float | None, str]) -> bool:
        """Whether the batch may go on waiting while ``down`` stop it: not when they abort it (a
        started step), nor past ``tolerance`` = (the time its unit's stop tolerance ends, the
        stop's first cause); the batch is lost then (False)."""
        if started and not self._survives(work.site, work.step, down, place):
            return False
        stop_end, cause = tolerance
        if stop_end is not None and self.w.env.now >= stop_end - EPS:
            self.finish("lost", f"{work.step}:stopped_{short_cause(cause)}", work.site)
            return False
        return True

    def _stop_end(self, site: str, place: Held | None) -> float | None:
        """When a stop of the held unit beginning now has lasted longer than its device type
        tolerates (hours), or None: any stop is tolerated."""
        dtype = self.w.loaded.device_types.get((site, place.unit.name)) if place is not None else None
        tolerance = dtype.stop_tolerance_h if dtype is not None else None
        return self.w.env.now + tolerance if tolerance is not None else None

    def _next_change(self, gates: list[Condition], deadlines: tuple[float | None, ...]) -> Proc:
        """Wait until any of ``gates`` goes up or down, or the first of ``deadlines`` (hours; None:
        none) comes."""
        env = self.w.env
        waits, ups, downs = when_any_changes(gates)
        waits.append(self.p.stop_ev)
        waits += [env.timeout(max(t - env.now, 0.0)) for t in deadlines if t is not None]
        yield simpy.AnyOf(env, waits)
        forget(ups, downs)

    def _survives(self, site: str, step: str, downs: list[Condition], place: Held | None) -> bool:
        """False (and the batch lost, the deciding condition's cause named) when the conditions
        ``downs`` abort it."""
        policy, why = self.verdict(site, downs, place)
        if policy == "abort":
            self.finish("lost", f"{step}:{short_cause(why.cause())}", site)
            return False
        return True

    def _rescue_at(self, site: str, downs: list[Condition], place: Held | None) -> float | None:
        """When a breakdown among ``downs`` whose policy is rescue moves the batch (hours), or None."""
        if place is None or self.verdict(site, downs, place)[0] != "rescue":
            return None
        failure = self.w.loaded.device_types[(site, place.unit.name)].failure
        assert failure is not None
        return self.w.env.now + failure.rescue_delay_h

    def rescue(self, site: str, step: str, place: Held) -> Proc:
        """Move the batch from its broken unit to another unit of the same pool, ahead of the
        batches waiting to start (waiting for one); withdrawn if the broken unit is back first
        (the batch stays). Returns the unit it left (``place.unit`` when it stayed)."""
        pool, old = place.pool, place.unit
        req = pool.request_first()
        self.log_resource(site, step, "queue", old.name, detail="rescue")
        if not req.triggered:
            back = [old.running.when_up()] if old.running is not None else []
            yield simpy.AnyOf(self.w.env, [req, self.p.stop_ev, *back])
        if self.p.done:
            _withdraw(pool, req)
            return old
        if not req.triggered:
            pool.cancel(req)
            self.log_resource(site, step, "renege", old.name, detail="rescue")
            return old
        self.release(Held(pool, place.req, old), step, site)
        place.req, place.unit = req, req.unit
        self.log_unit(site, step, "seize", place.unit, detail="rescue")
        return old

    def advance(self, hours: float, gates: list[Condition]) -> Proc:
        """Run for ``hours`` or until a gate goes down; returns the hours run."""
        env = self.w.env
        t0 = env.now
        timer = env.timeout(hours)
        if not gates and not self.w.stops_from_outside:
            yield timer  # nothing can stop this work early: no condition event needed (the hot path)
            return hours
        downs = [g.when_down() for g in gates]
        yield simpy.AnyOf(env, [timer, self.p.stop_ev, *downs])
        forget(gates, downs)
        return hours if timer.processed or env.now - t0 >= hours - EPS else env.now - t0

    def progress(self, work: Work, total_h: float, place: Held | None) -> Proc:
        """Progress ``total_h`` hours of ``work`` while holding ``place`` (if any), the first
        ``work.hands_on_h`` of them with a qualified person of ``work.role`` on shift, only while
        every gate is up (see :meth:`gates`). A stop releases the person; the rest of the
        hands-on time is done by whoever is free after it. Returns False when the batch is lost,
        fails, or the patient dropped out waiting for staff. ``step_start`` (with
        ``work.detail``) is logged when the work first begins."""
        site, step, extra = work.site, work.step, work.extra
        remaining = total_h
        started = work.detail is None
        attended = work.hands_on_h if work.role is not None else 0.0
        while remaining > EPS:
            if not (yield from self.hold_until_running(work, place, started)):
                return False
            staff = None
            if attended > EPS:
                staff = yield from self._staff(work, place, attended)
                if staff is None:
                    return False
                if first_down(self.gates(site, place, extra)) is not None:
                    self.release(staff, step, site)
                    continue
            if not started:
                started = True
                self.log(site, step, "step_start", detail=work.detail or "")
                self.passed(site, step, "start")
            seg = attended if staff is not None else remaining
            ran = yield from self.advance(seg, self.gates(site, place, extra))
            remaining -= ran
            if staff is not None:
                attended -= ran
                self.release(staff, step, site)
            if self.p.done:
                return False
        if not started:  # a step of no duration
            self.log(site, step, "step_start", detail=work.detail or "")
            self.passed(site, step, "start")
        return True

    def work(self, work: Work, place: Held | None) -> Proc:
        """Run one step (``work`` as :meth:`Work.of` makes it) while holding ``place`` (if any):
        the role's staff for the hands-on hours, ``max(duration, hands_on_h)`` hours of progress
        in all. Returns False if the journey stops (drop-out while waiting for staff, batch lost
        or failed)."""
        assert work.duration_h is not None
        duration = self.w.draw(work.duration_h, streams.duration(work.step), self.p.pid)
        ok = yield from self.progress(work, max(duration, work.hands_on_h), place)
        if ok:
            self.log(work.site, work.step, "step_end", detail=work.detail or "")
            self.passed(work.site, work.step, "end")
        return ok

    def place_step(self, site: str, pool_name: str, step: str, spec: ClinicalStep) -> Proc:
        """A step that holds one unit of ``pool_name`` for its duration. False on drop-out."""
        work = Work.of(site, step, spec)
        held = yield from self.place(site, pool_name, step, first=work)
        if held is None:
            return False
        ok = yield from self.work(work, held)
        self.release(held, step, site)
        return ok and not self.p.dropped


def _withdraw(pool: UnitPool, req: Request) -> None:
    """Take back a request of a batch that has stopped: cancelled if still waiting, handed back if
    granted at the same instant, with the person taken with it (neither is logged: nothing follows
    an outcome)."""
    if req.triggered:
        if req.staff is not None and req.crew is not None:
            req.crew[0].release(req.staff)
        pool.release(req)
    else:
        pool.cancel(req)


def short_cause(cause: str) -> str:
    """A stop's cause for an outcome name: ``outage:LABEL`` -> ``LABEL``, ``broken`` ->
    ``breakdown``."""
    if cause == "broken":
        return "breakdown"
    return cause.split(":", 1)[1] if cause.startswith("outage:") else cause
