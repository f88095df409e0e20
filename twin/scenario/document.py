"""The root of a scenario document: every section, and the derived views the model, the checks
and the offered-load estimate ask of it. See ``scenarios/centralised.yaml`` for an annotated
example."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from twin.core.errors import LocatedValueError
from twin.core.units import HOURS_PER_DAY
from twin.scenario.biology import Biology
from twin.scenario.clinic import THAW_HOLD, InfusionScheduling
from twin.scenario.connections import Connection, ConnectionType, default_connections
from twin.scenario.costs import Costs
from twin.scenario.demand import Dropout, Referrals
from twin.scenario.fields import Name, StrictModel
from twin.scenario.holds import FRESH_MATERIAL, SHELF_LIFE, Hold, fresh_material_hold
from twin.scenario.logistics import CourierLane, FinalProduct, HubStep, Route, Routing, StartingMaterial
from twin.scenario.outages import Outage
from twin.scenario.plans import Commissioning, PlanEntry, check_plan
from twin.scenario.recipe import ClinicalStep, Cryopreservation, QCPanel, Release, Step, Storage
from twin.scenario.rota import role_calendar
from twin.scenario.scheduling import Remanufacture, Scheduling
from twin.scenario.sites import Site
from twin.scenario.staffing import ShiftBlock

if TYPE_CHECKING:
    from twin.scenario.catalogue import DeviceType

class Scenario(StrictModel):
    """A whole scenario. See ``scenarios/centralised.yaml`` for an annotated example."""

    name: Name = Field(description="Scenario name: labels the results and names the default run folder.")
    description: str = Field(
        default="", max_length=10_000,
        description="Free text saying what the scenario is; kept with the validated scenario in `scenario.json`.",
    )
    start_date: dt.date = Field(
        description="Calendar date of day 0 (YYYY-MM-DD): its weekday anchors the shift calendars and courier "
        "pickup days, and report timelines are dated from it.",
    )
    horizon_days: Annotated[float, Field(gt=0, le=36_500, allow_inf_nan=False)] = Field(
        description="How long the simulation runs (days).",
    )
    warmup_days: Annotated[float, Field(ge=0, le=36_500, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Start of the measurement window (days): KPIs are of patients referred from then to the "
        "horizon; less than `horizon_days`.",
    )
    periods: Literal["year", "quarter", "none"] = Field(
        default="none",
        description="KPIs per calendar period as well as over the window: `year` (`<kpi>@2027`) or `quarter` "
        "(`<kpi>@2027Q1`) of the calendar from `start_date`, each on the patients referred in the period's part "
        "of the window, with each device pool's utilisation in it; `none` (default): window KPIs only.",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        description="Root seed of every random stream: the same seed gives the same patients and draws (common "
        "random numbers across layouts).",
    )
    replications: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=1, description="Independent replications `twin run` simulates (`-r N` overrides it).",
    )
    catalogue: str | None = Field(
        default=None,
        description="Device catalogue folder, relative to the scenario file (default: the bundled `equipment/`).",
    )
    sites: dict[Name, Site] = Field(
        min_length=1, description="Hospitals and factories by name; at least one is a hospital.",
    )
    referrals: Referrals = Field(description="When patients are referred, and to which hospital.")
    apheresis: ClinicalStep = Field(
        description="Collection of the patient's cells at the hospital; holds an apheresis chair.",
    )
    receipt: ClinicalStep = Field(
        description="Receipt and chain-of-identity check at the manufacturing site; it needs the IT/MES system up "
        "(a batch record is opened).",
    )
    recipe: list[Step] = Field(
        min_length=1, max_length=200, description="The manufacturing steps, in order, on the site's devices.",
    )
    cryopreservation: Cryopreservation = Field(
        description="Formulation and controlled-rate freezing after the recipe.",
    )
    storage: Storage = Field(description="LN2 storage of the frozen product during QC and release.")
    qc: QCPanel = Field(description="The QC release panel.")
    release: Release = Field(description="QP certification once every QC result is in.")
    infusion: ClinicalStep = Field(
        description="Infusion at the hospital; holds an infusion slot. The wait (and drop-out risk) ends when it "
        "starts.",
    )
    infusion_scheduling: InfusionScheduling | None = Field(
        default=None,
        description="Planned infusion: once the batch is released the hospital books lymphodepletion and an "
        "infusion day in clinic hours, the product ships to arrive before it, and a thaw precedes the infusion; "
        "none: the product is infused as soon as it arrives.",
    )
    couriers: list[CourierLane] = Field(
        default_factory=list,
        description="Courier lanes between sites: each hospital needs a lane to and from the site that makes its "
        "batches (none within a site).",
    )
    starting_material: StartingMaterial = Field(
        default_factory=StartingMaterial,
        description="How the apheresis product travels to manufacturing: fresh or cryopreserved.",
    )
    shipper_hold_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Hold time of the dry vapour shipper (hours): a shipment of frozen material (the final product, "
        "or cryopreserved starting material) whose transit is longer is lost; none: no limit.",
    )
    routes: list[Route] = Field(
        default_factory=list, max_length=1000,
        description="Shipments of several legs through hubs: `[{from, to, via: [{site, steps}]}]`; a pair of sites "
        "with a route ships along it, each leg on its courier lane, the hub steps done on the way (none: every "
        "shipment takes its direct lane).",
    )
    final_product: FinalProduct = Field(
        default_factory=FinalProduct,
        description="How the final product is kept and shipped: cryopreserved (default) or fresh with a shelf life.",
    )
    routing: Routing = Field(default_factory=Routing, description="Which site makes each hospital's batches.")
    dropout: Dropout = Field(default_factory=Dropout, description="Patients dropping out while they wait.")
    costs: Costs | None = Field(
        default=None, description="Cost of goods inputs; none: no cost KPIs.",
    )
    shifts: dict[Name, list[ShiftBlock]] = Field(
        default_factory=dict,
        description="Named shift calendars that staff roles refer to: `{NAME: [{days, start_h, end_h}, ...]}`.",
    )
    connections: dict[ConnectionType, Connection] = Field(
        default_factory=default_connections,
        description="Tubing connection types that recipe steps' `transfer` names; a type you list is merged over "
        "its default.",
    )
    outages: list[Outage] = Field(
        default_factory=list, max_length=10_000,
        description="Scripted or stochastic outages of utilities, IT, devices or staff.",
    )
    capacity_plan: list[PlanEntry] = Field(
        default_factory=list, max_length=10_000,
        description="Dated changes to sites: `{date, site, devices: {TYPE: +N | -N}, staff: {ROLE: +N | -N}, "
        "open: true | false, label}`; added lines are installed and qualified by a `commissioning` team first, "
        "hires join after the hiring lead and training. Default none: capacity is fixed.",
    )
    commissioning: Commissioning = Field(
        default_factory=Commissioning,
        description="Installation teams and qualification times of `capacity_plan`'s new lines and sites, and the "
        "hiring lead of its hires.",
    )
    staff_and_device: Literal["together", "device_first"] = Field(
        default="together",
        description="`together`: a batch takes a device unit (or chair) only when a person qualified for the work "
        "at its start is free too, so no unit stands loaded while its batch waits for an operator. `device_first`: "
        "the batch takes the unit as soon as one is free and waits in it for staff (the unit is counted busy). "
        "Steps with a `staff_wait_limit_h` always take the unit first.",
    )
    holds: list[Hold] = Field(
        default_factory=list, max_length=100,
        description="Hold times between steps: `{name, from, to, limit_h, on_exceed, viability_loss_per_h}`; past "
        "its limit a batch is lost (or degrades). `starting_material.viability_h` is the short form of the "
        "fresh-material hold.",
    )
    biology: Biology | None = Field(
        default=None, description="The culture model; needed by recipe steps with an `end_point`.",
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling,
        description="How patients are scheduled onto manufacturing capacity: `first_come` (default) or "
        "`slot_booking` per manufacturing site, and urgency classes.",
    )
    remanufacture: Remanufacture | None = Field(
        default=None,
        description="Failures that are not final: a failed or lost batch made again from a backup aliquot or a new "
        "apheresis; out-of-spec products infused by exception. None (default): every failure is final.",
    )

    @field_validator("connections", mode="before")
    @classmethod
    def _merge_connection_defaults(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        merged: dict[str, Any] = {k: c.model_dump() for k, c in default_connections().items()}
        for k, given in v.items():
            merged[k] = {**merged[k], **given} if k in merged and isinstance(given, dict) else given
        return merged

    @model_validator(mode="after")
    def _warmup(self) -> Scenario:
        if self.warmup_days >= self.horizon_days:
            raise LocatedValueError(
                f"warmup_days ({self.warmup_days:g}) must be less than horizon_days "
                f"({self.horizon_days:g})",
                ("warmup_days",),
            )
        try:
            self.start_date + dt.timedelta(days=math.ceil(self.horizon_days))
        except OverflowError:
            raise LocatedValueError(
                f"the run from start_date {self.start_date} for horizon_days {self.horizon_days:g} ends after the "
                "year 9999, which calendar dates cannot hold; choose an earlier start_date", ("start_date",),
            ) from None
        seen: set[str] = set()
        for i, step in enumerate(self.recipe):
            if step.name in seen:
                raise LocatedValueError(
                    f"recipe step names must be unique; {step.name!r} is repeated", ("recipe", i, "name")
                )
            seen.add(step.name)
        check_plan(self)
        return self

    # -- derived views used by the model -------------------------------------------------
    def journey_steps(self) -> list[str]:
        """The step names of the journey, in order (see :mod:`twin.model.journey`)."""
        hub = {leg: [st.name for _, st in self.hub_steps(leg)] for leg in ("ship_to_factory", "ship_samples",
                                                                         "ship_to_hospital")}
        cryo = ["cryopreservation"] if self.final_product.form == "cryopreserved" else []
        return [
            "apheresis", "freezing", "ship_to_factory", *hub["ship_to_factory"], "receipt",
            *(n for s in self.recipe for n in ((f"transfer:{s.name}", s.name) if s.transfer else (s.name,))),
            *cryo, "storage", "qc", "ship_samples", *hub["ship_samples"], *(f"qc:{t.name}" for t in self.qc.tests),
            *(name for name, _ in self.release.stage_list()), "ship_to_hospital", *hub["ship_to_hospital"],
            *(("lymphodepletion", "thaw") if self.infusion_scheduling is not None else ()), "infusion",
        ]

    def hub_steps(self, shipment: str | None = None) -> list[tuple[str, HubStep]]:
        """(site, step) of every hub step of the routes, in route order; with ``shipment``
        (``ship_to_factory``: routes from a hospital, ``ship_to_hospital``: routes to one,
        ``ship_samples``: the others) only those of that shipment's routes."""
        out = []
        for r in self.routes:
            if shipment is None or self._shipment_of(r) == shipment:
                out += [(w.site, st) for w in r.via for st in w.steps]
        return out

    def _shipment_of(self, r: Route) -> str:
        kind = self.sites[r.from_].kind if r.from_ in self.sites else ""
        if kind == "hospital":
            return "ship_to_factory"
        to = self.sites[r.to].kind if r.to in self.sites else ""
        return "ship_to_hospital" if to == "hospital" else "ship_samples"

    def route(self, origin: str, destination: str) -> Route | None:
        """The declared route from ``origin`` to ``destination`` (None: the direct lane)."""
        return next((r for r in self.routes if r.from_ == origin and r.to == destination), None)

    def ships(self, origin: str, destination: str) -> bool:
        """Whether shipments can go from ``origin`` to ``destination``: a route, or a direct lane."""
        return self.route(origin, destination) is not None or self.has_lane(origin, destination)

    def processing_start(self) -> str:
        """The first step of processing: the first recipe step, or the transfer that brings material into it."""
        first = self.recipe[0]
        return f"transfer:{first.name}" if first.transfer else first.name

    def effective_holds(self) -> list[Hold]:
        """Every hold: ``holds`` and, for fresh material with ``viability_h``, the fresh-material
        hold from apheresis to the start of processing (unless ``holds`` names one)."""
        out = list(self.holds)
        material = self.starting_material
        if (material.form == "fresh" and material.viability_h is not None
                and all(h.name != FRESH_MATERIAL for h in out)):
            out.append(fresh_material_hold(max(material.viability_h, 1e-9), self.processing_start()))
        product = self.final_product
        if product.form == "fresh" and product.shelf_life_h is not None and all(h.name != SHELF_LIFE for h in out):
            out.append(Hold(name=SHELF_LIFE, from_=self.recipe[-1].name, to="infusion",
                            limit_h=max(product.shelf_life_h, 1e-9)))
        plan = self.infusion_scheduling
        if (plan is not None and plan.thaw is not None and plan.thaw.limit_h is not None
                and all(h.name != THAW_HOLD for h in out)):
            out.append(Hold(name=THAW_HOLD, from_="thaw", to="infusion", limit_h=plan.thaw.limit_h))
        return out

    @property
    def horizon_h(self) -> float:
        """Simulated time span (hours)."""
        return self.horizon_days * HOURS_PER_DAY

    @property
    def warmup_h(self) -> float:
        """Start of the measurement window (hours)."""
        return self.warmup_days * HOURS_PER_DAY

    def period_bounds(self) -> list[tuple[str, float, float]]:
        """The calendar periods of ``periods`` cut to the window: (label, start_h, end_h), in order
        (none for ``none``)."""
        if self.periods == "none":
            return []
        out, d = [], dt.date(self.start_date.year, 1 if self.periods == "year" else
                             3 * ((self.start_date.month - 1) // 3) + 1, 1)
        while (a := (d - self.start_date).days * HOURS_PER_DAY) < self.horizon_h:
            if self.periods == "year":
                label, nxt = f"{d.year}", dt.date(d.year + 1, 1, 1)
            else:
                label = f"{d.year}Q{(d.month - 1) // 3 + 1}"
                nxt = dt.date(d.year + (d.month == 10), d.month % 12 + 3 if d.month < 10 else 1, 1)
            b = (nxt - self.start_date).days * HOURS_PER_DAY
            lo, hi = max(a, self.warmup_h), min(b, self.horizon_h)
            if hi > lo:
                out.append((label, lo, hi))
            d = nxt
        return out

    def hospital_shares(self) -> dict[str, float]:
        """Referring hospitals and their share of patients (summing to 1; a share that changes over
        time counts as the mean of its table's values)."""
        given = self.referrals.hospitals or {n: 1.0 for n, s in self.sites.items() if s.kind == "hospital"}
        shares = {h: (sum(p.share for p in v) / len(v) if isinstance(v, list) else v) for h, v in given.items()}
        shares = {h: v for h, v in shares.items() if v > 0} or dict.fromkeys(given, 1.0)
        total = sum(shares.values())
        return {h: w / total for h, w in shares.items()}

    def device_types_needed(self) -> list[str]:
        """Device types a manufacturing site must have."""
        types = [s.device for s in self.recipe if s.device is not None]
        cryo = [self.cryopreservation.device] if self.final_product.form == "cryopreserved" else []
        return list(dict.fromkeys([*types, *cryo, self.storage.device]))

    def roles_needed(self) -> list[str]:
        """Staff roles a manufacturing site must have."""
        cryo = (self.cryopreservation,) if self.final_product.form == "cryopreserved" else ()
        roles = [s.role for s in (self.receipt, *self.recipe, *cryo) if s.role and s.hands_on_h > 0]
        if self.qc.lab is None and any(t.hands_on_h > 0 for t in self.qc.tests):
            roles.append(self.qc.role)
        for _, st in self.release.stage_list():
            if st.site is None and (st.hands_on_h or 0) > 0 and st.role is not None:
                roles.append(st.role)
        return list(dict.fromkeys(roles))

    def can_manufacture(self, site: str) -> bool:
        """Whether ``site`` has every device type and role manufacturing needs (a hub never makes batches)."""
        s = self.sites[site]
        return s.kind != "hub" and all(s.devices.get(t) is not None and s.devices[t].count > 0 for t in self.device_types_needed()) and \
            all(s.headcount(r) > 0 for r in self.roles_needed())

    def transit_mean_h(self, origin: str, destination: str) -> float:
        """Mean courier transit (hours); 0 within a site. Along a route: its legs' mean transits and
        its hub steps' mean lengths (pickup waits, delays and queues not counted)."""
        if origin == destination:
            return 0.0
        r = self.route(origin, destination)
        if r is None:
            return self.lane(origin, destination).transit_h.mean
        return sum(self.lane(a, b).transit_h.mean for a, b in r.legs()) + sum(
            max(st.duration_h.mean, st.hands_on_h) for w in r.via for st in w.steps)

    def route_candidates(self, hospital: str) -> list[str]:
        """Sites that may make ``hospital``'s batches, nearest first (one site under ``fixed``)."""
        if self.routing.policy == "fixed":
            if hospital in self.routing.assign:
                return [self.routing.assign[hospital]]
            if self.can_manufacture(hospital):
                return [hospital]
            makers = [n for n in self.sites if self.can_manufacture(n)]
            return makers if len(makers) == 1 else []
        makers = [n for n in self.sites if self.can_manufacture(n) and (n == hospital or (
            self.ships(hospital, n) and self.ships(n, hospital)))]
        return sorted(makers, key=lambda n: (self.transit_mean_h(hospital, n), n))

    def skill_names(self, types: dict[str, DeviceType] | None = None) -> list[str]:
        """Names a role's ``skills`` may list: the hands-on steps, QC tests as ``qc:NAME``, and
        device repairs as ``repair:TYPE``."""
        names = ["apheresis", "freezing", "receipt", *(s.name for s in self.recipe), "cryopreservation",
                 *(f"qc:{t.name}" for t in self.qc.tests), "release", *self._extra_steps(), "infusion",
                 *(st.name for _, st in self.hub_steps())]
        names += [f"repair:{t}" for t in sorted({t for site in self.sites.values() for t in site.devices})]
        return names

    def step_roles(self, device_types: dict[tuple[str, str], DeviceType]) -> dict[str, str]:
        """Step (skill name) -> the role it names, for every step that has one: people of that
        role are qualified for it (others only through their ``skills``)."""
        out: dict[str, str] = {}
        freezing = self.starting_material.freezing
        for name, spec in (("apheresis", self.apheresis), ("freezing", freezing), ("receipt", self.receipt),
                           *((st.name, st) for st in self.recipe), ("cryopreservation", self.cryopreservation),
                           ("release", self.release), ("infusion", self.infusion), *self._extra_specs()):
            if spec is not None and spec.role is not None:
                out[name] = spec.role
        for _, st in self.hub_steps():
            if st.role is not None:
                out[st.name] = st.role
        for t in self.qc.tests:
            out[f"qc:{t.name}"] = self.qc.role
        for (_, tname), dtype in sorted(device_types.items()):
            if dtype.failure is not None and dtype.failure.repair_role is not None:
                out[f"repair:{tname}"] = dtype.failure.repair_role
            if dtype.changeover_h and dtype.changeover_role is not None:
                out[f"changeover:{tname}"] = dtype.changeover_role
        return out

    def _extra_specs(self) -> list[tuple[str, Any]]:
        """(step, spec) of the staged release's stages and the infusion plan's steps."""
        out: list[tuple[str, Any]] = [(n, st) for n, st in self.release.stage_list() if self.release.stages]
        plan = self.infusion_scheduling
        if plan is not None:
            out += [("lymphodepletion", plan.lymphodepletion), ("thaw", plan.thaw)]
        return out

    def _extra_steps(self) -> list[str]:
        """Names of :meth:`_extra_specs`."""
        return [n for n, _ in self._extra_specs()]

    def qualified_roles(self, site: str, step: str, role: str | None) -> list[str]:
        """Roles at ``site`` with people qualified for ``step``: ``role`` itself (the role the
        step names) and every role that lists ``step`` in its skills."""
        staff = self.sites[site].staff
        return [r for r, spec in staff.items() if spec.count > 0 and (r == role or step in spec.skills)]

    def longest_shift_h(self, role_at_site: str) -> float:
        """Longest unbroken block (hours) a person of a role is on duty: the longest block of its
        calendar (8 h around the clock: a person works one of its three shifts; inf for
        ``always_on_duty`` people); the longest over the sites where the role exists."""
        best = 0.0
        for site in self.sites.values():
            spec = site.staff.get(role_at_site)
            if spec is None:
                continue
            if spec.always_on_duty:
                return float("inf")
            best = max(best, max((b.length_h for b in role_calendar(spec, self.shifts)), default=0.0))
        return best

    def has_lane(self, origin: str, destination: str) -> bool:
        """Whether a courier lane runs from ``origin`` to ``destination``."""
        return any(lane.from_ == origin and lane.to == destination for lane in self.couriers)

    def lane(self, origin: str, destination: str) -> CourierLane:
        """The courier lane from ``origin`` to ``destination``."""
        for lane in self.couriers:
            if lane.from_ == origin and lane.to == destination:
                return lane
        raise KeyError(f"no courier lane {origin} -> {destination}")
