"""Expected load: how busy each resource will be, estimated from rates and mean durations
before anything runs (offered load, as in queueing theory).

For every pool of devices, chairs or slots and every staff role at every site::

    rho = demand / capacity
    demand   = batches a week routed to the site x unit-hours one batch needs there
    capacity = units x batches per unit x 168 h x the fraction of the week a unit can work

A batch holds a device unit for the mean duration of each step on it (``max(duration,
hands_on_h)``, as the model runs a step; consecutive steps on the same device type keep one
unit, as the model does) plus its transfers, plus one ``changeover_h`` each time it lets go of
the unit. A culture step (``end_point``) holds it for its hands-on start plus the culture
length :func:`twin.scenario.biology.expected_culture_h` estimates from the biology. LN2 storage is held from freezing
until release: the longest QC test (tests run in parallel), sample transit to a central lab,
and the QP release. A unit can work ``MTBF / (MTBF + MTTR)`` of the time between breakdowns
and loses its preventive maintenance hours (the catalogue's ``failure`` and ``maintenance``). A
person works the hands-on hours of the steps that name their role (and repairs that need it)
while on duty: the hours a week their shift calendar gives, less daily absence and the places
turnover leaves vacant or in training.

What it leaves out, so read ``rho`` as a lower bound on how full a unit will look and an upper
bound on the work it gets: drop-outs and failed batches are not subtracted (fewer batches reach
the later steps); devices held while a batch waits for someone to come on shift are not
counted (the simulation counts them as held, so where hands-on steps need a day-shift role the
simulated utilisation of the device is higher); staff qualified for a step through their
``skills`` help the role it names, but the hours are charged to the named role; utility and IT
outages are not in it (device and staff outages are, as the load while they last). Under a
routing policy other than ``fixed`` each hospital's batches are sent to its nearest candidate
site, an approximation (the policy spreads them when that site is busy).

No SimPy, pandas or numba here: ``twin explain`` stays fast. Units: hours (h), weeks (168 h),
batches a week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.core.vocab import CHAIRS, SLOTS
from twin.scenario.biology import expected_culture_h
from twin.scenario.calendars import on_duty_h_per_week
from twin.scenario.catalogue import DeviceType
from twin.scenario.document import Scenario
from twin.scenario.loading import LoadedScenario
from twin.scenario.logistics import HubStep
from twin.scenario.rota import heads_needed, post_h_per_week, role_calendar

#: rho at or above this: near saturation (long waits); at or above 1: queues grow without bound.
NEAR_SATURATION = 0.85



@dataclass(frozen=True)
class LoadRow:
    """The expected load of one resource at one site.

    Attributes:
        resource: device type, staff role, ``apheresis_chair`` or ``infusion_slot``.
        kind: ``device``, ``staff``, ``chair`` or ``slot``.
        site: where it is.
        units: devices, people, chairs or slots.
        demand_h_per_week: unit-hours a week the expected batches need of it (h/week).
        capacity_h_per_week: unit-hours a week it can give: units x batches per unit x on-duty
            hours a week (h/week).
        note: what the row assumes, if anything worth saying.
    """

    resource: str
    kind: str
    site: str
    units: int
    demand_h_per_week: float
    capacity_h_per_week: float
    note: str = ""

    @property
    def rho(self) -> float:
        """Offered load: demand / capacity (0 with no demand; inf with demand and no capacity)."""
        if self.demand_h_per_week <= 0:
            return 0.0
        return self.demand_h_per_week / self.capacity_h_per_week if self.capacity_h_per_week > 0 else math.inf

    @property
    def level(self) -> str:
        """``over`` (rho >= 1), ``near`` (rho >= :data:`NEAR_SATURATION`) or ``ok``."""
        return "over" if self.rho >= 1.0 else "near" if self.rho >= NEAR_SATURATION else "ok"


@dataclass(frozen=True)
class OutageLoad:
    """The load of a resource while a device or staff outage takes some of it out.

    Attributes:
        outage: the outage's label.
        row: the resource's load without the outage.
        units_out: units or people it takes out.
        rho: demand / the capacity left while it lasts (inf when nothing is left).
    """

    outage: str
    row: LoadRow
    units_out: int
    rho: float


@dataclass
class LoadEstimate:
    """What :func:`expected_load` finds.

    Attributes:
        rows: one per device pool, chair and slot pool and staff role at every site.
        referrals_per_week: patients referred a week (all hospitals).
        site_batches_per_week: batches a week each manufacturing site receives.
        routing_exact: whether every hospital has one site that makes its batches (fixed routing
            or a single candidate), so the split is exact rather than approximate.
        batch_hours: (site, device type) -> unit-hours one batch holds a unit, changeovers
            included (h).
        culture_h: (site, recipe step) -> estimated culture length of a culture step (h).
        during_outages: the load while each device or staff outage lasts.
    """

    rows: list[LoadRow]
    referrals_per_week: float
    site_batches_per_week: dict[str, float]
    routing_exact: bool
    batch_hours: dict[tuple[str, str], float] = field(default_factory=dict)
    culture_h: dict[tuple[str, str], float] = field(default_factory=dict)
    during_outages: list[OutageLoad] = field(default_factory=list)

    def row(self, site: str, resource: str) -> LoadRow:
        """The row of ``resource`` at ``site`` (KeyError if there is none)."""
        for r in self.rows:
            if r.site == site and r.resource == resource:
                return r
        raise KeyError(f"{resource} at {site}")


def referrals_per_week(sc: Scenario) -> float:
    """Patients referred a week: ``rate_per_week``, the mean over the horizon of a changing rate
    (``rates``, ``growth_per_year``), or the listed times within the horizon."""
    ref = sc.referrals
    if ref.times_h is None and ref.varies():
        return ref.mean_rate_per_week(sc.start_date, sc.horizon_h)
    if ref.rate_per_week is not None:
        return ref.rate_per_week
    times = ref.times_h or []
    return sum(1 for t in times if t < sc.horizon_h) * HOURS_PER_WEEK / sc.horizon_h


def repair_h(sc: Scenario, site: str, name: str, dtype: DeviceType) -> float:
    """Mean calendar hours (h) a breakdown keeps a unit out: the mean repair time, stretched by
    the repair role's shift when the catalogue names one (repairs are worked only on shift);
    inf when no one qualified works at all; 0 for a unit that never breaks."""
    f = dtype.failure
    if f is None:
        return 0.0
    hours = f.repair_h.mean
    if f.repair_role is None:
        return hours
    duty = max((on_duty_h_per_week(_calendar(sc, site, r)) for r in
                sc.qualified_roles(site, f"repair:{name}", f.repair_role)), default=0.0)
    return hours * HOURS_PER_WEEK / duty if duty > 0 else math.inf


def device_availability(sc: Scenario, site: str, name: str, dtype: DeviceType) -> float:
    """Fraction of calendar time (0-1) a unit can work: up between breakdowns (mean time
    between failures over that plus :func:`repair_h`) and out of preventive maintenance."""
    a = 1.0
    if dtype.failure is not None:
        mtbf, repair = dtype.failure.time_between_h.mean, repair_h(sc, site, name, dtype)
        a *= mtbf / (mtbf + repair) if math.isfinite(repair) else 0.0
    m = dtype.maintenance
    if m is not None:
        a *= max(0.0, 1.0 - m.duration_h / (m.every_days * HOURS_PER_DAY))
    return a


def staff_h_per_week(sc: Scenario, site: str, role: str) -> float:
    """Person-hours a week (h/week) a role at a site can work: the post-hours its calendar asks
    for (posts x shift hours, see :func:`twin.scenario.rota.post_h_per_week`), at most headcount
    x ``max_h_per_week`` (the rota's cap), less absence and the places turnover keeps vacant or in
    training (leavers a year x (hiring lead + training) in years, per role)."""
    spec = sc.sites[site].staff[role]
    need = StaffingNeed.of(sc, site, role)
    hours = need.covered_h * (1.0 - spec.absence_per_day)
    t = spec.turnover
    if t is not None and spec.count:
        out = t.hazard_per_year(spec.count) * spec.count * (t.hiring_lead_days / 365.0 + t.training_weeks * 7.0 / 365.0)
        hours *= max(0.0, 1.0 - out / spec.count)
    return hours


@dataclass(frozen=True)
class StaffingNeed:
    """What a role's calendar asks of its people at a site, a week: ``post_h`` post-hours (posts x
    shift hours), ``heads`` people needed to cover them within their contracts (with the role's
    absence), ``count`` people employed, ``within_contract_h`` and ``covered_h`` the post-hours
    they can cover within their contracts and with overtime up to ``max_h_per_week``."""

    post_h: float
    heads: float
    count: int
    within_contract_h: float
    covered_h: float

    @classmethod
    def of(cls, sc: Scenario, site: str, role: str) -> StaffingNeed:
        """The need of ``role`` at ``site``."""
        spec = sc.sites[site].staff[role]
        if spec.always_on_duty:  # an idealisation: everyone on duty 168 h a week
            post_h = spec.count * HOURS_PER_WEEK
            return cls(post_h, post_h / spec.contract_h_per_week, spec.count,
                       spec.count * spec.contract_h_per_week, post_h)
        blocks = role_calendar(spec, sc.shifts)
        post_h = post_h_per_week(blocks, spec.on_duty_posts)
        heads = heads_needed(blocks, spec.on_duty_posts, spec.contract_h_per_week, spec.absence_per_day)
        return cls(post_h, heads, spec.count, min(post_h, spec.count * spec.contract_h_per_week),
                   min(post_h, spec.count * spec.max_h_per_week))

    @property
    def level(self) -> str:
        """``short`` (the rota leaves post-hours uncovered even with overtime), ``overtime``
        (covered only with overtime) or ``ok`` (absence aside: ``heads`` allows for it)."""
        if self.covered_h < self.post_h - 1e-6:
            return "short"
        return "overtime" if self.within_contract_h < self.post_h - 1e-6 else "ok"


def _calendar(sc: Scenario, site: str, role: str):
    shift = sc.sites[site].staff[role].shift
    return None if shift is None else sc.shifts[shift]


def _step_h(duration_mean: float, hands_on_h: float) -> float:
    """Mean hours a step takes: the model runs ``max(duration, hands_on_h)``."""
    return max(duration_mean, hands_on_h)


class _Demand:
    """Unit-hours per batch, by (site, kind, resource), and the roles (site, role) whose
    hands-on work a batch holding the resource may have to wait for."""

    def __init__(self) -> None:
        self.h: dict[tuple[str, str, str], float] = {}
        self.waits: dict[tuple[str, str, str], set[tuple[str, str]]] = {}

    def add(self, site: str, kind: str, resource: str | None, hours: float,
            waits_for: set[tuple[str, str]] | frozenset = frozenset()) -> None:
        if resource is not None and hours > 0:
            key = (site, kind, resource)
            self.h[key] = self.h.get(key, 0.0) + hours
            self.waits.setdefault(key, set()).update(waits_for)

    def add_scaled(self, other: _Demand, factor: float) -> None:
        """Add ``other``'s hours times ``factor`` (batches a week: hours a week)."""
        for key, hours in other.h.items():
            self.add(*key, hours * factor, other.waits.get(key, frozenset()))


def _manufacturing_hours(loaded: LoadedScenario, site: str, demand: _Demand, culture_h: dict) -> None:
    """Add the unit-hours one batch made at ``site`` needs there (and at its QC lab and QP)."""
    sc, types = loaded.scenario, loaded.device_types
    demand.add(site, "staff", sc.receipt.role, sc.receipt.hands_on_h)
    held, run_h, run_roles = None, 0.0, set()

    def hands(where: str, role: str | None, hours: float) -> set[tuple[str, str]]:
        """The person-hours of a hands-on task; the role it waits for."""
        demand.add(where, "staff", role, hours)
        return {(where, role)} if role is not None and hours > 0 else set()

    def let_go() -> None:
        nonlocal held, run_h, run_roles
        if held is not None:
            demand.add(site, "device", held, run_h + (types[(site, held)].changeover_h or 0.0), run_roles)
        held, run_h, run_roles = None, 0.0, set()

    kept = 1.0  # fraction of the cells kept through transfers since the last culture
    cells: float | None = None  # viable cells out of the last culture
    for step in sc.recipe:
        if step.device != held:  # a step on another device, or on none, lets go of the unit
            let_go()
        held = step.device
        if step.transfer is not None:
            conn = sc.connections[step.transfer]
            hours = _step_h(conn.duration_h.mean, conn.hands_on_h)
            roles = hands(site, step.role, conn.hands_on_h)
            if conn.device is not None and conn.device != step.device:  # a cabinet of its own
                demand.add(site, "device", conn.device, hours + (types[(site, conn.device)].changeover_h or 0.0), roles)
            run_h += hours
            run_roles |= roles
            leak = conn.leak_probability * conn.leak_volume_fraction if conn.leak_effect == "volume" else 0.0
            kept *= (1.0 - conn.cell_loss_fraction) * (1.0 - leak)
        run_roles |= hands(site, step.role, step.hands_on_h)
        if step.end_point is not None:
            assert sc.biology is not None and step.device is not None  # validated
            start = cells if cells is not None else 1e6 * sc.biology.starting_cells_millions.mean
            capacity = types[(site, step.device)].culture_capacity_cells or 1e10  # the model's default
            hours = expected_culture_h(sc.biology, step.end_point, capacity, start * kept)
            culture_h[(site, step.name)] = hours
            run_h += step.hands_on_h + hours
            cells, kept = step.end_point.target_cells, 1.0
        else:
            run_h += _step_h(step.duration_h.mean, step.hands_on_h)
    let_go()
    cryo = sc.cryopreservation
    if sc.final_product.form == "cryopreserved":  # a fresh product is not frozen
        roles = hands(site, cryo.role, cryo.hands_on_h)
        demand.add(site, "device", cryo.device, _step_h(cryo.duration_h.mean, cryo.hands_on_h)
                   + (types[(site, cryo.device)].changeover_h or 0.0), roles)
    lab = sc.qc.lab or site
    qc_h = max(_step_h(t.duration_h.mean, t.hands_on_h) for t in sc.qc.tests)
    qc_h += sc.transit_mean_h(site, lab)
    release_h = _step_h(sc.release.duration_h.mean, sc.release.hands_on_h)
    roles = set().union(*(hands(lab, sc.qc.role, t.hands_on_h) for t in sc.qc.tests))
    roles |= hands(sc.release.site or site, sc.release.role, sc.release.hands_on_h)
    demand.add(site, "device", sc.storage.device,
               qc_h + release_h + (types[(site, sc.storage.device)].changeover_h or 0.0), roles)


def expected_load(loaded: LoadedScenario) -> LoadEstimate:
    """The expected load of every resource of a validated scenario (see the module docstring).

    Args:
        loaded: a validated scenario (its device types carry the site overrides).

    Returns:
        A :class:`LoadEstimate`: rows in site order (devices, chairs and slots, then staff),
        each with demand and capacity in unit-hours a week and their ratio ``rho``.
    """
    sc = loaded.scenario
    per_week = referrals_per_week(sc)
    hospital_rate = {h: per_week * s for h, s in sc.hospital_shares().items()}
    site_rate, exact = _site_rates(sc, hospital_rate)
    weekly, culture_h, batch_hours = _weekly_demand(loaded, hospital_rate, site_rate)
    rows: list[LoadRow] = []
    step_roles = sc.step_roles(loaded.device_types)
    for sname, site in sc.sites.items():
        rows += _device_rows(loaded, weekly, sname)
        if site.kind == "hospital":
            for kind, name, units in (("chair", CHAIRS, site.apheresis_chairs), ("slot", SLOTS, site.infusion_slots)):
                rows.append(LoadRow(name, kind, sname, units, weekly.h.get((sname, kind, name), 0.0),
                                    units * HOURS_PER_WEEK, _shift_note(sc, weekly, (sname, kind, name))))
        rows += _staff_rows(sc, weekly, sname, step_roles)
    est = LoadEstimate(rows, per_week, site_rate, exact, batch_hours, culture_h)
    est.during_outages += _outage_loads(sc, rows)
    return est


def _site_rates(sc: Scenario, hospital_rate: dict[str, float]) -> tuple[dict[str, float], bool]:
    """Batches a week each manufacturing site receives (each hospital's go to its nearest
    candidate), and whether that split is exact (fixed routing, or one candidate each)."""
    site_rate: dict[str, float] = {}
    exact = True
    for h, rate in hospital_rate.items():
        cands = sc.route_candidates(h)
        if cands:
            site_rate[cands[0]] = site_rate.get(cands[0], 0.0) + rate
        exact = exact and (sc.routing.policy == "fixed" or len(cands) == 1)
    return site_rate, exact


def _hub_steps_of(sc: Scenario, hospital: str) -> list[tuple[str, HubStep]]:
    """(hub, step) of every hub step on the routes to and from ``hospital``."""
    return [(w.site, st) for r in sc.routes if hospital in (r.from_, r.to) for w in r.via for st in w.steps]


def _weekly_demand(loaded: LoadedScenario, hospital_rate: dict[str, float], site_rate: dict[str, float]
                   ) -> tuple[_Demand, dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Unit-hours a week by (site, kind, resource): each site's batches, each hospital's
    patients and the repairs that need a person; with the culture lengths (h) and the
    unit-hours one batch holds each device type (h), by (site, step or device type)."""
    sc = loaded.scenario
    weekly = _Demand()
    culture_h: dict[tuple[str, str], float] = {}
    batch_hours: dict[tuple[str, str], float] = {}
    for site, rate in site_rate.items():
        demand = _Demand()
        _manufacturing_hours(loaded, site, demand, culture_h)
        weekly.add_scaled(demand, rate)
        batch_hours.update({(site, res): h for (s, kind, res), h in demand.h.items() if kind == "device" and s == site})
    freezing = sc.starting_material.freezing if sc.starting_material.form == "cryopreserved" else None
    for h, rate in hospital_rate.items():
        demand = _Demand()
        for kind, place, spec in (("chair", CHAIRS, sc.apheresis), ("slot", SLOTS, sc.infusion)):
            waits = {(h, spec.role)} if spec.role is not None and spec.hands_on_h > 0 else set()
            demand.add(h, kind, place, _step_h(spec.duration_h.mean, spec.hands_on_h), waits)
            demand.add(h, "staff", spec.role, spec.hands_on_h)
        if freezing is not None:
            demand.add(h, "staff", freezing.role, freezing.hands_on_h)
        for site, st in _hub_steps_of(sc, h):
            demand.add(site, "staff", st.role, st.hands_on_h)
        weekly.add_scaled(demand, rate)
    # Repairs that need a person: each unit breaks once per (MTBF + repair) calendar hours.
    for (site, name), dtype in loaded.device_types.items():
        f, count = dtype.failure, sc.sites[site].devices[name].count
        if f is not None and f.repair_role is not None and count:
            cycle = f.time_between_h.mean + repair_h(sc, site, name, dtype)
            weekly.add(site, "staff", f.repair_role, count * HOURS_PER_WEEK / cycle * f.repair_h.mean)
    return weekly, culture_h, batch_hours


def _shift_note(sc: Scenario, weekly: _Demand, key: tuple[str, str, str]) -> str:
    """Which shift-bound roles batches holding this resource wait for."""
    bound = sorted((site, role) for site, role in weekly.waits.get(key, ()) if _calendar(sc, site, role) is not None)
    if not bound:
        return ""
    who = ", ".join(f"{role} ({on_duty_h_per_week(_calendar(sc, site, role)):g} h/week on duty)"
                    for site, role in bound)
    return f"batches also hold it while they wait for {who}: expect the simulation to show it busier"


def _device_rows(loaded: LoadedScenario, weekly: _Demand, sname: str) -> list[LoadRow]:
    """The rows of the device pools at site ``sname`` (none for a pool of no units)."""
    sc = loaded.scenario
    rows = []
    for name, pool in sc.sites[sname].devices.items():
        if pool.count == 0:
            continue
        dtype = loaded.device_types[(sname, name)]
        a = device_availability(sc, sname, name, dtype)
        notes = [_shift_note(sc, weekly, (sname, "device", name))]
        if dtype.batches_per_unit > 1 and dtype.changeover_h:
            notes.append(f"changeover counted per batch ({dtype.batches_per_unit} batches a unit: an upper bound)")
        rows.append(LoadRow(name, "device", sname, pool.count, weekly.h.get((sname, "device", name), 0.0),
                            pool.count * dtype.batches_per_unit * HOURS_PER_WEEK * a, "; ".join(n for n in notes if n)))
    return rows


def _staff_rows(sc: Scenario, weekly: _Demand, sname: str, step_roles: dict[str, str]) -> list[LoadRow]:
    """The rows of the staff roles at site ``sname`` (none for a role of no people), with a note
    when skills let people of one role do another role's steps (``step_roles``: step -> role)."""
    site = sc.sites[sname]
    rows = []
    for role, spec in site.staff.items():
        if spec.count == 0:
            continue
        helps = sorted(st for st in spec.skills if step_roles.get(st) not in (None, role))
        helped = sorted(r for r, other in site.staff.items()
                        if r != role and other.count and any(step_roles.get(st) == role for st in other.skills))
        note = ""
        if helps:
            note = f"also qualified for {', '.join(helps)} (hours counted under the role each names)"
        elif helped:
            note = f"helped by {', '.join(helped)} (their skills): an upper bound"
        rows.append(LoadRow(role, "staff", sname, spec.count, weekly.h.get((sname, "staff", role), 0.0),
                            staff_h_per_week(sc, sname, role), note))
    return rows


def _outage_loads(sc: Scenario, rows: list[LoadRow]) -> list[OutageLoad]:
    """The load of each resource a device or staff outage takes units out of, while it lasts."""
    out_loads = []
    for i, o in enumerate(sc.outages):
        if o.what not in ("device", "staff"):
            continue
        name = o.pool if o.what == "device" else o.role
        for r in rows:
            if r.resource == name and r.kind == o.what and (o.site is None or r.site == o.site) and r.units:
                out = min(o.units or r.units, r.units)
                left = r.capacity_h_per_week * (r.units - out) / r.units
                rho = r.demand_h_per_week / left if left > 0 else (math.inf if r.demand_h_per_week > 0 else 0.0)
                out_loads.append(OutageLoad(o.label(i), r, out, rho))
    return out_loads
