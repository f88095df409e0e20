"""Orchestration of patients' journeys: slot booking at the manufacturing sites, and re-manufacture
of failed batches (see :mod:`twin.scenario.scheduling`).

Slot booking. At referral a patient of a ``slot_booking`` site is booked a run on the first device
type of the recipe: an interval of the site's booking book as long as the expected hold of the
first device (``World.first_hold_h``, times ``run_length_factor``), at the earliest start where fewer runs
are booked than the pool has places. The apheresis is planned in a shift of the hospital's
apheresis staff with a chair free in the hospital's chair book, as late as lets the material
(apheresis, freezing if any, the lane's next pickup, the courier's transit at ``transit_quantile``, receipt in
its staff's shift and
``arrival_margin_h``) arrive for the start, and early enough that the material's holds from
apheresis are not exceeded at the start. The patient then waits (drop-out going on) until the
planned apheresis. A more urgent patient is booked ahead of less urgent bookings whose cells are not
yet collected; those are moved (``rebooked``, cause ``priority``). When the plan breaks (at the
planned apheresis the book no longer fits the run: a run overran or a unit is down; or the
material reaches the site late, or finds no unit free), the booking is moved (``rebooked``, cause
``breakdown``, ``outage:LABEL``, ``overrun`` or ``late_material``), and every later uncollected
booking that no longer fits is moved too (``rebooked``, cause ``knock_on``).

The real pools still grant units first come, first served; the book is the plan that decides
when cells are collected.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.model import streams
from twin.scenario.rota import role_calendar, shift_occurrences

if TYPE_CHECKING:
    from twin.model.handling import Handling
    from twin.model.journey import Journey
    from twin.model.patient import Patient
    from twin.model.world import World

Proc = Generator[simpy.Event, Any, Any]

NAN = float("nan")
SLOT = "slot"
"""The step name of ``booked`` and ``rebooked`` rows."""
LATE_H = 1.0
"""Hours (h) past its booked start that material counts as late (assumption: within the hour the
run starts as planned)."""
YEAR_H = 366 * 24.0
"""How far ahead (h) a plan is looked for before the scheduler books the first free run."""


@dataclass
class Booking:
    """One patient's booked run on the first device (hours, twin clock)."""

    pid: int
    site: str
    rank: int  # urgency class (0: most urgent)
    start: float
    end: float
    aph: float = NAN  # planned apheresis start (NaN: from a backup aliquot, no apheresis)
    collected: bool = False  # cells collected (or the aliquot in use): the booking no longer yields
    running: bool = False  # the run has started on a unit
    changed: simpy.Event | None = None  # succeeds when the plan moves (the waiting patient re-plans)
    owner: Any = None  # the attempt (Patient) it was booked for


@dataclass
class Book:
    """Booked intervals at one site (a manufacturing site's first device, or a hospital's chairs)
    and the places the pool has."""

    capacity: int
    items: dict[int, Booking] = field(default_factory=dict)
    hours: Hours | None = None  # when runs may start (None: any time)

    def fits(self, start: float, end: float, among: list[Booking]) -> bool:
        """Whether a run over [start, end) keeps ``among``'s overlapping runs below capacity."""
        edges = sorted([(b.start, 1) for b in among if b.start < end and b.end > start]
                       + [(b.end, -1) for b in among if b.start < end and b.end > start])
        n = sum(1 for b in among if b.start <= start < b.end)
        if n >= self.capacity:
            return False
        for t, d in edges:
            if start < t < end:
                n += d
                if n >= self.capacity:
                    return False
        return True

    def earliest(self, t0: float, length: float, among: list[Booking]) -> float:
        """The earliest start at or after ``t0`` (h) of a run of ``length`` hours that fits, in
        the site's working hours (:attr:`hours`) when it has them."""
        t = t0
        while True:
            if self.hours is not None:
                t = self.hours.next_in(t)
            if self.fits(t, t + length, among):
                return t
            later = [b.end for b in among if b.end > t]
            if self.hours is not None:
                later.append(self.hours.next_start_after(t))
            t = min(later)


@dataclass
class Hours:
    """Shifts (start, end hours, sorted) in which work needing ``need_h`` hands-on hours may start."""

    shifts: list[tuple[float, float]]
    need_h: float

    def next_in(self, t: float) -> float:
        """The first time at or after ``t`` (h) that a shift leaves ``need_h`` hours of."""
        k = bisect.bisect_left(self.ends, t + self.need_h)
        for st, en in self.shifts[k:]:
            if en - self.need_h >= max(t, st):
                return max(t, st)
        return t  # past the calendar's end: any time

    def next_start_after(self, t: float) -> float:
        """The first shift start after ``t`` (h)."""
        k = bisect.bisect_right(self.starts, t)
        return self.starts[k] if k < len(self.starts) else t + 24.0

    def __post_init__(self) -> None:
        self.starts = [st for st, _ in self.shifts]
        self.ends = list(itertools.accumulate((en for _, en in self.shifts), max))


class Scheduler:
    """The booking books of a replication and the hooks a journey calls."""

    def __init__(self, world: World) -> None:
        self.w = world
        sc = world.sc
        self.sc = sc
        self.books: dict[str, Book] = {}
        for site in world.runs:
            if sc.scheduling.policy_of(site) == "slot_booking" and world.first_device is not None:
                pool = world.pools[(site, world.first_device)]
                self.books[site] = Book(sum(u.slots for u in pool.units), hours=self._run_hours(site))
        self.receipt_hours = {site: Hours(self._shifts(site, "receipt", sc.receipt.role), sc.receipt.hands_on_h)
                              for site in self.books if sc.receipt.role is not None and sc.receipt.hands_on_h > 0}
        self.chairs = {h: Book(sc.sites[h].apheresis_chairs) for h in world.hospitals}
        self.shifts = {h: self._shifts(h, "apheresis", sc.apheresis.role) for h in world.hospitals}
        holds = [h.limit_h for h in sc.effective_holds() if h.from_ == "apheresis"]
        self.hold_h = min(holds, default=float("inf"))
        self.classes = list(sc.scheduling.urgency)
        shares = np.array(list(sc.scheduling.urgency.values()), dtype=float)
        self.ranks: dict[int, int] = {}
        self.class_cum = (np.cumsum(shares) / shares.sum()).tolist() if len(shares) else []

    # -- derived figures -----------------------------------------------------------------
    def _shifts(self, site: str, step: str, role: str | None) -> list[tuple[float, float]]:
        """(start, end) twin hours of every shift of a role qualified for ``step`` at ``site``, in
        the site's local time and without its holidays (``role``: the role the step names; one
        endless shift without one)."""
        sc = self.sc
        out: list[tuple[float, float]] = []
        for r in sc.qualified_roles(site, step, role):
            blocks = role_calendar(sc.sites[site].staff[r], sc.shifts)
            out += shift_occurrences(blocks, self.w.first_weekday, sc.horizon_h + YEAR_H, self.w.clocks[site])
        if role is None or not out:
            return [(0.0, float("inf"))]
        return sorted(out)

    def _run_hours(self, site: str) -> Hours | None:
        """When a run may start at ``site``: in a shift of the staff of its first hands-on work."""
        first = self.sc.recipe[0]
        need = self.sc.connections[first.transfer].hands_on_h if first.transfer is not None else first.hands_on_h
        if first.role is None or need <= 0:
            return None
        return Hours(self._shifts(site, first.name, first.role), need)

    def _aph_h(self) -> float:
        a = self.sc.apheresis
        return max(a.duration_h.mean, a.hands_on_h)

    def _lead_h(self, hospital: str, site: str, aph: float) -> float:
        """Expected hours from an apheresis starting at ``aph`` to its material ready for the run."""
        sc, w = self.sc, self.w
        hours = self._aph_h()
        material = sc.starting_material
        if material.form == "cryopreserved" and material.freezing is not None:
            hours += max(material.freezing.duration_h.mean, material.freezing.hands_on_h)
        if site != hospital:  # the first leg's pickup, each leg's planned transit, a route's hub steps
            r = sc.route(hospital, site)
            legs = [(hospital, site)] if r is None else r.legs()
            q = sc.scheduling.transit_quantile
            hours += w.hours_to_pickup(sc.lane(*legs[0]), aph + hours) + sum(sc.lane(*leg).transit_h.ppf(q) for leg in legs)
            if r is not None:
                hours += sum(max(st.duration_h.mean, st.hands_on_h) for v in r.via for st in v.steps)
        receipt, at = sc.receipt, self.receipt_hours.get(site)
        ready = aph + hours
        if at is not None:  # receipt waits for its staff's shift
            ready = at.next_in(ready)
        return ready - aph + max(receipt.duration_h.mean, receipt.hands_on_h) + sc.scheduling.arrival_margin_h

    def run_h(self, site: str) -> float:
        """Hours a booked run holds the first device at ``site``."""
        return self.w.first_hold_h[site] * self.sc.scheduling.run_length_factor

    def urgency(self, pid: int) -> int:
        """Patient ``pid``'s urgency class (0: most urgent; 0 when the scenario has no classes)."""
        if not self.class_cum:
            return 0
        if pid not in self.ranks:  # drawn once: a re-manufacture keeps the patient's class
            u = self.w.u(streams.URGENCY, pid)
            self.ranks[pid] = next((k for k, c in enumerate(self.class_cum) if u < c), len(self.class_cum) - 1)
        return self.ranks[pid]

    # -- planning ------------------------------------------------------------------------
    def _plan(self, b: Booking, hospital: str, among: list[Booking]) -> None:
        """Set ``b``'s apheresis and start from now: the first shift whose apheresis, with a chair
        free, brings the material in time for a run that fits and within its hold."""
        now, book, length = self.w.env.now, self.books[b.site], self.run_h(b.site)
        chairs, aph_h = self.chairs[hospital], self._aph_h()
        chairs.items = {k: c for k, c in chairs.items.items() if c.end > now}  # past aphereses
        chair_list = [c for c in chairs.items.values() if c.pid != b.pid]
        need_h = self.sc.apheresis.hands_on_h
        for st, en in self.shifts[hospital]:
            lo, hi = max(st, now), en - need_h
            if hi < lo:
                continue
            if lo > now + YEAR_H:
                break
            start = book.earliest(lo + self._lead_h(hospital, b.site, lo), length, among)
            for aph in self._aph_candidates(lo, hi, start - self._lead_h(hospital, b.site, lo), chair_list):
                if (aph + self._lead_h(hospital, b.site, aph) <= start + 1e-9 and start - aph - aph_h <= self.hold_h - self.sc.scheduling.hold_margin_h
                        and chairs.fits(aph, aph + aph_h, chair_list)):
                    b.aph, b.start, b.end = aph, start, start + length
                    return
        lead = self._lead_h(hospital, b.site, now)
        b.aph, b.start = now, book.earliest(now + lead, length, among)
        b.end = b.start + length

    @staticmethod
    def _aph_candidates(lo: float, hi: float, latest: float, chairs: list[Booking]) -> list[float]:
        """Apheresis starts to try in a shift [lo, hi]: the latest that meets the run, then earlier
        chair ends, then the shift's start."""
        out = [min(max(latest, lo), hi)]
        out += sorted((c.end for c in chairs if lo <= c.end <= out[0]), reverse=True)
        return [*out, lo]

    def _log(self, b: Booking, kind: str, detail: str) -> None:
        w = self.w
        if not w.closed:
            w.rows.append((w.env.now, b.pid, b.site, SLOT, w.first_device, -1, kind, detail, b.start))

    def _chair(self, b: Booking, hospital: str) -> None:
        """Hold ``b``'s patient's chair in the hospital's chair book (none without an apheresis)."""
        chairs = self.chairs[hospital]
        chairs.items.pop(b.pid, None)
        if b.aph == b.aph:
            chairs.items[b.pid] = Booking(b.pid, hospital, 0, b.aph, b.aph + self._aph_h(), owner=b.owner)

    def _what(self, b: Booking) -> str:
        aph = "none" if b.aph != b.aph else f"{b.aph:.3f}"
        cls = f" urgency={self.classes[b.rank]}" if self.classes else ""
        return f"apheresis_h={aph} run_h={b.end - b.start:.3f}{cls}"

    def book(self, j: Journey, aliquot: bool = False) -> Booking:
        """Book patient ``j``'s run at ``j.factory`` now (with ``aliquot``: from a backup aliquot
        already at the site, no apheresis); less urgent uncollected bookings in its way move."""
        p, book = j.p, self.books[j.factory]
        rank = self.urgency(p.pid)
        b = Booking(p.pid, j.factory, rank, 0.0, 0.0, changed=self.w.env.event(), owner=p)
        keep = [x for x in book.items.values() if x.collected or x.rank <= rank]
        if aliquot:
            b.collected = True
            b.start = book.earliest(self.w.env.now, self.run_h(j.factory), keep)
            b.end = b.start + self.run_h(j.factory)
        else:
            self._plan(b, j.hospital, keep)
            self._chair(b, j.hospital)
        book.items[p.pid] = b
        self._log(b, "booked", self._what(b))
        self._settle(book, lambda x: x.collected or x.rank <= rank, "priority")
        return b

    def _settle(self, book: Book, keep: Callable[[Booking], bool], cause: str) -> None:
        """Move every uncollected booking that no longer fits, given the bookings ``keep`` fixes,
        in order of urgency and start."""
        fixed = [x for x in book.items.values() if keep(x)]
        for x in sorted((x for x in book.items.values() if not keep(x)), key=lambda x: (x.rank, x.start)):
            if not book.fits(x.start, x.end, fixed):
                self._move(x, fixed, cause)
            fixed.append(x)

    def _move(self, b: Booking, among: list[Booking], cause: str) -> None:
        """Re-plan uncollected booking ``b`` from now among ``among``; log and tell its patient."""
        hospital = self.w.hospital_of(b.pid)
        self._plan(b, hospital, among)
        self._chair(b, hospital)
        self._log(b, "rebooked", cause)
        if b.changed is not None and not b.changed.triggered:
            b.changed.succeed()
        b.changed = self.w.env.event()

    def _refresh(self, book: Book) -> None:
        """Runs still going past their booked end are taken to end an hour from now (assumption)."""
        now = self.w.env.now
        for x in book.items.values():
            if x.running and x.end <= now:
                x.end = now + 1.0

    def _cause(self, site: str) -> str:
        """Why the site's first device has fewer places than booked: a unit down, else an overrun."""
        w = self.w
        for u in w.pools[(site, w.first_device)].units:
            for reason in u.down:
                return "breakdown" if reason == "broken" else reason
        for c in w.device_gates[(site, w.first_device)]:  # a utility or the network it cannot run without
            if not c.up:
                return c.cause()
        return "overrun"

    # -- hooks the journey calls ---------------------------------------------------------
    def wait_for_apheresis(self, j: Journey, aliquot: bool = False) -> Proc:
        """At referral (or a re-manufacture): route the patient; at a ``slot_booking`` site book
        the run and wait until the planned apheresis (or, from an aliquot, the planned start),
        re-planning when the plan moves or no longer fits. False when the patient drops out or
        the batch stops meanwhile."""
        w, p = self.w, j.p
        site = j.factory or w.route(j.hospital)
        if site not in self.books:
            return True
        j.factory = site
        b = self.book(j, aliquot)
        book = self.books[site]
        while True:
            due = b.start if aliquot else b.aph
            assert b.changed is not None
            yield simpy.AnyOf(w.env, [w.env.timeout(max(due - w.env.now, 0.0)), b.changed, p.dropped_ev, p.stop_ev])
            if p.done or p.dropped:
                self.cancel(p, site)
                return False
            if w.env.now < due - 1e-9:
                continue  # re-planned: wait for the new time
            self._refresh(book)
            if not aliquot and not book.fits(b.start, b.end, [x for x in book.items.values() if x is not b]):
                self._move(b, [x for x in book.items.values() if x is not b and (x.collected or x.rank <= b.rank)],
                           self._cause(site))
                continue
            b.collected = True
            return True

    def arrived(self, j: Journey) -> None:
        """The material is at the site, ready for its run: if it is late for the booked start, or
        no unit of the first device is free, the run is re-booked (other bookings knocked on)."""
        w = self.w
        book = self.books.get(j.factory)
        b = book.items.get(j.p.pid) if book is not None else None
        if b is None:
            return
        now = w.env.now
        pool = w.pools[(j.factory, w.first_device)]
        late = now > b.start + LATE_H
        self._refresh(book)
        down = sum(u.slots for u in pool.units if u.down)
        busy = sum(1 for x in book.items.values() if x.running and x.end > max(now, b.start))
        if not late and busy + down < book.capacity:
            return
        cause = "late_material" if late else self._cause(j.factory)  # (late within LATE_H: on time)
        others = [x for x in book.items.values() if x is not b and (x.collected or x.running)]
        b.start = book.earliest(max(now, b.start), self.run_h(j.factory), others)
        b.end = b.start + self.run_h(j.factory)
        self._log(b, "rebooked", cause)
        self._settle(book, lambda x: x.collected or x.running, "knock_on")

    def started(self, pid: int, site: str) -> None:
        """The run has taken its unit: the book holds it from now for the run's length."""
        b = self.books[site].items.get(pid) if site in self.books else None
        if b is not None:
            b.running, b.collected = True, True
            b.start, b.end = self.w.env.now, self.w.env.now + self.run_h(site)

    def cancel(self, p: Patient, site: str) -> None:
        """Attempt ``p``'s booking at ``site`` is over (run done, outcome, drop-out): its places free."""
        b = self.books[site].items.get(p.pid) if site in self.books else None
        if b is not None and b.owner is p:
            del self.books[site].items[p.pid]
        for chairs in self.chairs.values():
            c = chairs.items.get(p.pid)
            if c is not None and c.owner is p:
                del chairs.items[p.pid]


# -- re-manufacture ------------------------------------------------------------------------
def remake_how(j: Journey) -> str:
    """How patient ``j``'s failed or lost batch is made again: ``backup_aliquot`` (one kept and not
    used), ``new_apheresis`` (allowed), or "" (attempts used up, or no way: the failure is final)."""
    rm = j.w.sc.remanufacture
    p = j.p
    if rm is None or p.attempt >= rm.max_attempts or not j.factory:
        return ""
    if p.aliquot is None:  # drawn once per patient, at the first failure
        p.aliquot = j.w.u(streams.BACKUP_ALIQUOT, p.pid) < rm.backup_aliquot_probability
    if p.aliquot:
        p.aliquot = False  # one aliquot, used once
        return "backup_aliquot"
    return "new_apheresis" if rm.new_apheresis else ""


def infused_by_exception(j: Handling, test: Any) -> bool:
    """Whether a product failing ``test`` (a measured quantity: viability or dose) goes on to be
    infused by exception (drawn once per patient)."""
    rm = j.w.sc.remanufacture
    if rm is None or rm.out_of_spec_infusion_probability == 0 or test.measures not in ("viability", "dose"):
        return False
    return j.w.u(streams.OUT_OF_SPEC, j.p.pid) < rm.out_of_spec_infusion_probability
