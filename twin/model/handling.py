"""The domain steps of a journey, built on the step mechanics: tubing transfers, courier
shipments, QC tests, cultures (with the kernel's ticker) and the storage watch."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from twin.kernel.detection import detection_probability
from twin.model import streams
from twin.model.conditions import all_down, first_down, forget, when_any_changes
from twin.model.scheduler import infused_by_exception
from twin.model.steps import EPS, Held, StepRunner, Work, short_cause
from twin.model.ticker import Chamber, CultureSpec

if TYPE_CHECKING:
    from twin.model.pools import Unit
    from twin.model.ticker import Culture
    from twin.scenario.recipe import Step

Proc = Generator[simpy.Event, Any, Any]


@dataclass
class _Stop:
    """A culture step's stop in progress at ``site``: the cause its pause was logged with (""
    while running) and when a rescue is due (hours; None: none)."""

    site: str
    step: str
    cause: str = ""
    rescue_at: float | None = None


class Handling(StepRunner):
    """Transfers, transits, QC tests, cultures and storage of one patient's batch."""

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
        duration = w.draw(conn.duration_h, streams.duration(name), pid)
        work = Work(site, name, step.role, conn.hands_on_h, skill=step.name, limit_h=step.staff_wait_limit_h,
                    extra=extra, detail=step.transfer)
        ok = yield from self.progress(work, max(duration, conn.hands_on_h), held)
        if cabinet is not None:
            self.release(cabinet, name, site)
        if not ok:
            return False
        self.log(site, name, "step_end", detail=step.transfer)
        self.passed(site, name, "end")
        if w.u(streams.contamination(name), pid) < conn.contamination_probability:
            self.p.contam_cfu += conn.inoculum_cfu
            self.log(site, name, "damage", detail="contamination")
        if w.u(streams.leak(name), pid) < conn.leak_probability:
            if conn.leak_effect == "lost":
                self.finish("lost", f"{name}:leak", site)
                return False
            self.p.cells *= 1.0 - conn.leak_volume_fraction
            self.log(site, name, "damage", detail="leak")
        self.p.cells *= 1.0 - conn.cell_loss_fraction
        return True

    def transit(self, origin: str, destination: str, step: str, frozen: bool, losable: bool = True) -> Proc:
        """Courier shipment from ``origin`` to ``destination`` as step ``step``: along the
        scenario's route between them if it declares one (each leg on its lane, the waypoints'
        hub steps on the way, a step that freezes making the later legs frozen), else on the
        direct lane. Returns False when the batch is lost or the journey stops on the way."""
        route = self.w.routes.get((origin, destination))
        if route is None:
            return (yield from self._leg((origin, destination), step, frozen, losable, False))
        name = f"{origin}->{destination}"
        self.log_resource(origin, step, "step_start", name)
        self.passed(origin, step, "start")
        for k, leg in enumerate(route.legs()):
            if not (yield from self._leg(leg, step, frozen, losable, True)):
                return False
            if self.p.dropped:
                return False
            if k < len(route.via):
                waypoint = route.via[k]
                for st in waypoint.steps:
                    if not (yield from self.work(Work.of(waypoint.site, st.name, st), None)):
                        return False
                    frozen = frozen or st.freezes
        self.log_resource(destination, step, "step_end", name)
        self.passed(destination, step, "end")
        return True

    def _leg(self, ends: tuple[str, str], step: str, frozen: bool, losable: bool, part: bool) -> Proc:
        """One courier shipment on the lane ``ends`` = (origin, destination): wait for the pickup,
        then transit (plus a delay, sometimes). Logged as ``step``'s start and end, or, as a
        ``part`` of a route, as ``leg_start``/``leg_end``. Returns False when the batch is lost:
        the shipment is lost, or frozen material outlives the dry shipper's hold time."""
        w, pid = self.w, self.p.pid
        origin, destination = ends
        lane = w.sc.lane(origin, destination)
        name = f"{origin}->{destination}"
        wait = w.hours_to_pickup(lane, w.env.now)
        hours = w.draw(lane.transit_h, streams.transit(name), pid)
        if w.u(streams.delay(name), pid) < lane.delay_probability:
            hours += w.draw(lane.delay_h, streams.delay_h(name), pid)
        lost = losable and w.u(streams.loss(name), pid) < lane.loss_probability
        self.log_resource(origin, step, "leg_start" if part else "step_start", name)
        if not part:
            self.passed(origin, step, "start")
        hold = w.sc.shipper_hold_h
        if frozen and hold is not None and hours > hold:  # the shipper warms up on the way
            yield w.env.timeout(wait + hold) | self.p.stop_ev
            self.finish("lost", f"{step}:shipper_hold_exceeded", origin)
            return False
        if wait + hours > 0 or w.env.peek() <= w.env.now:  # (no event needed when nothing else is due now)
            yield w.env.timeout(wait + hours) | self.p.stop_ev
        if self.p.done:
            return False
        if lost:
            self.finish("lost", f"{step}:shipment_lost", origin)
            return False
        self.log_resource(destination, step, "leg_end" if part else "step_end", name)
        if not part:
            self.passed(destination, step, "end")
        return True

    def qc_test(self, lab: str, test: Any, results: dict[str, bool], failed_ev: simpy.Event) -> Proc:
        """One QC test at ``lab``: analyst hands-on at the start, result after ``duration_h``; a
        failing result triggers ``failed_ev`` (the first one to fail names the cause)."""
        step = f"qc:{test.name}"
        ok = yield from self.work(Work.of(lab, step, self.w.qc_steps[test.name], renege=False), None)
        if not ok:
            return
        failed = self.w.u(streams.qc_fail(step), self.p.pid) < test.fail_probability
        excepted = False
        if not failed and self.out_of_spec(step, test):
            excepted = infused_by_exception(self, test)  # an out-of-spec product may go on by exception
            failed = not excepted
            self.p.out_of_spec = self.p.out_of_spec or excepted
        results[test.name] = not failed
        self.log(lab, step, "qc_result", detail="fail" if failed else ("out_of_spec" if excepted else "pass"))
        if failed and not failed_ev.triggered:
            failed_ev.succeed(("failed", step))

    def out_of_spec(self, step: str, test: Any) -> bool:
        """Whether the batch fails what ``test`` measures: a contaminated sample (Poisson
        sampling of ``sample_fraction`` of the product, missed with ``false_negative``), or
        viability or dose below ``spec`` at the end of the last culture."""
        p = self.p
        if test.measures == "contamination":
            prob = detection_probability(p.contam_cfu, test.sample_fraction, test.false_negative)
            return prob > 0 and self.w.u(streams.qc_detect(step), p.pid) < prob
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
        w, p = self.w, self.p
        assert w.sc.biology is not None and step.end_point is not None and held is not None
        work = Work(site, step.name, step.role, step.hands_on_h, limit_h=step.staff_wait_limit_h, extra=extra,
                    detail=step.processing)
        ok = yield from self.progress(work, step.hands_on_h, held)
        if not ok:
            return False
        dtype = w.loaded.device_types[(site, held.unit.name)]
        spec = self._culture_spec(site, step, dtype)
        p.cells = 1.0
        c = w.ticker.start(p.pid, held.unit.name, spec, self.gates(site, held, extra), self._chamber(site, step.name, held))
        if not (yield from self._tend(site, step, held, c)):
            return False
        # The step ends at its end point; the cells stay in the device, and in the kernel
        # (growing past the target, crowding, dying), until the next step starts on them: waiting
        # for staff to harvest costs biology. What is measured is what the next step gets.
        self.log(site, step.name, "step_end", detail=step.processing)
        self.passed(site, step.name, "end")
        p.culture = (site, step, c)
        return True

    def _chamber(self, site: str, step: str, held: Held) -> Chamber:
        """What each condition of the device ``held`` at ``site`` does to the culture's chamber
        in step ``step``: the unit running and the site's power (if it draws power) stop it; compressed
        air (if it draws it) and the network (if it stops without it) stop the feed; the site's
        CO2 (if it draws CO2) sets its gas, and each loss of it is logged as damage to the batch
        (kind ``damage``, resource ``co2``, detail the cause)."""
        w = self.w
        dtype = w.loaded.device_types[(site, held.unit.name)]
        uses = dtype.utilities
        stops = [c for c in (held.unit.running,) if c is not None]
        stops += [w.cond[(site, u)] for u in uses if u in ("power", "ln2")]
        unfed = [w.cond[(site, "compressed_air")]] if "compressed_air" in uses else []
        if dtype.network == "stop":
            unfed.append(w.cond[(site, "it")])
        co2 = w.cond[(site, "co2")] if "co2" in uses else None

        def on_co2_lost(cause: str) -> None:
            self.log_resource(site, step, "damage", "co2", detail=cause)

        return Chamber(tuple(stops), tuple(unfed), co2, on_co2_lost)

    def _culture_spec(self, site: str, step: Step, dtype: Any) -> CultureSpec:
        """The batch's culture in ``step`` on a device of type ``dtype``: the cells it brings
        (from the last culture, else the biology's starting cells times the fraction kept),
        this patient's draws of the biology, the end point and the in-process check."""
        w, p = self.w, self.p
        bio, end = w.sc.biology, step.end_point
        assert bio is not None and end is not None
        if p.viable is None:
            cells = 1e6 * w.draw(bio.starting_cells_millions, streams.BIO_STARTING_CELLS, p.pid) * p.cells
        else:
            cells = p.viable * p.cells
        check = end.in_process_check
        return CultureSpec(
            cells=cells,
            mu_per_h=bio.growth_rate_per_h(w.draw(bio.doubling_time_h, streams.BIO_DOUBLING, p.pid)),
            lag_h=w.draw(bio.lag_h, streams.BIO_LAG, p.pid),
            capacity_cells=dtype.culture_capacity_cells or 1e10,
            target_cells=end.target_cells,
            contam_cfu=p.contam_cfu,
            doubling_contam_h=w.draw(bio.contaminant_doubling_h, streams.BIO_ORGANISM, p.pid),
            max_h=end.max_h if step.harvest is None else min(end.max_h, step.harvest.latest_h),
            check_every_h=check.every_h if check is not None else float("inf"),
            on_check=self._on_check(site, step),
        )

    def _on_check(self, site: str, step: Step) -> Callable[[float], None]:
        """What an in-process check of the culture in ``step`` does with the contaminant load
        (CFU) it samples: a load at or above the limit of detection is found unless the draw says
        false negative; the batch fails ``result_h`` hours later."""
        w, p = self.w, self.p
        assert step.end_point is not None
        check = step.end_point.in_process_check
        checks = [0]

        def on_check(cfu: float) -> None:
            checks[0] += 1
            if check is None or cfu < check.lod_cfu:
                return
            if w.u(streams.bio_check(step.name, checks[0]), p.pid) < check.false_negative:
                return
            self.log(site, step.name, "damage", detail="contamination_detected", value=cfu)
            w.env.process(self._fail_after(check.result_h, f"{step.name}:contamination_detected"))

        return on_check

    def _tend(self, site: str, step: Step, held: Held, c: Culture) -> Proc:
        """Wait for culture ``c`` to reach its end, logging the device's stops as pauses; the
        device's policy is judged over every condition down, again whenever any changes, and a
        rescue moves the culture to another unit (the biology goes on). Returns False when the
        batch is lost (a fatal stop) or fails (a positive check)."""
        w, p, env = self.w, self.p, self.w.env
        stop = _Stop(site, step.name)
        while True:
            if p.done:  # stopped (a drop-out, a hold, a failure elsewhere): the culture is discarded
                w.ticker.remove(c)
                return False
            if not self._judge(stop, held, c):
                return False
            if p.fail_cause:
                w.ticker.remove(c)
                return False
            if c.done.triggered and not stop.cause:
                return True
            if stop.rescue_at is not None and env.now >= stop.rescue_at - EPS:
                self._move_culture(stop, held, c, (yield from self.rescue(site, step.name, held)))
                continue
            changes, ups, downs = when_any_changes(c.gates)
            waits = [c.done, p.fail_ev, p.stop_ev] if not c.done.triggered else [p.fail_ev, p.stop_ev]
            if stop.rescue_at is not None:
                waits.append(env.timeout(max(stop.rescue_at - env.now, 0.0)))
            yield simpy.AnyOf(env, waits + changes)
            forget(ups, downs)

    def _judge(self, stop: _Stop, held: Held, c: Culture) -> bool:
        """Log the culture step's pause or resume as its conditions say and note when a rescue is
        due; False (the culture removed, the batch lost) when a condition down aborts it."""
        down = all_down(c.gates)
        if not down:
            if stop.cause:
                self.log(stop.site, stop.step, "resume", detail=stop.cause)
                stop.cause = ""
            stop.rescue_at = None
            return True
        policy, why = self.verdict(stop.site, down, held)
        if policy == "abort":
            self.w.ticker.remove(c)
            self.finish("lost", f"{stop.step}:{short_cause(why.cause())}", stop.site)
            return False
        if not stop.cause:
            stop.cause = down[0].cause()
            self.log(stop.site, stop.step, "pause", detail=stop.cause)
        if policy != "rescue":
            stop.rescue_at = None
        elif stop.rescue_at is None:
            stop.rescue_at = self._rescue_at(stop.site, down, held)
        return True

    def _move_culture(self, stop: _Stop, held: Held, c: Culture, old: Unit) -> None:
        """After a rescue of ``held`` from unit ``old``: the culture follows the batch to its new
        unit (nothing to do when the old unit was repaired first)."""
        stop.rescue_at = None
        if held.unit is old:
            return
        gates = [held.unit.running if g is old.running else g for g in c.gates]
        self.w.ticker.move(c, gates, self._chamber(stop.site, stop.step, held))

    def end_culture(self) -> None:
        """The next step starts on the cells of the finished culture: harvest it now."""
        assert self.p.culture is not None
        site, step, c = self.p.culture
        self.p.culture = None
        self._harvest(site, step, c)

    def _harvest(self, site: str, step: Step, c: Culture) -> None:
        """Take culture ``c`` out: the batch carries its viable cells, viability and
        contaminant load on; log what was measured (under the culture's step, now)."""
        p = self.p
        reason = c.done.value
        s = self.w.ticker.remove(c)
        p.viable, p.viability, p.contam_cfu = s["cells"], s["viability"], s["contam"]
        for name, value in (("cells", s["cells"]), ("viability", s["viability"]), ("contam_cfu", s["contam"]),
                            ("culture_h", s["age_h"])):
            self.measure(site, step.name, name, value, reason)

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
                        failed_ev.succeed(("lost", f"storage:stopped_{short_cause(cause)}"))
                    return
                yield simpy.AnyOf(env, [leaving, first_down(self.gates(site, held)).when_up(), env.timeout(left)])
