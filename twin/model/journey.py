"""One patient's journey, needle to needle, as a SimPy process.

Order (every arrow is a boundary where a patient who has dropped out leaves the journey)::

    referral (patient belongs to a hospital) -> apheresis (chair + role)
      -> freezing at the hospital (cryopreserved starting material only)
      -> courier to the manufacturing site (along a route of several legs through hubs, with
         the hubs' steps, where the scenario declares one; each leg waits for its lane's pickup
         in the origin's local time; may be delayed or lost;
         fresh material past its viability clock, or frozen material past the dry shipper's
         hold time, is lost) (chosen by the routing policy when the product
         ships; no courier when the hospital's own point-of-care cell makes it)
      -> receipt (chain of identity) -> recipe steps (device unit held for the step; consecutive steps on the same device
         type keep the unit) -> cryopreservation (freezer) -> LN2 storage position held (a fresh
         final product skips cryopreservation and is held at 2-8 C against its shelf life)
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
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.core.units import HOURS_PER_DAY
from twin.core.vocab import CHAIRS, SLOTS
from twin.model import planning, streams
from twin.model.eventlog import LogRow
from twin.model.handling import Handling
from twin.model.patient import Patient
from twin.model.scheduler import remake_how
from twin.model.steps import Held, Work

if TYPE_CHECKING:
    from twin.model.world import World
    from twin.scenario.recipe import ReleaseStage, Step

Proc = Generator[simpy.Event, Any, Any]


class Journey(Handling):
    """The journey process of one patient: its phases, in order."""

    # -- the journey ---------------------------------------------------------------------
    def run(self, again: str = "") -> Proc:
        """The whole journey; ends with exactly one outcome unless the horizon comes first.

        Each phase returns False when the journey stops (drop-out, loss, QC failure); between
        phases a patient who has dropped out leaves. Under slot booking the patient first waits
        for the booked apheresis (:mod:`twin.model.scheduler`). ``again``: a re-manufacture
        (``new_apheresis``: the journey again from the booking; ``backup_aliquot``: from the
        recipe, on the aliquot kept at the manufacturing site)."""
        if not again:
            self.log(self.hospital, "referral", "referral")
        self.p.fail_ev = self.w.env.event()
        sched = self.w.scheduler
        aliquot = again == "backup_aliquot"
        try:
            if sched is not None and not (yield from sched.wait_for_apheresis(self, aliquot)):
                return
            phases = (self.manufacture, self.test_and_release, self.deliver)
            for phase in phases if aliquot else (self.collect, *phases):
                ok = yield from phase()
                if self.p.fail_cause and not self.p.done:
                    self.finish("failed", self.p.fail_cause, self.factory or self.hospital)
                if not ok or self.p.dropped or self.p.done:
                    return
                if phase == self.collect and sched is not None:
                    sched.arrived(self)
        finally:
            if sched is not None:
                sched.cancel(self.p, self.factory)

    def finish(self, outcome: str, cause: str, site: str) -> None:
        """The patient's outcome; a failed or lost batch that :mod:`twin.model.scheduler` says is
        made again logs ``remanufacture`` instead and starts the next attempt (one ``outcome``
        row per patient in all); an out-of-spec product infused by exception is
        ``infused_out_of_spec``."""
        p = self.p
        if outcome == "infused" and p.out_of_spec:
            outcome = "infused_out_of_spec"
        how = remake_how(self) if outcome in ("failed", "lost") and not p.done and not p.dropped else ""
        if not how:
            super().finish(outcome, cause, site)
            return
        self.log(site, cause, "remanufacture", detail=how)
        nxt = Patient(p.pid, p.hospital, p.dropped_ev, self.w.env.event())
        nxt.attempt, nxt.aliquot = p.attempt + 1, p.aliquot
        p.next = nxt
        self.stop_attempt()
        j = Journey(self.w, nxt)
        j.factory = self.factory if how == "backup_aliquot" else ""
        self.w.env.process(j.run(how))

    def collect(self) -> Proc:
        """Apheresis at the hospital, freezing if the starting material travels frozen, routing,
        the courier to the manufacturing site, and receipt there."""
        sc, h, w = self.w.sc, self.hospital, self.w
        if not (yield from self.place_step(h, CHAIRS, "apheresis", sc.apheresis)):
            return False
        bio = sc.biology
        if bio is not None and w.u(streams.BIO_INTRINSIC, self.p.pid) < bio.intrinsic_contamination_probability:
            self.p.contam_cfu += bio.intrinsic_inoculum_cfu
            self.log(h, "apheresis", "damage", detail="contamination")
        material = sc.starting_material
        frozen = material.form == "cryopreserved"
        if frozen and not (yield from self.work(Work.of(h, "freezing", material.freezing), None)):
            return False
        f = self.factory = self.factory or w.route(h)
        if f != h and not (yield from self.transit(h, f, "ship_to_factory", frozen)):
            return False
        if self.p.dropped:
            return False
        return (yield from self.work(Work.of(f, "receipt", sc.receipt, extra=("it",)), None))

    def manufacture(self) -> Proc:
        """The recipe on the manufacturing site's devices, then cryopreservation."""
        sc, f = self.w.sc, self.factory
        held: Held | None = None
        held_by = ""  # the step that seized `held` (its release is logged under that step)
        try:
            for step in sc.recipe:
                if held is not None and step.device != held.unit.name:
                    self._let_go(held, held_by)
                    held = None
                if step.device is not None and held is None:
                    held = yield from self.place(f, step.device, step.name, first=self._first_work(step))
                    if held is None:
                        return False
                    held_by = step.name
                    if step.device == self.w.first_device and f in self.w.runs:
                        self.w.runs[f][self.p.pid] = self.w.env.now  # a run on the first device
                        if self.w.scheduler is not None:
                            self.w.scheduler.started(self.p.pid, f)
                if not (yield from self._recipe_step(step, held)):
                    return False
        finally:
            if held is not None:
                self._let_go(held, held_by)
        if sc.final_product.form == "fresh":  # kept at 2-8 C, not frozen: on to storage and QC
            return True
        cryo = sc.cryopreservation
        return (yield from self.place_step(f, cryo.device, "cryopreservation", cryo))

    def _first_work(self, step: Step) -> Work:
        """The work that starts on a unit a recipe step takes: its transfer, else the step."""
        f = self.factory
        if step.transfer is not None:
            conn = self.w.sc.connections[step.transfer]
            return Work(f, f"transfer:{step.name}", step.role, conn.hands_on_h, skill=step.name,
                        limit_h=step.staff_wait_limit_h)
        return Work.of(f, step.name, step, limit_h=step.staff_wait_limit_h)

    def _recipe_step(self, step: Step, held: Held | None) -> Proc:
        """One recipe step on the held unit: its transfer, then the culture or the work. False
        when the journey stops."""
        f = self.factory
        if step.transfer is not None and not (yield from self.transfer(f, step, held)):
            return False
        extra = ("grade",) if step.processing == "open" else ()
        if step.end_point is not None:
            ok = yield from self.culture(f, step, held, extra)
            if ok and step.harvest is not None:
                ok = yield from self._planned_harvest(step)
        else:
            work = Work.of(f, step.name, step, detail=step.processing, extra=extra, limit_h=step.staff_wait_limit_h)
            ok = yield from self.work(work, held)
        return ok and not self.p.dropped

    def _planned_harvest(self, step: Step) -> Proc:
        """The culture of ``step`` has reached its end (target or the window's latest hour): the
        cells stay in the device, and in the kernel, until the planned harvest moment (see
        :func:`twin.model.planning.harvest_at`). False when the journey stops meanwhile."""
        w, p, env = self.w, self.p, self.w.env
        assert p.culture is not None
        index = next(i for i, st in enumerate(w.sc.recipe) if st is step)
        at = planning.harvest_at(w, self.factory, index, p.culture[2].started_at)
        if at > env.now:
            waits = [env.timeout(at - env.now), p.stop_ev] + ([p.fail_ev] if p.fail_ev is not None else [])
            yield simpy.AnyOf(env, waits)
        return not (p.done or p.fail_cause)

    def _let_go(self, held: Held, held_by: str) -> None:
        """The batch leaves the device unit it holds (a finished culture's cells with it)."""
        if self.p.culture is not None and not self.p.done:  # the cells leave the device they grew in
            self.end_culture()
        if self.w.runs.get(self.factory, {}).pop(self.p.pid, None) is not None and self.w.scheduler is not None:
            self.w.scheduler.cancel(self.p, self.factory)  # the run is over: its booked places free
        self.release(held, held_by, self.factory)

    def test_and_release(self) -> Proc:
        """LN2 storage while the QC panel runs (locally or at a central lab), then QP release
        (it needs the IT/MES system up)."""
        sc, f, env = self.w.sc, self.factory, self.w.env
        storage = yield from self.place(f, sc.storage.device, "storage")
        if storage is None:
            return False
        self.log_unit(f, "storage", "step_start", storage.unit)
        self.passed(f, "storage", "start")
        leaving = env.event()
        failed_ev = env.event()
        env.process(self.watch_storage(f, storage, leaving, failed_ev))
        try:
            if not (yield from self._qc_panel(failed_ev)):
                return False
            for name, stage in sc.release.stage_list():
                if not (yield from self._release_stage(name, stage)):
                    return False
            return True
        finally:
            leaving.succeed()
            self.log_unit(f, "storage", "step_end", storage.unit)  # the position is freed (also at an outcome)
            if not self.p.done:
                self.passed(f, "storage", "end")
            self.release(storage, "storage", f)

    def _release_stage(self, name: str, stage: ReleaseStage) -> Proc:
        """One release stage (``release``, or ``release:NAME`` of a staged release) at its site
        (default the manufacturing site), needing that site's IT up and, with working hours,
        progressing only in them (so it ends in them)."""
        site = stage.site or self.factory
        extra: tuple[str, ...] = ("it",)
        if stage.working_hours is not None:
            extra += (planning.hours_gate(self.w, site, stage.working_hours),)
        return (yield from self.work(Work.of(site, name, stage, extra=extra), None))

    def _qc_panel(self, failed_ev: simpy.Event) -> Proc:
        """The QC panel while the batch is in storage (samples by courier to a central lab if
        the panel names one; tests in parallel). It ends when every result is in (True), at the
        first failing result or an earlier in-process failure (the batch is rejected), or when the
        batch is lost in storage (``failed_ev``), drops out or stops (False)."""
        sc, f, env = self.w.sc, self.factory, self.w.env
        self.log(f, "qc", "step_start")
        self.passed(f, "qc", "start")
        results: dict[str, bool] = {}
        lab = sc.qc.lab or f
        if lab != f:  # samples travel to the central QC lab
            yield from self.transit(f, lab, "ship_samples", frozen=False, losable=False)
        at_risk = set(sc.release.at_risk_tests)
        tests = [env.process(self.qc_test(lab, t, results, failed_ev)) for t in sc.qc.tests if t.name not in at_risk]
        late_tests = [env.process(self.qc_test(lab, t, results, failed_ev)) for t in sc.qc.tests if t.name in at_risk]
        if self.p.fail_ev is not None:
            def late(ev: simpy.Event) -> None:
                if not failed_ev.triggered:
                    failed_ev.succeed(("failed", ev.value))
            if self.p.fail_ev.triggered:
                late(self.p.fail_ev)
            else:
                self.p.fail_ev.callbacks.append(late)
        yield env.all_of(tests) | failed_ev | self.p.stop_ev
        if self.p.done:
            return False
        pending = [t for t in late_tests if not t.triggered]
        self.log(f, "qc", "step_end", detail="at_risk" if pending else "")
        self.passed(f, "qc", "end")
        if self.p.dropped:
            return False
        if failed_ev.triggered:
            outcome, cause = failed_ev.value
            self.finish(outcome, cause, f)
            return False
        if pending:  # released at risk: a later failing result stops the batch wherever it is
            failed_ev.callbacks.append(self._late_result(lab))
        return True

    def _late_result(self, lab: str) -> Any:
        """What a failing result of a test released at risk does: the batch fails (and its
        infusion is stopped) unless its infusion (or the thaw for it) has begun."""
        def callback(ev: simpy.Event) -> None:
            if self.p.waiting:
                self.finish(ev.value[0], ev.value[1], lab)
        return callback

    def deliver(self) -> Proc:
        """The courier back to the hospital, then infusion (planned, with lymphodepletion and a
        thaw, under ``infusion_scheduling``)."""
        sc, f, h = self.w.sc, self.factory, self.hospital
        if sc.infusion_scheduling is not None:
            return (yield from self._scheduled_delivery())
        frozen = sc.final_product.form == "cryopreserved"  # a fresh product ships cold, in no dry shipper
        if f != h and not (yield from self.transit(f, h, "ship_to_hospital", frozen=frozen)):
            return False
        if self.p.dropped:
            return False
        slot = yield from self.place(h, SLOTS, "infusion")
        if slot is None:
            return False
        self.p.waiting = False  # infusion starts: the wait (and the drop-out hazard) is over
        yield from self.work(Work.of(h, "infusion", sc.infusion, renege=False), slot)
        self.release(slot, "infusion", h)
        self.finish("infused", "infusion", h)
        return True

    # -- planned infusion (infusion_scheduling) ---------------------------------------------
    def _scheduled_delivery(self) -> Proc:
        """Book the infusion day (logged ``infusion_booked``, value the planned start hour) on the
        product's expected arrival, give lymphodepletion on its days while the product travels,
        then thaw and infuse in clinic hours."""
        w, sc, f, h, env = self.w, self.w.sc, self.factory, self.hospital, self.w.env
        plan_cfg = sc.infusion_scheduling
        assert plan_cfg is not None
        arrive = planning.expected_arrival_h(w, f, h) + plan_cfg.arrive_before_h
        plan = planning.plan_infusion(w, h, arrive, env.now)
        if plan is None:
            self.finish("failed", "infusion:no_clinic_day", h)
            return False
        self.log(h, "infusion", "infusion_booked", detail=f"lymphodepletion_from_h={plan.sessions[0]:.2f}",
                 value=plan.infusion_h)
        ld = env.process(self._lymphodepletion(plan.sessions))
        frozen = sc.final_product.form == "cryopreserved"  # a fresh product ships cold, in no dry shipper
        if f != h and not (yield from self.transit(f, h, "ship_to_hospital", frozen=frozen)):
            return False
        if self.p.dropped:
            return False
        arrived = env.now
        if not ld.triggered:
            yield ld | self.p.stop_ev
        if self.p.done or not ld.value:
            return False
        return (yield from self._infuse(plan.infusion_h, "lymphodepletion_late" if arrived <= plan.infusion_h
                                        else "late_arrival"))

    def _lymphodepletion(self, sessions: tuple[float, ...]) -> Proc:
        """One lymphodepletion session (an infusion slot and the step's role) at each planned
        start; False when the journey stops."""
        env, p = self.w.env, self.p
        plan_cfg = self.w.sc.infusion_scheduling
        assert plan_cfg is not None
        for t in sessions:
            if t > env.now:
                yield env.timeout(t - env.now) | p.stop_ev
            if p.done or p.dropped:
                return False
            if not (yield from self.place_step(self.hospital, SLOTS, "lymphodepletion", plan_cfg.lymphodepletion)):
                return False
        return True

    def _infuse(self, booked_h: float, late: str) -> Proc:
        """Thaw and infusion in one infusion slot taken in clinic hours (see :meth:`_clinic_slot`).
        The thawed product waits for a clinic hour and its nurse; past the thaw limit the dose is
        lost (the hold ``thaw_to_infusion``: thawed cells cannot be refrozen). ``late``: the cause
        logged if the booked hour has passed (``late_arrival``, ``lymphodepletion_late``)."""
        w, sc, h, env, p = self.w, self.w.sc, self.hospital, self.w.env, self.p
        plan_cfg = sc.infusion_scheduling
        assert plan_cfg is not None
        thaw = plan_cfg.thaw
        infusion = Work.of(h, "infusion", sc.infusion, renege=False)
        thaw_work = Work.of(h, "thaw", thaw, renege=False) if thaw is not None else None
        first = thaw_work if thaw_work is not None and thaw_work.role is not None else infusion
        slot = yield from self._clinic_slot((booked_h, late), first, planning.infusion_need_h(w))
        if slot is None:
            return False
        p.waiting = False  # the product is thawed at the bedside: the wait (and the drop-out hazard) is over
        ok = thaw_work is None or (yield from self.work(thaw_work, slot))
        clinic = planning.clinic_intervals(w, h)
        if ok and not planning.is_open(clinic, env.now):  # the thawed dose waits for the clinic (and may expire)
            opens = planning.next_open(clinic, env.now)
            yield env.timeout((opens if opens is not None else sc.horizon_h + 1) - env.now) | p.stop_ev
            ok = not p.done
        ok = ok and (yield from self.work(infusion, slot))
        if p.done:  # the dose was lost: the slot goes back unlogged (nothing follows an outcome)
            slot.pool.release(slot.req)
            return False
        self.release(slot, "infusion", h)
        if ok:
            self.finish("infused", "infusion", h)
        return ok

    def _clinic_slot(self, booked: tuple[float, str], first: Work, need_h: float) -> Proc:
        """An infusion slot (with the person ``first`` needs) taken at the booked hour in clinic
        hours with ``need_h`` of them left, or at the next clinic opening when the product or
        lymphodepletion came late or the clinic closed while the slot was awaited (logged
        ``infusion_rebooked``: value the new hour, detail the cause). ``booked``: (the booked hour,
        the cause if it has passed). None when the journey stops."""
        w, h, env, p = self.w, self.hospital, self.w.env, self.p
        clinic = planning.clinic_intervals(w, h)
        booked_h, cause = booked
        t: float | None = booked_h
        while True:
            if env.now > booked_h + planning.EPS or planning.next_open(clinic, t or 0.0, need_h) != t:
                t = planning.next_open(clinic, env.now, need_h)
                if t is None:
                    self.finish("failed", "infusion:no_clinic_day", h)
                    return None
                self.log(h, "infusion", "infusion_rebooked", detail=cause, value=t)
            booked_h = t
            if t > env.now:
                yield env.timeout(t - env.now) | p.stop_ev
            if p.done:
                return None
            slot = yield from self.place(h, SLOTS, "infusion", first=first)
            if slot is None or planning.next_open(clinic, env.now, need_h) == env.now:
                return slot
            if slot.staff is not None:  # the clinic closed while the slot was awaited: hand both back
                w.desk[h].release(slot.staff)
                slot.staff = None
            self.release(slot, "infusion", h)
            cause = "clinic_closed"


def _on_dropout(world: World, patient: Patient, site: str) -> Any:
    """The drop-out: the patient leaves; with ``dropout.batch: end`` (the default) the batch is
    ended at once (whatever it holds is let go), with ``finish_step`` a step in progress ends first."""
    end_now = world.sc.dropout.batch == "end"

    def callback(_event: simpy.Event) -> None:
        nonlocal patient
        while patient.next is not None:  # the attempt going on now (after re-manufactures)
            patient = patient.next
        if patient.done or not patient.waiting:
            return
        patient.dropped = True
        patient.done = True
        patient.holds = []
        if patient.culture is not None:
            world.ticker.remove(patient.culture[2])
            patient.culture = None
        world.log.add(LogRow(world.env.now, site, "dropout", patient=patient.pid))
        world.log.add(LogRow(world.env.now, site, "outcome", patient=patient.pid, step="waiting", detail="dropped_out"))
        if end_now and not patient.stop_ev.triggered:
            patient.stop_ev.succeed()

    return callback


def referral_process(world: World, times: np.ndarray) -> Proc:
    """Start each patient's journey at its referral time; schedule its drop-out."""
    env = world.env
    hazard = world.sc.dropout.hazard_per_day
    n = len(times)
    if hazard > 0:
        dropout_after = world.streams.get(streams.DROPOUT).exponential(HOURS_PER_DAY / hazard, size=n)
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
            patient = Patient(pid, hospital, ev, env.event())
            ev.callbacks.append(_on_dropout(world, patient, hospital))
        else:
            patient = Patient(pid, hospital, env.event(), env.event())
        env.process(Journey(world, patient).run())
