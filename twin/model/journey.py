"""One patient's journey, needle to needle, as a SimPy process.

Order (every arrow is a boundary where a patient who has dropped out leaves the journey)::

    referral (patient belongs to a hospital) -> apheresis (chair + role)
      -> freezing at the hospital (cryopreserved starting material only)
      -> courier to the manufacturing site (waits for the lane's pickup; may be delayed or lost;
         fresh material past its viability clock, or frozen material past the dry shipper's
         hold time, is lost) (chosen by the routing policy when the product
         ships; no courier when the hospital's own point-of-care cell makes it)
      -> receipt (chain of identity) -> recipe steps (device unit held for the step; consecutive steps on the same device
         type keep the unit) -> cryopreservation (freezer) -> LN2 storage position held
      -> QC panel (samples by courier to a central lab if the panel names one; tests in
         parallel, analyst hands-on at each test's start; the batch is rejected at the first
         failing result)
      -> QP release (on site or by a remote QP) -> storage released, courier back to the hospital -> infusion (slot + role)

A step holds its device unit for its whole duration and its role's staff only for the first
``hands_on_h`` hours; a step lasts ``max(duration, hands_on_h)``. A patient drops out at a time
drawn at referral (exponential with the scenario's hazard). Waiting in any queue ends at once on
drop-out; a step in progress finishes first, then the journey stops and lets go of what it holds.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from twin.model.facility import CHAIRS, SLOTS, World
from twin.model.pools import Pool
from twin.scenario import ClinicalStep

Proc = Generator[simpy.Event, Any, Any]


class Patient:
    """A patient and their batch (one id for both; chain of identity)."""

    __slots__ = ("done", "dropped", "dropped_ev", "hospital", "pid", "waiting")

    def __init__(self, pid: int, hospital: str, dropped_ev: simpy.Event) -> None:
        self.pid = pid
        self.hospital = hospital
        self.dropped = False
        self.dropped_ev = dropped_ev
        self.done = False
        self.waiting = True  # drop-out can happen until infusion starts


class Held:
    """A unit held by a patient: which pool, which request, which unit."""

    __slots__ = ("pool", "req", "unit")

    def __init__(self, pool: Pool, req: simpy.Event, unit: int) -> None:
        self.pool, self.req, self.unit = pool, req, unit


class Journey:
    """The journey process of one patient in ``world``."""

    def __init__(self, world: World, patient: Patient) -> None:
        self.w = world
        self.p = patient
        self.hospital = patient.hospital
        self.factory = ""  # the manufacturing site, chosen when the apheresis product ships

    # -- logging -------------------------------------------------------------------------
    def log(self, site: str, step: str, resource: str, unit: int, kind: str, detail: str = "") -> None:
        if self.w.closed:  # a suspended journey being garbage-collected after the horizon
            return
        self.w.log.add(self.w.env.now, self.p.pid, site, step, resource, unit, kind, detail)

    def finish(self, outcome: str, cause: str, site: str) -> None:
        """Record the patient's single final outcome."""
        if not self.p.done:
            self.p.done = True
            self.log(site, cause, "", -1, "outcome", outcome)

    # -- resources -----------------------------------------------------------------------
    def acquire(self, pool: Pool, step: str, renege: bool = True) -> Proc:
        """Wait for a unit of ``pool``; returns a :class:`Held`, or None if the patient
        dropped out while waiting (the request is withdrawn)."""
        site, name = pool.spec.site, pool.spec.name
        req = pool.request()
        self.log(site, step, name, -1, "queue")
        if renege:
            yield req | self.p.dropped_ev
            if not req.triggered:
                req.cancel()
                self.log(site, step, name, -1, "renege")
                return None
        else:
            yield req
        unit = pool.take()
        self.log(site, step, name, unit, "seize")
        return Held(pool, req, unit)

    def release(self, held: Held, step: str) -> None:
        """Let go of a held unit."""
        if self.w.closed:
            return
        held.pool.give_back(held.req, held.unit)
        self.log(held.pool.spec.site, step, held.pool.spec.name, held.unit, "release")

    def work(
        self,
        site: str,
        step: str,
        spec: ClinicalStep,
        place: Held | None,
        renege: bool = True,
        detail: str = "",
    ) -> Proc:
        """Run one step while holding ``place`` (if any): get the role's staff for the hands-on
        hours, and last ``max(duration, hands_on_h)`` hours. Returns False if the patient
        dropped out while waiting for staff (nothing is left held but ``place``)."""
        staff = None
        if spec.role is not None and spec.hands_on_h > 0:
            staff = yield from self.acquire(self.w.pool(site, spec.role), step, renege)
            if staff is None:
                return False
        duration = spec.duration_h.ppf(self.w.u(f"duration:{step}", self.p.pid))
        total = max(duration, spec.hands_on_h)
        self.log(site, step, "", -1, "step_start", detail)
        if staff is not None:
            yield self.w.env.timeout(spec.hands_on_h)
            self.release(staff, step)
            total -= spec.hands_on_h
        if total > 0:
            yield self.w.env.timeout(total)
        self.log(site, step, "", -1, "step_end", detail)
        return True

    def place_step(self, site: str, pool_name: str, step: str, spec: ClinicalStep) -> Proc:
        """A step that holds one unit of ``pool_name`` for its duration. False on drop-out."""
        held = yield from self.acquire(self.w.pool(site, pool_name), step)
        if held is None:
            return False
        ok = yield from self.work(site, step, spec, held)
        self.release(held, step)
        return ok and not self.p.dropped

    def transit(self, origin: str, destination: str, step: str, frozen: bool, losable: bool = True) -> Proc:
        """Courier shipment along the lane ``origin -> destination``: wait for the pickup, then
        transit (plus a delay, sometimes). Returns False when the batch is lost: the shipment
        is lost, or frozen material outlives the dry shipper's hold time."""
        w, pid = self.w, self.p.pid
        lane = w.sc.lane(origin, destination)
        name = f"{origin}->{destination}"
        wait = w.hours_to_pickup(lane, w.env.now)
        hours = lane.transit_h.ppf(w.u(f"transit:{name}", pid))
        if w.u(f"delay:{name}", pid) < lane.delay_probability:
            hours += lane.delay_h.ppf(w.u(f"delay_h:{name}", pid))
        lost = losable and w.u(f"loss:{name}", pid) < lane.loss_probability
        self.log(origin, step, name, -1, "step_start")
        hold = w.sc.shipper_hold_h
        if frozen and hold is not None and hours > hold:  # the shipper warms up on the way
            yield w.env.timeout(wait + hold)
            self.finish("lost", f"{step}:shipper_hold_exceeded", origin)
            return False
        yield w.env.timeout(wait + hours)
        if lost:
            self.finish("lost", f"{step}:shipment_lost", origin)
            return False
        self.log(destination, step, name, -1, "step_end")
        return True

    def qc_test(self, lab: str, test: Any, results: dict[str, bool], failed_ev: simpy.Event) -> Proc:
        """One QC test at ``lab``: analyst hands-on at the start, result after ``duration_h``; a
        failing result triggers ``failed_ev`` (the first one to fail names the cause)."""
        step = f"qc:{test.name}"
        yield from self.work(lab, step, self.w.qc_steps[test.name], None, renege=False)
        failed = self.w.u(step, self.p.pid) < test.fail_probability
        results[test.name] = not failed
        self.log(lab, step, "", -1, "qc_result", "fail" if failed else "pass")
        if failed and not failed_ev.triggered:
            failed_ev.succeed(step)

    # -- the journey ---------------------------------------------------------------------
    def run(self) -> Proc:
        """The whole journey; ends with exactly one outcome unless the horizon comes first.

        Each phase returns False when the journey stops (drop-out, loss, QC failure); between
        phases a patient who has dropped out leaves."""
        self.log(self.hospital, "referral", "", -1, "referral")
        for phase in (self.collect, self.manufacture, self.test_and_release, self.deliver):
            if not (yield from phase()) or self.p.dropped:
                return

    def collect(self) -> Proc:
        """Apheresis at the hospital, freezing if the starting material travels frozen, routing,
        the courier to the manufacturing site, and receipt there."""
        sc, h, w = self.w.sc, self.hospital, self.w
        if not (yield from self.place_step(h, CHAIRS, "apheresis", sc.apheresis)):
            return False
        material = sc.starting_material
        frozen = material.form == "cryopreserved"
        if frozen and not (yield from self.work(h, "freezing", material.freezing, None)):
            return False
        collected = w.env.now
        f = self.factory = w.route(h)
        if f != h and not (yield from self.transit(h, f, "ship_to_factory", frozen)):
            return False
        if self.p.dropped:
            return False
        if not frozen and material.viability_h is not None and w.env.now - collected > material.viability_h:
            self.finish("lost", "starting_material_expired", f)
            return False
        return (yield from self.work(f, "receipt", sc.receipt, None))

    def manufacture(self) -> Proc:
        """The recipe on the manufacturing site's devices, then cryopreservation."""
        sc, f = self.w.sc, self.factory
        held: Held | None = None
        held_by = ""  # the step that seized `held` (its release is logged under that step)
        try:
            for step in sc.recipe:
                if held is not None and step.device != held.pool.spec.name:
                    self.release(held, held_by)
                    held = None
                if step.device is not None and held is None:
                    held = yield from self.acquire(self.w.pool(f, step.device), step.name)
                    if held is None:
                        return False
                    held_by = step.name
                ok = yield from self.work(f, step.name, step, held, detail=step.processing)
                if not ok or self.p.dropped:
                    return False
        finally:
            if held is not None:
                self.release(held, held_by)
        cryo = sc.cryopreservation
        return (yield from self.place_step(f, cryo.device, "cryopreservation", cryo))

    def test_and_release(self) -> Proc:
        """LN2 storage while the QC panel runs (locally or at a central lab), then QP release."""
        sc, f, env = self.w.sc, self.factory, self.w.env
        storage = yield from self.acquire(self.w.pool(f, sc.storage.device), "storage")
        if storage is None:
            return False
        self.log(f, "storage", sc.storage.device, storage.unit, "step_start")
        try:
            self.log(f, "qc", "", -1, "step_start")
            results: dict[str, bool] = {}
            failed_ev = env.event()
            lab = sc.qc.lab or f
            if lab != f:  # samples travel to the central QC lab
                yield from self.transit(f, lab, "ship_samples", frozen=False, losable=False)
            tests = [env.process(self.qc_test(lab, t, results, failed_ev)) for t in sc.qc.tests]
            # The panel ends when every result is in, or at the first failing result: the batch
            # is rejected then (the lab still completes the other tests).
            yield env.all_of(tests) | failed_ev
            self.log(f, "qc", "", -1, "step_end")
            if self.p.dropped:
                return False
            if failed_ev.triggered:
                self.finish("failed", failed_ev.value, f)
                return False
            return (yield from self.work(sc.release.site or f, "release", sc.release, None))
        finally:
            self.log(f, "storage", sc.storage.device, storage.unit, "step_end")
            self.release(storage, "storage")

    def deliver(self) -> Proc:
        """The courier back to the hospital, then infusion."""
        sc, f, h = self.w.sc, self.factory, self.hospital
        if f != h and not (yield from self.transit(f, h, "ship_to_hospital", frozen=True)):
            return False
        if self.p.dropped:
            return False
        slot = yield from self.acquire(self.w.pool(h, SLOTS), "infusion")
        if slot is None:
            return False
        self.p.waiting = False  # infusion starts: the wait (and the drop-out hazard) is over
        yield from self.work(h, "infusion", sc.infusion, slot, renege=False)
        self.release(slot, "infusion")
        self.finish("infused", "infusion", h)
        return True


def _on_dropout(world: World, patient: Patient, site: str) -> Any:
    def callback(_event: simpy.Event) -> None:
        if patient.done or not patient.waiting:
            return
        patient.dropped = True
        patient.done = True
        world.log.add(world.env.now, patient.pid, site, "", "", -1, "dropout")
        world.log.add(world.env.now, patient.pid, site, "waiting", "", -1, "outcome", "dropped_out")

    return callback


def referral_process(world: World, times: np.ndarray) -> Proc:
    """Start each patient's journey at its referral time; schedule its drop-out."""
    env = world.env
    hazard = world.sc.dropout.hazard_per_day
    n = len(times)
    if hazard > 0:
        dropout_after = world.streams.get("dropout").exponential(24.0 / hazard, size=n)
    else:
        dropout_after = np.full(n, np.inf)
    horizon = world.sc.horizon_h
    for pid in range(n):
        wait = times[pid] - env.now
        if wait > 0:
            yield env.timeout(wait)
        hospital = world.hospital_of(pid)
        if env.now + dropout_after[pid] < horizon:
            ev = env.timeout(dropout_after[pid])
            patient = Patient(pid, hospital, ev)
            ev.callbacks.append(_on_dropout(world, patient, hospital))
        else:
            patient = Patient(pid, hospital, env.event())
        env.process(Journey(world, patient).run())
