"""The world of one replication: the SimPy environment, the sites' pools and conditions, the
random streams, the event log, and the routing and calendar questions journeys ask of it.

:func:`twin.model.replication.simulate` builds it, starts the processes and runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.core.record import PoolSpec
from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.core.vocab import CHAIRS, SITE_CONDITIONS, SLOTS
from twin.model import streams
from twin.model.clocks import HoldPlan
from twin.model.conditions import Condition
from twin.model.eventlog import EventLog, LogRow
from twin.model.pools import Unit, UnitPool
from twin.model.scheduler import Scheduler
from twin.model.streams import Streams
from twin.scenario.biology import expected_culture_h
from twin.scenario.calendars import SiteClock
from twin.scenario.distributions import Fixed
from twin.scenario.fields import WEEKDAYS
from twin.scenario.plans import added_units, opens_later
from twin.scenario.recipe import ClinicalStep

if TYPE_CHECKING:
    from twin.scenario.document import Scenario
    from twin.scenario.loading import LoadedScenario

#: Utilities whose loss stops a unit that draws them (CO2 and O2 only degrade the culture inside).
STOPPING_UTILITIES = ("power", "compressed_air", "ln2")


class World:
    """Everything a journey needs: env, pools by (site, name), streams, the log, the scenario."""

    def __init__(self, loaded: LoadedScenario, replication: int) -> None:
        self.loaded = loaded
        self.sc: Scenario = loaded.scenario
        self.env = simpy.Environment()
        self.streams = Streams(self.sc.seed, replication)
        self.log = EventLog()
        self.rows = self.log.rows  # appended to directly on the hot path (journey.log)
        self.closed = False  # set once the horizon is reached; nothing is logged after it
        self.n_patients = 0  # set once the referral times are drawn
        self.holds = HoldPlan.of(self.sc)  # None without holds: nothing to do at step edges
        # Whether a batch's outcome can come from outside the process doing its work (a drop-out
        # that ends it, a hold's watcher, a QC failure stopping the panel's other tests): else a
        # step's work need not also wait on the patient's stop event.
        # (a storage unit's stop past its tolerance, or an in-process check, fails a batch from its
        # watcher too).
        self.stops_from_outside = (
            self.holds is not None or len(self.sc.qc.tests) > 1 or bool(self.sc.release.at_risk_tests)
            or (self.sc.dropout.hazard_per_day > 0 and self.sc.dropout.batch == "end")
            or any(st.end_point is not None and st.end_point.in_process_check is not None for st in self.sc.recipe)
            or any(t.stop_tolerance_h is not None and (t.failure is not None or self.sc.outages)
                   for t in loaded.device_types.values()))
        self.first_weekday = self.sc.start_date.weekday()  # 0 = Monday, for pickup calendars
        # Each site's local time and holidays: every calendar (shifts, pickups, clinic hours) is
        # evaluated through these; the log stays on the twin clock.
        self.clocks = {sname: SiteClock.of(self.sc, sname) for sname in self.sc.sites}
        self.routes = {(r.from_, r.to): r for r in self.sc.routes}  # shipments of several legs
        self._quantiles: dict[str, tuple[list[float], bytearray]] = {}
        self.cond: dict[tuple[str, str], Condition] = {
            (sname, what): Condition(self.env, f"{sname}/{what}") for sname in self.sc.sites for what in SITE_CONDITIONS
        }
        self.pools: dict[tuple[str, str], UnitPool] = {}
        self.specs: list[PoolSpec] = []
        self.desk: dict[str, UnitPool] = {}  # the people of each site, all roles
        self.device_gates: dict[tuple[str, str], list[Condition]] = {}
        self.step_role = self.sc.step_roles(loaded.device_types)
        for sname, site in self.sc.sites.items():
            if site.kind == "hospital":
                self._add(PoolSpec(sname, CHAIRS, "chair", site.apheresis_chairs))
                self._add(PoolSpec(sname, SLOTS, "slot", site.infusion_slots))
            for tname, pool in site.devices.items():
                dtype = loaded.device_types[(sname, tname)]
                draws = [self.cond[(sname, u)] for u in dtype.utilities]
                if dtype.network == "stop":
                    draws.append(self.cond[(sname, "it")])
                self.device_gates[(sname, tname)] = [self.cond[(sname, u)] for u in dtype.utilities
                                                     if u in STOPPING_UTILITIES] + (
                    [self.cond[(sname, "it")]] if dtype.network == "stop" else [])
                count = pool.count + added_units(self.sc.capacity_plan, sname, "devices", tname)
                # A unit that cannot stop (no failure, no device outage of its pool) needs no
                # running condition: its batches' steps then wait on nothing for it (a capacity
                # plan's commissioning and retirement take units out softly, when empty).
                can_stop = dtype.failure is not None or any(
                    o.what == "device" and o.pool == tname for o in self.sc.outages)
                self._add(PoolSpec(sname, tname, "device", count, dtype.batches_per_unit), draws,
                          running=can_stop)
            people: list[Unit] = []
            for role, spec in site.staff.items():
                count = spec.count + added_units(self.sc.capacity_plan, sname, "staff", role)
                self.specs.append(PoolSpec(sname, role, "staff", count))
                skills = frozenset({st for st, r in self.step_role.items() if r == role} | set(spec.skills))
                people += [Unit(role, i, 1, None, skills) for i in range(count)]
            self.desk[sname] = UnitPool(self.env, people, self._unit_logger(sname))
        # Routing: candidate sites per hospital (nearest first) and, per site, the mean hours a
        # batch holds the first recipe device (for least_expected_v2v), and when each batch now
        # holding one started its run there (pid -> hours).
        self.candidates = {h: self.sc.route_candidates(h) for h in self.sc.hospital_shares()}
        self.first_device = next((st.device for st in self.sc.recipe if st.device is not None), None)
        makers = {s for c in self.candidates.values() for s in c}
        self.first_hold_h = {s: self._first_run_h(s) for s in makers}
        self.runs: dict[str, dict[int, float]] = {s: {} for s in makers}
        # Sites a capacity plan opens later are closed (no batch routed there) until they open.
        self.site_open = {s: not opens_later(self.sc.capacity_plan, s) for s in self.sc.sites}
        shares = self.sc.hospital_shares()
        self.hospitals = list(shares)
        self.hospital_cum = np.cumsum(list(shares.values())).tolist()
        ref = self.sc.referrals
        self.shares_vary = bool(ref.joins) or any(isinstance(v, list) for v in (ref.hospitals or {}).values())
        self.referral_h = np.zeros(0)  # set by referral_times: patient i's referral time at i
        # The culture ticker, when a recipe step has a biological end point.
        self.ticker = None
        if any(st.end_point is not None for st in self.sc.recipe) and self.sc.biology is not None:
            from twin.model.ticker import Ticker

            params = self.sc.biology.kernel_params()
            groups = {st.device for st in self.sc.recipe if st.end_point is not None and st.device is not None}
            self.ticker = Ticker(self.env, {g: params for g in groups})
        # Slot booking (twin.model.scheduler): None under first come, first served everywhere.
        self.scheduler = Scheduler(self) if self.sc.scheduling.booking() else None
        # Each QC test as a step: the panel's analyst role for the test's hands-on hours.
        self.qc_steps = {
            t.name: ClinicalStep(duration_h=t.duration_h, role=self.sc.qc.role, hands_on_h=t.hands_on_h)
            for t in self.sc.qc.tests
        }

    def u(self, name: str, pid: int) -> float:
        """Patient ``pid``'s uniform quantile for purpose ``name`` (e.g. ``duration:expansion``).

        The first draw for (name, pid) is the pid-th number of stream ``name`` — so patient i
        gets the same quantile whatever order patients reach the step in, which keeps common
        random numbers exact across layouts and capacities. A repeat for the same patient (a
        step done twice) comes from the stream ``name#again``.
        """
        entry = self._quantiles.get(name)
        if entry is None:
            entry = (self.streams.get(name).random(max(self.n_patients, 1)).tolist(), bytearray(max(self.n_patients, 1)))
            self._quantiles[name] = entry
        values, used = entry
        if not used[pid]:
            used[pid] = 1
            return values[pid]
        return float(self.streams.get(name + streams.AGAIN).random())

    def draw(self, dist: Any, name: str, pid: int) -> float:
        """Patient ``pid``'s value of ``dist`` (a :mod:`twin.scenario.distributions` distribution) for
        purpose ``name``: its quantile at :meth:`u`. A fixed value takes no draw (quantiles are
        indexed by patient, so skipping one shifts no other draw)."""
        if type(dist) is Fixed:
            return dist.value
        return dist.ppf(self.u(name, pid))

    def hospital_of(self, pid: int) -> str:
        """The hospital patient ``pid`` belongs to (drawn by share from the ``hospital`` stream)."""
        u = self.u(streams.HOSPITAL, pid)
        cum = self.hospital_cum
        if self.shares_vary:
            ref = self.sc.referrals
            cum = np.cumsum(ref.shares_at(self.sc.start_date, self.hospitals, float(self.referral_h[pid]))).tolist()
        for name, c in zip(self.hospitals, cum):
            if u < c:
                return name
        return self.hospitals[-1]

    def route(self, hospital: str) -> str:
        """The site that makes a batch of ``hospital`` shipping now (see scenario.Routing)."""
        cands = self.candidates[hospital]
        if not all(self.site_open[s] for s in cands):  # a capacity plan closed some: route among the open
            cands = [s for s in cands if self.site_open[s]] or cands
        policy = self.sc.routing.policy
        if policy == "fixed" or len(cands) == 1:
            return cands[0]
        if policy == "nearest":
            for site in cands:
                if any(u.available() for u in self.pools[(site, self.first_device)].units):
                    return site
            return cands[0]
        best, best_h = cands[0], float("inf")
        for site in cands:  # least expected vein-to-vein: transit both ways + expected wait
            h = self.sc.transit_mean_h(hospital, site) + self.sc.transit_mean_h(site, hospital) + self.expected_wait_h(site)
            if h < best_h:
                best, best_h = site, h
        return best

    def expected_wait_h(self, site: str) -> float:
        """Hours a batch arriving now at ``site`` can expect to wait for its first device: none
        while a unit is free, else the work ahead of it (the queue's runs and what the busy units'
        runs have left, each run the mean hold of :meth:`_first_run_h`) shared by the units."""
        pool = self.pools[(site, self.first_device)]
        if any(u.available() for u in pool.units):
            return 0.0
        hold, now = self.first_hold_h[site], self.env.now
        left = sum(max(hold - (now - t0), 0.0) for t0 in self.runs[site].values())
        return (left + len(pool.queue) * hold) / max(sum(u.slots for u in pool.units), 1)

    def _first_run_h(self, site: str) -> float:
        """Mean hours (h) a batch holds its first recipe device at ``site``: the consecutive steps
        on it, their transfers, and a culture step at the length the biology gives the mean patient
        (the estimate :mod:`twin.authoring.offered_load` makes of every run)."""
        sc, hours, kept = self.sc, 0.0, 1.0
        for st in sc.recipe:
            if st.device is None:
                continue
            if st.device != self.first_device:
                break
            if st.transfer is not None:
                conn = sc.connections[st.transfer]
                hours += max(conn.duration_h.mean, conn.hands_on_h)
                kept *= 1.0 - conn.cell_loss_fraction
            if st.end_point is not None and sc.biology is not None:
                capacity = self.loaded.device_types[(site, st.device)].culture_capacity_cells or 1e10
                start = 1e6 * sc.biology.starting_cells_millions.mean * kept
                hours += st.hands_on_h + expected_culture_h(sc.biology, st.end_point, capacity, start)
            else:
                hours += max(st.duration_h.mean, st.hands_on_h)
        return hours

    def local_h(self, site: str, twin_h: float) -> float:
        """The local hour at ``site`` (hours from local 00:00 of ``start_date``) at twin hour
        ``twin_h``: twin hour + the site's ``utc_offset_h`` (see :class:`SiteClock`)."""
        return self.clocks[site].local_h(twin_h)

    def hours_to_pickup(self, lane, now_h: float) -> float:
        """Hours from ``now_h`` (twin clock) until the lane's next pickup (0 for on-demand lanes):
        ``pickup_h`` on ``pickup_days`` in the local time of the lane's origin, not on its holidays."""
        if lane.pickup_h is None:
            return 0.0
        clock = self.clocks[lane.from_]
        days = {WEEKDAYS.index(d) for d in lane.pickup_days}
        local = clock.local_h(now_h)
        day = int(local // HOURS_PER_DAY)
        for k in range(7 * (len(clock.holidays) + 1) + 1):  # each holiday can skip one pickup day
            t = (day + k) * HOURS_PER_DAY + lane.pickup_h
            if clock.weekday(day + k) in days and t >= local and clock.works(day + k):
                return t - local
        raise AssertionError("a lane has at least one pickup day")  # pragma: no cover

    def _unit_logger(self, site: str):
        log = self.log

        def fn(u: Unit, kind: str, reason: str) -> None:
            if not self.closed:
                log.add(LogRow(self.env.now, site, kind, resource=u.name, unit=u.index, detail=reason))

        return fn

    def _add(self, spec: PoolSpec, conditions: list[Condition] | None = None, running: bool = False) -> None:
        units = [
            Unit(spec.name, i, spec.slots_per_unit,
                 Condition(self.env, f"{spec.site}/{spec.name}#{i}") if running else None)
            for i in range(spec.units)
        ]
        self.specs.append(spec)
        self.pools[(spec.site, spec.name)] = UnitPool(self.env, units, self._unit_logger(spec.site), conditions)

    def pool(self, site: str, name: str) -> UnitPool:
        """The pool ``name`` at ``site``."""
        return self.pools[(site, name)]

    def referral_times(self) -> np.ndarray:
        """Referral times (hours) within the horizon, sorted, from the ``arrivals`` stream (kept as
        ``referral_h``, patient i's time at i).

        A changing rate (``rates``, ``growth_per_year``, hospitals that join) is a non-homogeneous
        Poisson process drawn by thinning (Lewis and Shedler 1979): candidates at the peak rate
        from the ``arrivals`` stream, exactly as a constant rate draws them, each kept with
        probability rate(t) / peak by the ``arrivals:thinning`` stream's k-th number. So a constant
        rate keeps every candidate and gives today's times; patient i's other draws stay the i-th
        of their streams."""
        ref = self.sc.referrals
        horizon = self.sc.horizon_h
        if ref.times_h is not None:
            t = np.sort(np.asarray(ref.times_h, dtype=float))
            self.referral_h = t[t < horizon]
            return self.referral_h
        start = self.sc.start_date
        peak = ref.peak_rate_per_week(start, horizon) if ref.varies() else float(ref.rate_per_week)
        t = self._poisson_times(peak, horizon) if peak > 0 else np.zeros(0)
        if ref.varies() and len(t):
            keep = ref.rate_per_week_at(start, t) / peak
            if ref.joins:
                keep = keep * np.array([self._any_joined(x) for x in t])
            t = t[self.streams.get(streams.THINNING).random(len(t)) < keep]
        self.referral_h = t
        return t

    def _any_joined(self, t_h: float) -> bool:
        """Whether any referring hospital has a share at hour ``t_h``."""
        return bool(self.sc.referrals.shares_at(self.sc.start_date, self.hospitals, t_h).sum() > 0)

    def _poisson_times(self, rate_per_week: float, horizon: float) -> np.ndarray:
        """Poisson event times (hours) at ``rate_per_week`` within the horizon, from the
        ``arrivals`` stream's exponential gaps drawn in blocks until the horizon is passed."""
        rng = self.streams.get(streams.ARRIVALS)
        mean_gap = HOURS_PER_WEEK / rate_per_week
        # Draw gaps in blocks until the horizon is passed (block size from the expected count).
        out: list[np.ndarray] = []
        last = 0.0
        block = max(16, int(1.2 * horizon / mean_gap) + 16)
        while True:
            times = last + np.cumsum(rng.exponential(mean_gap, size=block))
            out.append(times)
            last = float(times[-1])
            if last >= horizon:
                break
        t = np.concatenate(out)
        return t[t < horizon]
