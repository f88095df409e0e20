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

from twin.culture import detection_probability
from twin.model.conditions import Condition, first_down, forget
from twin.model.facility import World
from twin.model.pools import Request, Unit, UnitPool
from twin.scenario import ClinicalStep, Step
from twin.vocab import CHAIRS, SLOTS

Proc = Generator[simpy.Event, Any, Any]


EPS = 1e-9


class Patient:
    """A patient and their batch (one id for both; chain of identity).

    ``contam_cfu``: contaminants in the batch (colony-forming units; 0 = sterile).
    ``cells``: fraction of the batch's cells kept through connections and leaks since the last
    culture ended (or since collection): 1 = none lost.
    ``viable``, ``viability``: viable cells and viability at the end of the last culture (None
    before any). ``fail_ev`` / ``fail_cause``: a failure found while the batch moves on (an
    in-process check's positive result).
    """

    __slots__ = ("cells", "contam_cfu", "done", "dropped", "dropped_ev", "fail_cause", "fail_ev", "hospital", "pid",
                 "viability", "viable", "waiting")

    def __init__(self, pid: int, hospital: str, dropped_ev: simpy.Event) -> None:
        self.pid = pid
        self.hospital = hospital
        self.dropped = False
        self.dropped_ev = dropped_ev
        self.done = False
        self.waiting = True  # drop-out can happen until infusion starts
        self.contam_cfu = 0.0
        self.cells = 1.0
        self.viable: float | None = None
        self.viability: float | None = None
        self.fail_ev: simpy.Event | None = None
        self.fail_cause = ""


class Held:
    """A unit held by a patient: which pool, which request, which unit."""

    __slots__ = ("pool", "req", "unit")

    def __init__(self, pool: UnitPool, req: Request, unit: Unit) -> None:
        self.pool, self.req, self.unit = pool, req, unit


class Journey:
    """The journey process of one patient in ``world``."""

    def __init__(self, world: World, patient: Patient) -> None:
        self.w = world
        self.p = patient
        self.hospital = patient.hospital
        self.factory = ""  # the manufacturing site, chosen when the apheresis product ships

    # -- logging -------------------------------------------------------------------------
    def log(self, site: str, step: str, resource: str, unit: int, kind: str, detail: str = "",
            value: float = float("nan")) -> None:
        w = self.w
        if w.closed:  # a suspended journey being garbage-collected after the horizon
            return
        w.rows.append((w.env._now, self.p.pid, site, step, resource, unit, kind, detail, value))

    def finish(self, outcome: str, cause: str, site: str) -> None:
        """Record the patient's single final outcome."""
        if not self.p.done:
            self.p.done = True
            self.log(site, cause, "", -1, "outcome", outcome)

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
                self.log(site, step, name, -1, "queue")
                self.log(site, step, now.unit.name, now.unit.index, "seize")
                return Held(pool, now, now.unit)
        req = pool.request(skill, need_h)
        self.log(site, step, name, -1, "queue")
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
            self.log(site, step, name, -1, "renege")
            if not self.p.dropped:
                self.finish("failed", f"{step}:no_qualified_staff", site)
            return None
        unit = req.unit
        assert unit is not None
        self.log(site, step, unit.name, unit.index, "seize")
        return Held(pool, req, unit)

    def release(self, held: Held, step: str, site: str) -> None:
        """Let go of a held unit."""
        if self.w.closed:
            return
        held.pool.release(held.req)
        self.log(site, step, held.unit.name, held.unit.index, "release")

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
            self.finish("lost", f"{step}:{_short(cause)}", site)
            return False
        self.log(site, step, "", -1, "pause", cause)
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
                self.finish("lost", f"{step}:stopped_{_short(cause)}", site)
                return False
            if rescue_at is not None and env.now >= rescue_at - EPS and down is place.unit.running:
                ok = yield from self.rescue(site, step, place)
                if not ok:
                    return False
                policy = "pause"
                gates = self.gates(site, place, extra)
                down = first_down(gates)
        self.log(site, step, "", -1, "resume", cause)
        return True

    def rescue(self, site: str, step: str, place: Held) -> Proc:
        """Move the batch from its broken unit to another unit of the same pool (waiting for one)."""
        pool, old = place.pool, place.unit
        req = pool.request()
        self.log(site, step, old.name, -1, "queue", "rescue")
        yield req
        self.release(Held(pool, place.req, old), step, site)
        place.req, place.unit = req, req.unit
        self.log(site, step, place.unit.name, place.unit.index, "seize", "rescue")
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
                self.log(site, step, "", -1, "step_start", start_detail or "")
            seg = attended if staff is not None else remaining
            ran = yield from self.advance(seg, self.gates(site, place, extra))
            remaining -= ran
            if staff is not None:
                attended -= ran
                self.release(staff, step, site)
        if not started:  # a step of no duration
            self.log(site, step, "", -1, "step_start", start_detail or "")
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
        duration = self.w.draw(spec.duration_h, f"duration:{step}", self.p.pid)
        ok = yield from self.progress(site, step, max(duration, spec.hands_on_h), spec.hands_on_h, spec.role, place,
                                      extra, renege, limit_h=limit_h, start_detail=detail)
        if ok:
            self.log(site, step, "", -1, "step_end", detail)
        return ok

    def place_step(self, site: str, pool_name: str, step: str, spec: ClinicalStep) -> Proc:
        """A step that holds one unit of ``pool_name`` for its duration. False on drop-out."""
        held = yield from self.place(site, pool_name, step)
        if held is None:
            return False
        ok = yield from self.work(site, step, spec, held)
        self.release(held, step, site)
        return ok and not self.p.dropped

    def transfer(self, site: str, step: Step, held: Held | None) -> Proc:
        """Bring the material into ``step`` through its connection: the connection's time and
        hands-on (the step's role), an open transfer in a cabinet with the room in grade; then
        contamination, a leak and cell loss as the connection type says."""
        assert step.transfer is not None
        w, pid = self.w, self.p.pid
        conn = w.sc.connections[step.transfer]
        name = f"transfer:{step.name}"
        cabinet = None
        if conn.device is not None and (held is None or held.unit.name != conn.device):  # else: done in it
            cabinet = yield from self.place(site, conn.device, name)
            if cabinet is None:
                return False
        extra = ("grade",) if step.transfer == "open" else ()
        duration = w.draw(conn.duration_h, f"duration:{name}", pid)
        ok = yield from self.progress(site, name, max(duration, conn.hands_on_h), conn.hands_on_h, step.role, held,
                                      extra, skill=step.name, limit_h=step.staff_wait_limit_h,
                                      start_detail=step.transfer)
        if cabinet is not None:
            self.release(cabinet, name, site)
        if not ok:
            return False
        self.log(site, name, "", -1, "step_end", step.transfer)
        if w.u(f"contamination:{name}", pid) < conn.contamination_probability:
            self.p.contam_cfu += conn.inoculum_cfu
            self.log(site, name, "", -1, "damage", "contamination")
        if w.u(f"leak:{name}", pid) < conn.leak_probability:
            if conn.leak_effect == "lost":
                self.finish("lost", f"{name}:leak", site)
                return False
            self.p.cells *= 1.0 - conn.leak_volume_fraction
            self.log(site, name, "", -1, "damage", "leak")
        self.p.cells *= 1.0 - conn.cell_loss_fraction
        return True

    def transit(self, origin: str, destination: str, step: str, frozen: bool, losable: bool = True) -> Proc:
        """Courier shipment along the lane ``origin -> destination``: wait for the pickup, then
        transit (plus a delay, sometimes). Returns False when the batch is lost: the shipment
        is lost, or frozen material outlives the dry shipper's hold time."""
        w, pid = self.w, self.p.pid
        lane = w.sc.lane(origin, destination)
        name = f"{origin}->{destination}"
        wait = w.hours_to_pickup(lane, w.env.now)
        hours = w.draw(lane.transit_h, f"transit:{name}", pid)
        if w.u(f"delay:{name}", pid) < lane.delay_probability:
            hours += w.draw(lane.delay_h, f"delay_h:{name}", pid)
        lost = losable and w.u(f"loss:{name}", pid) < lane.loss_probability
        self.log(origin, step, name, -1, "step_start")
        hold = w.sc.shipper_hold_h
        if frozen and hold is not None and hours > hold:  # the shipper warms up on the way
            yield w.env.timeout(wait + hold)
            self.finish("lost", f"{step}:shipper_hold_exceeded", origin)
            return False
        if wait + hours > 0 or w.env.peek() <= w.env.now:  # (no event needed when nothing else is due now)
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
        ok = yield from self.work(lab, step, self.w.qc_steps[test.name], None, renege=False)
        if not ok:
            return
        failed = self.w.u(step, self.p.pid) < test.fail_probability or self.out_of_spec(step, test)
        results[test.name] = not failed
        self.log(lab, step, "", -1, "qc_result", "fail" if failed else "pass")
        if failed and not failed_ev.triggered:
            failed_ev.succeed(("failed", step))

    def out_of_spec(self, step: str, test: Any) -> bool:
        """Whether the batch fails what ``test`` measures: a contaminated sample (Poisson
        sampling of ``sample_fraction`` of the product, missed with ``false_negative``), or
        viability or dose below ``spec`` at the end of the last culture."""
        p = self.p
        if test.measures == "contamination":
            prob = detection_probability(p.contam_cfu, test.sample_fraction, test.false_negative)
            return prob > 0 and self.w.u(f"{step}:detect", p.pid) < prob
        if test.measures == "viability" and p.viability is not None:
            return p.viability < test.spec
        if test.measures == "dose" and p.viable is not None:
            return p.viable * p.cells < test.spec
        return False

    def culture(self, site: str, step: Step, held: Held | None, extra: tuple[str, ...]) -> Proc:
        """A culture step: the hands-on start, then the culture kernel decides when it ends (the
        end point's target dose, or its maximum length). The device stopping does not stop the
        biology: the culture goes on without power, CO2 or feed and suffers for it (the ticker
        sets its conditions each hour); the step is logged as paused meanwhile, and a stop the
        device's policy says is fatal loses the batch. A positive in-process check fails it."""
        w, p, env = self.w, self.p, self.w.env
        bio, end = w.sc.biology, step.end_point
        assert bio is not None and end is not None and held is not None
        ok = yield from self.progress(site, step.name, step.hands_on_h, step.hands_on_h, step.role, held, extra,
                                      limit_h=step.staff_wait_limit_h, start_detail=step.processing)
        if not ok:
            return False
        dtype = w.loaded.device_types[(site, held.unit.name)]
        if p.viable is None:
            cells = 1e6 * w.draw(bio.starting_cells_millions, "biology:starting_cells", p.pid) * p.cells
        else:
            cells = p.viable * p.cells
        p.cells = 1.0
        mu = bio.growth_rate_per_h(w.draw(bio.doubling_time_h, "biology:doubling", p.pid))
        check = end.in_process_check
        checks = [0]

        def on_check(cfu: float) -> None:
            checks[0] += 1
            if check is None or cfu < check.lod_cfu:
                return
            if w.u(f"biology:check:{step.name}#{checks[0]}", p.pid) < check.false_negative:
                return
            self.log(site, step.name, "", -1, "damage", "contamination_detected", cfu)
            env.process(self._fail_after(check.result_h, f"{step.name}:contamination_detected"))

        gates = self.gates(site, held, extra)
        c = w.ticker.start(
            p.pid, held.unit.name, cells, mu, w.draw(bio.lag_h, "biology:lag", p.pid),
            dtype.culture_capacity_cells or 1e10, end.target_cells, p.contam_cfu,
            w.draw(bio.contaminant_doubling_h, "biology:organism", p.pid), end.max_h, gates,
            w.cond[(site, "co2")] if "co2" in dtype.utilities else None,
            check.every_h if check is not None else float("inf"), on_check,
        )
        paused = ""
        while True:
            down = first_down(gates)
            if down is not None and not paused:
                if self.stop_policy(site, down, held) == "abort":
                    w.ticker.remove(c)
                    self.finish("lost", f"{step.name}:{_short(down.cause())}", site)
                    return False
                paused = down.cause()
                self.log(site, step.name, "", -1, "pause", paused)
            elif down is None and paused:
                self.log(site, step.name, "", -1, "resume", paused)
                paused = ""
            if p.fail_cause:
                w.ticker.remove(c)
                return False
            if c.done.triggered and not paused:
                break
            waits = [c.done, p.fail_ev] if not c.done.triggered else [p.fail_ev]
            downs = [g.when_down() for g in gates] if down is None else []
            waits += [down.when_up()] if down is not None else downs
            yield simpy.AnyOf(env, waits)
            forget(gates, downs)
        reason = c.done.value
        s = w.ticker.remove(c)
        p.viable, p.viability, p.contam_cfu = s["cells"], s["viability"], s["contam"]
        for name, value in (("cells", s["cells"]), ("viability", s["viability"]), ("contam_cfu", s["contam"]),
                            ("culture_h", s["age_h"])):
            self.log(site, step.name, name, -1, "measure", reason, value)
        self.log(site, step.name, "", -1, "step_end", step.processing)
        return True

    def _fail_after(self, hours: float, cause: str) -> Proc:
        yield self.w.env.timeout(hours)
        if not self.p.fail_cause:
            self.p.fail_cause = cause
            if self.p.fail_ev is not None and not self.p.fail_ev.triggered:
                self.p.fail_ev.succeed(cause)

    def watch_storage(self, site: str, held: Held, leaving: simpy.Event, failed_ev: simpy.Event) -> Proc:
        """While the batch is in storage: a stop of the storage unit longer than its tolerance
        (e.g. LN2 gone for longer than the freezer holds temperature) loses the batch."""
        env = self.w.env
        dtype = self.w.loaded.device_types[(site, held.unit.name)]
        tol = dtype.stop_tolerance_h
        while not leaving.triggered:
            gates = self.gates(site, held)
            down = first_down(gates)
            if down is None:
                downs = [g.when_down() for g in gates]
                yield simpy.AnyOf(env, [leaving, *downs])
                forget(gates, downs)
                continue
            cause = down.cause()
            if tol is None:
                yield simpy.AnyOf(env, [leaving, down.when_up()])
                continue
            t0 = env.now
            while first_down(self.gates(site, held)) is not None and not leaving.triggered:
                left = t0 + tol - env.now
                if left <= EPS:
                    if not failed_ev.triggered:
                        failed_ev.succeed(("lost", f"storage:stopped_{_short(cause)}"))
                    return
                yield simpy.AnyOf(env, [leaving, first_down(self.gates(site, held)).when_up(), env.timeout(left)])

    # -- the journey ---------------------------------------------------------------------
    def run(self) -> Proc:
        """The whole journey; ends with exactly one outcome unless the horizon comes first.

        Each phase returns False when the journey stops (drop-out, loss, QC failure); between
        phases a patient who has dropped out leaves."""
        self.log(self.hospital, "referral", "", -1, "referral")
        self.p.fail_ev = self.w.env.event()
        for phase in (self.collect, self.manufacture, self.test_and_release, self.deliver):
            ok = yield from phase()
            if self.p.fail_cause and not self.p.done:
                self.finish("failed", self.p.fail_cause, self.factory or self.hospital)
            if not ok or self.p.dropped or self.p.done:
                return

    def collect(self) -> Proc:
        """Apheresis at the hospital, freezing if the starting material travels frozen, routing,
        the courier to the manufacturing site, and receipt there."""
        sc, h, w = self.w.sc, self.hospital, self.w
        if not (yield from self.place_step(h, CHAIRS, "apheresis", sc.apheresis)):
            return False
        bio = sc.biology
        if bio is not None and w.u("biology:intrinsic", self.p.pid) < bio.intrinsic_contamination_probability:
            self.p.contam_cfu += bio.intrinsic_inoculum_cfu
            self.log(h, "apheresis", "", -1, "damage", "contamination")
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
        return (yield from self.work(f, "receipt", sc.receipt, None, extra=("it",)))

    def manufacture(self) -> Proc:
        """The recipe on the manufacturing site's devices, then cryopreservation."""
        sc, f = self.w.sc, self.factory
        held: Held | None = None
        held_by = ""  # the step that seized `held` (its release is logged under that step)
        try:
            for step in sc.recipe:
                if held is not None and step.device != held.unit.name:
                    self.release(held, held_by, f)
                    held = None
                if step.device is not None and held is None:
                    held = yield from self.place(f, step.device, step.name)
                    if held is None:
                        return False
                    held_by = step.name
                if step.transfer is not None and not (yield from self.transfer(f, step, held)):
                    return False
                extra = ("grade",) if step.processing == "open" else ()
                if step.end_point is not None:
                    ok = yield from self.culture(f, step, held, extra)
                else:
                    ok = yield from self.work(f, step.name, step, held, detail=step.processing, extra=extra,
                                              limit_h=step.staff_wait_limit_h)
                if not ok or self.p.dropped:
                    return False
        finally:
            if held is not None:
                self.release(held, held_by, f)
        cryo = sc.cryopreservation
        return (yield from self.place_step(f, cryo.device, "cryopreservation", cryo))

    def test_and_release(self) -> Proc:
        """LN2 storage while the QC panel runs (locally or at a central lab), then QP release
        (it needs the IT/MES system up)."""
        sc, f, env = self.w.sc, self.factory, self.w.env
        storage = yield from self.place(f, sc.storage.device, "storage")
        if storage is None:
            return False
        self.log(f, "storage", sc.storage.device, storage.unit.index, "step_start")
        leaving = env.event()
        failed_ev = env.event()
        env.process(self.watch_storage(f, storage, leaving, failed_ev))
        try:
            self.log(f, "qc", "", -1, "step_start")
            results: dict[str, bool] = {}
            lab = sc.qc.lab or f
            if lab != f:  # samples travel to the central QC lab
                yield from self.transit(f, lab, "ship_samples", frozen=False, losable=False)
            tests = [env.process(self.qc_test(lab, t, results, failed_ev)) for t in sc.qc.tests]
            if self.p.fail_ev is not None:
                def late(ev: simpy.Event) -> None:
                    if not failed_ev.triggered:
                        failed_ev.succeed(("failed", ev.value))
                if self.p.fail_ev.triggered:
                    late(self.p.fail_ev)
                else:
                    self.p.fail_ev.callbacks.append(late)
            # The panel ends when every result is in, or at the first failing result: the batch
            # is rejected then (the lab still completes the other tests); or when the batch is
            # lost in storage.
            yield env.all_of(tests) | failed_ev
            self.log(f, "qc", "", -1, "step_end")
            if self.p.dropped:
                return False
            if failed_ev.triggered:
                outcome, cause = failed_ev.value
                self.finish(outcome, cause, f)
                return False
            site = sc.release.site or f
            return (yield from self.work(site, "release", sc.release, None, extra=("it",)))
        finally:
            leaving.succeed()
            self.log(f, "storage", sc.storage.device, storage.unit.index, "step_end")
            self.release(storage, "storage", f)

    def deliver(self) -> Proc:
        """The courier back to the hospital, then infusion."""
        sc, f, h = self.w.sc, self.factory, self.hospital
        if f != h and not (yield from self.transit(f, h, "ship_to_hospital", frozen=True)):
            return False
        if self.p.dropped:
            return False
        slot = yield from self.place(h, SLOTS, "infusion")
        if slot is None:
            return False
        self.p.waiting = False  # infusion starts: the wait (and the drop-out hazard) is over
        yield from self.work(h, "infusion", sc.infusion, slot, renege=False)
        self.release(slot, "infusion", h)
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


def _short(cause: str) -> str:
    """A stop's cause for an outcome name: ``outage:LABEL`` -> ``LABEL``, ``broken`` ->
    ``breakdown``."""
    if cause == "broken":
        return "breakdown"
    return cause.split(":", 1)[1] if cause.startswith("outage:") else cause
