"""Step mechanics of a journey: seizing and releasing units, waiting for what a step needs
(device running, utilities, grade, IT), pausing, aborting or rescuing when it goes down, staff
for the hands-on hours, and the event log rows all of that writes.

A step holds its device unit for its whole duration and its role's staff only for the first
``hands_on_h`` hours; a step lasts ``max(duration, hands_on_h)``. Waiting in any queue ends at
once on drop-out; a step in progress finishes first.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.model import streams
from twin.model.conditions import Condition, first_down, forget
from twin.model.pools import Request, Unit, UnitPool

if TYPE_CHECKING:
    from twin.model.patient import Patient
    from twin.model.world import World
    from twin.scenario.recipe import ClinicalStep

Proc = Generator[simpy.Event, Any, Any]

EPS = 1e-9
"""Hours below which two times are the same instant (float round-off)."""
NAN = float("nan")


class Held:
    """A unit held by a patient: which pool, which request, which unit."""

    __slots__ = ("pool", "req", "unit")

    def __init__(self, pool: UnitPool, req: Request, unit: Unit) -> None:
        self.pool, self.req, self.unit = pool, req, unit


class StepRunner:
    """The mechanics every step of one patient's journey in ``world`` uses."""

    def __init__(self, world: World, patient: Patient) -> None:
        self.w = world
        self.p = patient
        self.hospital = patient.hospital
        self.factory = ""  # the manufacturing site, chosen when the apheresis product ships

    # -- logging -------------------------------------------------------------------------
    def log(self, site: str, step: str, kind: str, *, resource: str = "", unit: int = -1, detail: str = "",
            value: float = NAN) -> None:
        """One event of this patient now (columns: :mod:`twin.model.eventlog`)."""
        w = self.w
        if w.closed:  # a suspended journey being garbage-collected after the horizon
            return
        w.rows.append((w.env.now, self.p.pid, site, step, resource, unit, kind, detail, value))

    def finish(self, outcome: str, cause: str, site: str) -> None:
        """Record the patient's single final outcome."""
        if not self.p.done:
            self.p.done = True
            self.log(site, cause, "outcome", detail=outcome)

    # -- resources -----------------------------------------------------------------------
    def acquire(
        self, pool: UnitPool, site: str, step: str, name: str, renege: bool = True, skill: str | None = None,
        need_h: float = 0.0, limit_h: float | None = None,
    ) -> Proc:
        """Wait for a unit of ``pool`` (``name``: the pool or role, for the log; ``skill`` and
        ``need_h``: for people, the step they must be qualified for and the hours the shift must
        still cover). Returns a :class:`Held`, or None when the patient dropped out while waiting
        (the request is withdrawn) or no one came within ``limit_h`` (the batch fails)."""
        env = self.w.env
        if env.peek() > env.now:
            # Nothing else is due at this instant, so a request the pool grants at once needs no
            # trip through the event queue: the order of same-time events stays SimPy's exactly.
            now = pool.take_now(skill, need_h)
            if now is not None:
                self.log(site, step, "queue", resource=name)
                self.log(site, step, "seize", resource=now.unit.name, unit=now.unit.index)
                return Held(pool, now, now.unit)
        req = pool.request(skill, need_h)
        self.log(site, step, "queue", resource=name)
        waits: list[simpy.Event] = [req]
        if renege:
            waits.append(self.p.dropped_ev)
        if limit_h is not None:
            waits.append(env.timeout(limit_h))
        if len(waits) > 1:
            yield simpy.AnyOf(env, waits)
        else:
            yield req
        if not req.triggered:
            pool.cancel(req)
            self.log(site, step, "renege", resource=name)
            if not self.p.dropped:
                self.finish("failed", f"{step}:no_qualified_staff", site)
            return None
        unit = req.unit
        assert unit is not None
        self.log(site, step, "seize", resource=unit.name, unit=unit.index)
        return Held(pool, req, unit)

    def release(self, held: Held, step: str, site: str) -> None:
        """Let go of a held unit."""
        if self.w.closed:
            return
        held.pool.release(held.req)
        self.log(site, step, "release", resource=held.unit.name, unit=held.unit.index)

    def place(self, site: str, pool_name: str, step: str) -> Proc:
        """Wait for a unit of the place or device pool ``pool_name`` at ``site``."""
        return (yield from self.acquire(self.w.pool(site, pool_name), site, step, pool_name))

    # -- running a step ------------------------------------------------------------------
    def gates(self, site: str, place: Held | None, extra: tuple[str, ...] = ()) -> list[Condition]:
        """What must be up for the step to progress: the held device unit running (not broken,
        no device outage), the site utilities it cannot run without, and ``extra`` site
        conditions (``grade`` for open work, ``it`` for batch records)."""
        out: list[Condition] = []
        if place is not None and place.unit.running is not None:
            out.append(place.unit.running)
            out += self.w.device_gates[(site, place.unit.name)]
        out += [self.w.cond[(site, x)] for x in extra]
        return out

    def stop_policy(self, site: str, down: Condition, place: Held | None) -> str:
        """What a stop of ``down`` does to this batch: pause, abort or rescue."""
        if down is self.w.cond[(site, "grade")]:
            return "abort"  # product exposed in a room out of grade
        if place is None or place.unit.running is None:
            return "pause"
        dtype = self.w.loaded.device_types[(site, place.unit.name)]
        if down is place.unit.running and "broken" in down.reasons and dtype.failure is not None:
            return dtype.failure.on_failure
        return dtype.on_stop

    def hold_until_running(self, site: str, step: str, place: Held | None, extra: tuple[str, ...],
                           started: bool = True) -> Proc:
        """If something the step needs is down: stop (pause), lose the batch (abort), or after
        the rescue delay move it to another unit (rescue); a step not yet started just waits.
        Returns False if the batch is lost."""
        env = self.w.env
        gates = self.gates(site, place, extra)
        down = first_down(gates)
        if down is None:
            return True
        cause = down.cause()
        policy = self.stop_policy(site, down, place) if started else "pause"
        if policy == "abort":
            self.finish("lost", f"{step}:{short_cause(cause)}", site)
            return False
        self.log(site, step, "pause", detail=cause)
        t0 = env.now
        dtype = self.w.loaded.device_types.get((site, place.unit.name)) if place is not None else None
        tolerance = dtype.stop_tolerance_h if dtype is not None else None
        while down is not None:
            waits: list[simpy.Event] = [down.when_up()]
            if tolerance is not None:
                waits.append(env.timeout(max(t0 + tolerance - env.now, 0.0)))
            rescue_at = None
            if policy == "rescue" and place is not None and down is place.unit.running and dtype and dtype.failure:
                rescue_at = t0 + dtype.failure.rescue_delay_h
                waits.append(env.timeout(max(rescue_at - env.now, 0.0)))
            yield simpy.AnyOf(env, waits)
            gates = self.gates(site, place, extra)
            down = first_down(gates)
            if down is None:
                break
            if tolerance is not None and env.now >= t0 + tolerance - EPS:
                self.finish("lost", f"{step}:stopped_{short_cause(cause)}", site)
                return False
            if rescue_at is not None and env.now >= rescue_at - EPS and down is place.unit.running:
                ok = yield from self.rescue(site, step, place)
                if not ok:
                    return False
                policy = "pause"
                gates = self.gates(site, place, extra)
                down = first_down(gates)
        self.log(site, step, "resume", detail=cause)
        return True

    def rescue(self, site: str, step: str, place: Held) -> Proc:
        """Move the batch from its broken unit to another unit of the same pool (waiting for one)."""
        pool, old = place.pool, place.unit
        req = pool.request()
        self.log(site, step, "queue", resource=old.name, detail="rescue")
        yield req
        self.release(Held(pool, place.req, old), step, site)
        place.req, place.unit = req, req.unit
        self.log(site, step, "seize", resource=place.unit.name, unit=place.unit.index, detail="rescue")
        return True

    def advance(self, hours: float, gates: list[Condition]) -> Proc:
        """Run for ``hours`` or until a gate goes down; returns the hours run."""
        env = self.w.env
        t0 = env.now
        timer = env.timeout(hours)
        if gates:
            downs = [g.when_down() for g in gates]
            yield simpy.AnyOf(env, [timer, *downs])
            forget(gates, downs)
        else:
            yield timer
        return hours if timer.processed or env.now - t0 >= hours - EPS else env.now - t0

    def progress(
        self, site: str, step: str, total_h: float, hands_on_h: float, role: str | None, place: Held | None,
        extra: tuple[str, ...] = (), renege: bool = True, skill: str | None = None, limit_h: float | None = None,
        start_detail: str | None = None,
    ) -> Proc:
        """Progress ``total_h`` hours of work, the first ``hands_on_h`` of them with a qualified
        person of ``role`` on shift (``skill``: the step they must be qualified for, default
        ``step``), only while every gate is up (see :meth:`gates`). A stop releases the person;
        the rest of the hands-on time is done by whoever is free after it. Returns False when
        the batch is lost, fails, or the patient dropped out waiting for staff. ``step_start``
        (with ``start_detail``) is logged when the work first begins."""
        remaining = total_h
        started = start_detail is None
        attended = hands_on_h if role is not None else 0.0
        while remaining > EPS:
            if not (yield from self.hold_until_running(site, step, place, extra, started)):
                return False
            staff = None
            if attended > EPS:
                staff = yield from self.acquire(self.w.desk[site], site, step, role or "", renege,
                                                skill or step, attended, limit_h)
                if staff is None:
                    return False
                if first_down(self.gates(site, place, extra)) is not None:
                    self.release(staff, step, site)
                    continue
            if not started:
                started = True
                self.log(site, step, "step_start", detail=start_detail or "")
            seg = attended if staff is not None else remaining
            ran = yield from self.advance(seg, self.gates(site, place, extra))
            remaining -= ran
            if staff is not None:
                attended -= ran
                self.release(staff, step, site)
        if not started:  # a step of no duration
            self.log(site, step, "step_start", detail=start_detail or "")
        return True

    def work(
        self,
        site: str,
        step: str,
        spec: ClinicalStep,
        place: Held | None,
        renege: bool = True,
        detail: str = "",
        extra: tuple[str, ...] = (),
        limit_h: float | None = None,
    ) -> Proc:
        """Run one step while holding ``place`` (if any): the role's staff for the hands-on
        hours, ``max(duration, hands_on_h)`` hours of progress in all. Returns False if the
        journey stops (drop-out while waiting for staff, batch lost or failed)."""
        duration = self.w.draw(spec.duration_h, streams.duration(step), self.p.pid)
        ok = yield from self.progress(site, step, max(duration, spec.hands_on_h), spec.hands_on_h, spec.role, place,
                                      extra, renege, limit_h=limit_h, start_detail=detail)
        if ok:
            self.log(site, step, "step_end", detail=detail)
        return ok

    def place_step(self, site: str, pool_name: str, step: str, spec: ClinicalStep) -> Proc:
        """A step that holds one unit of ``pool_name`` for its duration. False on drop-out."""
        held = yield from self.place(site, pool_name, step)
        if held is None:
            return False
        ok = yield from self.work(site, step, spec, held)
        self.release(held, step, site)
        return ok and not self.p.dropped


def short_cause(cause: str) -> str:
    """A stop's cause for an outcome name: ``outage:LABEL`` -> ``LABEL``, ``broken`` ->
    ``breakdown``."""
    if cause == "broken":
        return "breakdown"
    return cause.split(":", 1)[1] if cause.startswith("outage:") else cause
